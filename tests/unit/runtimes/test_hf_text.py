"""Generated tokens to text: split characters, stop sequences across tokens, the chat fallback.

The tokens here are byte strings, decoded together as UTF-8 the way byte-level BPE decodes.
"""

from __future__ import annotations

from modelplane.core.completions import ChatMessage
from modelplane.runtimes import hf_generative
from modelplane.runtimes.hf_text import TextStream

TOKENS = [b"he", b"llo", b" w", b"or", b"ld", "\u00e9".encode()[:1], "\u00e9".encode()[1:], b"!"]


def decode(ids: list[int]) -> str:
    return b"".join(TOKENS[i] for i in ids).decode("utf-8", errors="replace")


def run(stream: TextStream, ids: list[int]) -> list[str]:
    return [stream.push(i) for i in ids]


def test_each_token_adds_its_text() -> None:
    stream = TextStream(decode)

    assert run(stream, [0, 1, 2, 3, 4]) == ["he", "llo", " w", "or", "ld"]
    assert stream.flush() == ""


def test_a_character_split_across_tokens_waits_for_its_last_byte() -> None:
    stream = TextStream(decode)

    assert run(stream, [0, 5, 6, 7]) == ["he", "", "\u00e9", "!"]


def test_bytes_that_never_make_a_character_are_let_out_after_four_tokens() -> None:
    stream = TextStream(decode)

    out = run(stream, [5, 5, 5, 5, 5])

    assert out[:3] == ["", "", ""]
    assert "".join(out) + stream.flush() == "\ufffd" * 5


def test_a_stop_sequence_cuts_the_text_and_ends_the_stream() -> None:
    stream = TextStream(decode, stops=["lo w"])

    out = run(stream, [0, 1, 2, 3])

    assert "".join(out) == "hel"
    assert stream.stopped
    assert stream.flush() == ""


def test_text_that_might_start_a_stop_is_held_then_released() -> None:
    stream = TextStream(decode, stops=["low", "wx"])

    assert run(stream, [0, 1]) == ["he", "l"]  # "lo" could start "low"
    assert stream.push(2) == "lo "  # " w": "low" is off, "w" could start "wx"
    assert stream.push(3) == "wor"
    assert not stream.stopped


def test_flush_gives_what_was_held_back() -> None:
    stream = TextStream(decode, stops=["world!"])

    out = run(stream, [0, 1, 2, 3, 4])

    assert "".join(out) + stream.flush() == "hello world"


def test_the_earliest_stop_wins() -> None:
    stream = TextStream(decode, stops=["ld", "o w"])

    assert "".join(run(stream, [0, 1, 2, 3, 4])) == "hell"


def test_the_chat_fallback_is_role_lines_then_assistant() -> None:
    prompt = hf_generative.fallback_chat_prompt(
        [ChatMessage("system", "be brief"), ChatMessage("user", "hi")]
    )

    assert prompt == "system: be brief\nuser: hi\nassistant:"

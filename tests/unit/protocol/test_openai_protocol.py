"""OpenAI's wire format: requests checked into `core.completions`, answers and stream events out."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import orjson
import pytest

from modelplane.core import completions, errors
from modelplane.protocol import openai, openai_bodies


def body(**fields: Any) -> bytes:
    return orjson.dumps(fields)


def test_a_completion_request_with_every_supported_field() -> None:
    request, include_usage = openai.parse_completion(
        body(
            model="m",
            prompt=["once"],
            max_tokens=5,
            temperature=0,
            top_p=0.5,
            stop="\n",
            stream=True,
            stream_options={"include_usage": True},
            user="ignored",
            seed=3,
        )
    )

    assert request == completions.CompletionRequest(
        "m", "once", completions.Sampling(5, 0.0, 0.5, ("\n",)), stream=True
    )
    assert include_usage


def test_defaults_are_openais() -> None:
    request, include_usage = openai.parse_completion(body(model="m", prompt="x"))

    assert request.sampling == completions.Sampling(None, 1.0, 1.0, ())
    assert (request.stream, include_usage) == (False, False)


def test_a_chat_request_joins_text_parts_and_reads_max_completion_tokens() -> None:
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": None},
    ]

    request, _ = openai.parse_chat(body(model="m", messages=messages, max_completion_tokens=7))

    assert request.messages == (
        completions.ChatMessage("system", "s"),
        completions.ChatMessage("user", "ab"),
        completions.ChatMessage("assistant", ""),
    )
    assert request.sampling.max_tokens == 7


def test_an_embedding_request_takes_a_string_or_strings() -> None:
    one, encoding = openai.parse_embedding(body(model="m", input="a"))
    many, _ = openai.parse_embedding(body(model="m", input=["a", "b"], encoding_format="base64"))

    assert (one.inputs, encoding) == (("a",), "float")
    assert many.inputs == ("a", "b")


@pytest.mark.parametrize(
    ("parse", "fields", "message"),
    [
        (openai.parse_completion, {"prompt": "x"}, '"model" must name'),
        (openai.parse_completion, {"model": "m"}, '"prompt" must be a string'),
        (openai.parse_completion, {"model": "m", "prompt": [1, 2]}, "token lists"),
        (openai.parse_completion, {"model": "m", "prompt": ["a", "b"]}, "one prompt"),
        (openai.parse_completion, {"model": "m", "prompt": "x", "max_tokens": 0}, "positive"),
        (openai.parse_completion, {"model": "m", "prompt": "x", "max_tokens": 1.5}, "positive"),
        (openai.parse_completion, {"model": "m", "prompt": "x", "temperature": -1}, "0 and 2"),
        (openai.parse_completion, {"model": "m", "prompt": "x", "temperature": "1"}, "number"),
        (openai.parse_completion, {"model": "m", "prompt": "x", "top_p": 0}, "greater than 0"),
        (openai.parse_completion, {"model": "m", "prompt": "x", "stop": ["a"] * 5}, "at most 4"),
        (openai.parse_completion, {"model": "m", "prompt": "x", "stop": [""]}, "non-empty"),
        (openai.parse_completion, {"model": "m", "prompt": "x", "stream": "yes"}, "true or false"),
        (openai.parse_completion, {"model": "m", "prompt": "x", "n": 0}, '"n" must be an'),
        (openai.parse_completion, {"model": "m", "prompt": "x", "n": 129}, "from 1 to 128"),
        (openai.parse_completion, {"model": "m", "prompt": "x", "n": 2, "best_of": 3}, "equal"),
        (openai.parse_completion, {"model": "m", "prompt": "x", "logprobs": 21}, "0 to 20"),
        (openai.parse_completion, {"model": "m", "prompt": "x", "logprobs": True}, "0 to 20"),
        (openai.parse_completion, {"model": "m", "prompt": "x", "echo": True}, "not supported"),
        (openai.parse_chat, {"model": "m"}, '"messages" must be a non-empty list'),
        (openai.parse_chat, {"model": "m", "messages": [{"role": "x"}]}, "role must be one of"),
        (openai.parse_chat, {"model": "m", "messages": ["hi"]}, "must be an object"),
        (
            openai.parse_chat,
            {"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "'image_url' part",
        ),
        (openai.parse_chat, {"model": "m", "messages": [], "tools": [{}]}, '"tools" is not'),
        (openai.parse_chat, {"model": "m", "messages": [], "logprobs": 2}, "true or false"),
        (openai.parse_chat, {"model": "m", "messages": [], "top_logprobs": 2}, "needs"),
        (
            openai.parse_chat,
            {"model": "m", "messages": [], "logprobs": True, "top_logprobs": 30},
            "0 to 20",
        ),
        (openai.parse_embedding, {"model": "m", "input": []}, '"input" must be'),
        (openai.parse_embedding, {"model": "m", "input": [[1, 2]]}, "token lists"),
        (openai.parse_embedding, {"model": "m", "input": "a", "encoding_format": "x"}, "base64"),
        (openai.parse_embedding, {"model": "m", "input": "a", "dimensions": 8}, "dimensions"),
    ],
)
def test_bad_requests_say_what_to_fix(parse: Any, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(errors.InvalidInput, match=message):
        parse(body(**fields))


def test_a_body_that_is_not_an_object_is_invalid() -> None:
    with pytest.raises(errors.InvalidInput, match="JSON object"):
        openai.parse_completion(b"[1]")


def test_n_and_logprobs_become_sampling() -> None:
    text, _ = openai.parse_completion(body(model="m", prompt="x", n=3, best_of=3, logprobs=2))
    chat, _ = openai.parse_chat(
        body(model="m", messages=[{"role": "user", "content": "x"}], logprobs=True, n=2)
    )
    top, _ = openai.parse_chat(
        body(model="m", messages=[{"role": "user", "content": "x"}], logprobs=True, top_logprobs=4)
    )
    plain, _ = openai.parse_chat(body(model="m", messages=[{"role": "user", "content": "x"}]))

    assert (text.sampling.n, text.sampling.logprobs) == (3, 2)
    assert (chat.sampling.n, chat.sampling.logprobs) == (2, 0)
    assert top.sampling.logprobs == 4
    assert (plain.sampling.n, plain.sampling.logprobs) == (1, None)


def choice(text: str, finish: str, index: int = 0) -> completions.Choice:
    return completions.Choice(index, text, finish)  # type: ignore[arg-type]


def test_a_whole_completion_and_chat_answer() -> None:
    used = completions.Usage(3, 2)

    text = openai_bodies.completion("completion", "cmpl-1", 7, "m", [choice("hi", "stop")], used)
    chat = openai_bodies.completion("chat", "chatcmpl-1", 7, "m", [choice("hi", "length")], used)

    assert text["object"] == "text_completion" and text["choices"][0]["text"] == "hi"
    assert chat["object"] == "chat.completion"
    assert chat["choices"][0]["message"] == {"role": "assistant", "content": "hi"}
    assert chat["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert (chat["id"], chat["created"], chat["model"]) == ("chatcmpl-1", 7, "m")


def events(writer: openai_bodies.ChunkWriter, deltas: list[completions.Delta]) -> list[Any]:
    out = []
    for delta in deltas:
        for event in writer.events(delta):
            assert event.startswith(b"data: ") and event.endswith(b"\n\n")
            payload = event[len(b"data: ") : -2]
            out.append(payload.decode() if payload == b"[DONE]" else orjson.loads(payload))
    return out


DELTAS = [
    completions.Delta("a"),
    completions.Delta("b", "stop", completions.Usage(1, 2)),
]


def test_a_chat_stream_names_the_role_first_and_ends_with_done() -> None:
    writer = openai_bodies.ChunkWriter("chat", "c-1", 7, "m", include_usage=False)

    first, last, done = events(writer, DELTAS)

    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "a"}
    assert last["choices"][0] == {
        "index": 0,
        "finish_reason": "stop",
        "delta": {"content": "b"},
        "logprobs": None,
    }
    assert "usage" not in last
    assert done == "[DONE]"


def test_with_include_usage_the_last_chunk_before_done_carries_it() -> None:
    writer = openai_bodies.ChunkWriter("completion", "c-1", 7, "m", include_usage=True)

    first, _, usage, done = events(writer, DELTAS)

    assert first["usage"] is None and first["choices"][0]["text"] == "a"
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    assert done == "[DONE]"


TOKENS = (
    completions.TokenLogprob("ab", -0.5, (("ab", -0.5), ("x", -1.5))),
    completions.TokenLogprob("c", -0.25, (("d", -0.1),)),
)


def test_logprobs_in_the_shape_of_each_endpoint() -> None:
    picked = completions.Choice(0, "abc", "length", list(TOKENS))
    used = completions.Usage(1, 2)

    text = openai_bodies.completion("completion", "c", 7, "m", [picked], used)
    chat = openai_bodies.completion("chat", "c", 7, "m", [picked], used)

    assert text["choices"][0]["logprobs"] == {
        "tokens": ["ab", "c"],
        "token_logprobs": [-0.5, -0.25],
        "top_logprobs": [{"ab": -0.5, "x": -1.5}, {"c": -0.25, "d": -0.1}],
        "text_offset": [0, 2],
    }
    first = chat["choices"][0]["logprobs"]["content"][0]
    assert first == {
        "token": "ab",
        "logprob": -0.5,
        "bytes": [97, 98],
        "top_logprobs": [
            {"token": "ab", "logprob": -0.5, "bytes": [97, 98]},
            {"token": "x", "logprob": -1.5, "bytes": [120]},
        ],
    }


def test_a_stream_of_n_answers_ends_after_the_last_one_with_their_usage() -> None:
    writer = openai_bodies.ChunkWriter("completion", "c", 7, "m", include_usage=True, n=2)
    deltas = [
        completions.Delta("a", index=1, logprobs=TOKENS[:1]),
        completions.Delta("b", "stop", completions.Usage(4, 1), index=0),
        completions.Delta("c", "length", completions.Usage(4, 2), index=1, logprobs=TOKENS[1:]),
    ]

    out = events(writer, deltas)

    assert [chunk["choices"][0]["index"] for chunk in out[:3]] == [1, 0, 1]
    assert out[2]["choices"][0]["logprobs"]["text_offset"] == [2]  # after answer 1's "ab"
    assert out[3]["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    assert out[4] == "[DONE]" and len(out) == 5


async def test_fan_out_numbers_single_answers_and_gather_joins_them() -> None:
    async def answer(text: str) -> AsyncIterator[completions.Delta]:
        for part in text[:-1]:
            yield completions.Delta(part)
            await asyncio.sleep(0)
        yield completions.Delta(text[-1], "length", completions.Usage(2, len(text)))

    merged = completions.fan_out([answer("abc"), answer("de")])
    choices, used = await completions.gather(merged, 2)

    assert [(c.index, c.text, c.finish_reason) for c in choices] == [
        (0, "abc", "length"),
        (1, "de", "length"),
    ]
    assert used == completions.Usage(2, 5)


async def test_gather_refuses_a_generation_that_leaves_an_answer_unfinished() -> None:
    async def one() -> AsyncIterator[completions.Delta]:
        yield completions.Delta("a", "stop", completions.Usage(1, 1))

    with pytest.raises(errors.InferenceError, match="every answer"):
        await completions.gather(one(), 2)


def test_embeddings_as_floats_or_base64() -> None:
    result = completions.Embeddings([[0.5, -1.0]], prompt_tokens=4)

    floats = openai_bodies.embeddings("m", result, "float")
    packed = openai_bodies.embeddings("m", result, "base64")

    assert floats["data"][0] == {"object": "embedding", "index": 0, "embedding": [0.5, -1.0]}
    raw = base64.b64decode(packed["data"][0]["embedding"])
    assert np.frombuffer(raw, dtype="<f4").tolist() == [0.5, -1.0]
    assert floats["usage"] == {"prompt_tokens": 4, "total_tokens": 4}


@pytest.mark.parametrize(
    ("exc", "status", "kind", "code"),
    [
        (errors.ModelNotFound("m"), 404, "not_found_error", "model_not_found"),
        (
            errors.ContextLengthExceeded("long"),
            400,
            "invalid_request_error",
            "context_length_exceeded",
        ),
        (errors.InvalidInput("bad"), 400, "invalid_request_error", "invalid_input"),
        (errors.ModelNotReady("m"), 503, "server_error", "model_not_ready"),
        (errors.InferenceError("boom"), 500, "server_error", None),
        (RuntimeError("boom"), 500, "server_error", None),
    ],
)
def test_errors_keep_the_status_and_take_openais_shape(
    exc: Exception, status: int, kind: str, code: str | None
) -> None:
    got_status, error_body = openai_bodies.error(exc)

    assert got_status == status
    assert error_body == {
        "error": {
            "message": error_body["error"]["message"],
            "type": kind,
            "param": None,
            "code": code,
        }
    }
    assert error_body["error"]["message"]

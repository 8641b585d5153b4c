"""OpenAI's wire format: requests checked into `core.completions`, answers and stream events out."""

from __future__ import annotations

import base64
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
        (openai.parse_completion, {"model": "m", "prompt": "x", "n": 2}, '"n" must be 1'),
        (openai.parse_completion, {"model": "m", "prompt": "x", "logprobs": 2}, "not supported"),
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


def test_a_whole_completion_and_chat_answer() -> None:
    used = completions.Usage(3, 2)

    text = openai_bodies.completion("completion", "cmpl-1", 7, "m", "hi", "stop", used)
    chat = openai_bodies.completion("chat", "chatcmpl-1", 7, "m", "hi", "length", used)

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
    assert last["choices"][0] == {"index": 0, "finish_reason": "stop", "delta": {"content": "b"}}
    assert "usage" not in last
    assert done == "[DONE]"


def test_with_include_usage_the_last_chunk_before_done_carries_it() -> None:
    writer = openai_bodies.ChunkWriter("completion", "c-1", 7, "m", include_usage=True)

    first, _, usage, done = events(writer, DELTAS)

    assert first["usage"] is None and first["choices"][0]["text"] == "a"
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    assert done == "[DONE]"


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

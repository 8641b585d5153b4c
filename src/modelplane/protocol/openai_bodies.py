"""OpenAI's API, responses side: completion, chat, embedding and model-list bodies, the chunks
of a stream as server-sent events, and errors in OpenAI's shape.

The server hands in the response id and the `created` time, so this module reads no clock.
A stream is `data: {chunk}\\n\\n` events ending with `data: [DONE]\\n\\n`; with
`stream_options.include_usage`, every chunk carries `"usage": null` and one last chunk before
`[DONE]` has no choices and the usage, as OpenAI sends it.

Errors keep modelplane's status codes (`protocol.errors`); only the body changes, to
`{"error": {"message", "type", "param", "code"}}`, which OpenAI clients read into their
exceptions. `code` is the error class in snake case (`model_not_found`,
`context_length_exceeded`, `invalid_input`, ...).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from modelplane.core import completions
from modelplane.protocol import errors as wire_errors
from modelplane.protocol import jsoncodec

Kind = Literal["completion", "chat"]
DONE = b"data: [DONE]\n\n"
OWNER = "modelplane"


def sse(event: dict[str, Any]) -> bytes:
    """One server-sent event carrying `event` as JSON."""
    return b"data: " + jsoncodec.dumps(event) + b"\n\n"


def usage(used: completions.Usage) -> dict[str, int]:
    return {
        "prompt_tokens": used.prompt_tokens,
        "completion_tokens": used.completion_tokens,
        "total_tokens": used.total_tokens,
    }


def completion(
    kind: Kind,
    response_id: str,
    created: int,
    model: str,
    choices: Sequence[completions.Choice],
    used: completions.Usage,
) -> dict[str, Any]:
    """A whole (non-streamed) completion or chat completion."""
    bodies = []
    for choice in choices:
        body: dict[str, Any] = {"index": choice.index, "finish_reason": choice.finish_reason}
        if kind == "chat":
            body["message"] = {"role": "assistant", "content": choice.text}
        else:
            body["text"] = choice.text
        body["logprobs"] = Logprobs(kind).body(choice.logprobs)
        bodies.append(body)
    return {
        "id": response_id,
        "object": "chat.completion" if kind == "chat" else "text_completion",
        "created": created,
        "model": model,
        "choices": bodies,
        "usage": usage(used),
    }


class Logprobs:
    """One answer's log-probabilities in the shape of its endpoint: completions' parallel lists
    (`tokens`, `token_logprobs`, `top_logprobs`, `text_offset`, counted from the answer's start
    across a stream's chunks) or chat's `content` list of token objects."""

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self._offset = 0

    def body(self, tokens: Sequence[completions.TokenLogprob] | None) -> dict[str, Any] | None:
        if tokens is None:
            return None
        if self.kind == "chat":
            return {"content": [_chat_token(token) for token in tokens]}
        offsets = []
        for token in tokens:
            offsets.append(self._offset)
            self._offset += len(token.token)
        return {
            "tokens": [token.token for token in tokens],
            "token_logprobs": [token.logprob for token in tokens],
            "top_logprobs": [{token.token: token.logprob, **dict(token.top)} for token in tokens],
            "text_offset": offsets,
        }


def _chat_token(token: completions.TokenLogprob) -> dict[str, Any]:
    def one(text: str, logprob: float) -> dict[str, Any]:
        return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}

    return {**one(token.token, token.logprob), "top_logprobs": [one(t, lp) for t, lp in token.top]}


class ChunkWriter:
    """Turns the deltas of a request's `n` answers into the events of its stream."""

    def __init__(
        self,
        kind: Kind,
        response_id: str,
        created: int,
        model: str,
        include_usage: bool,
        n: int = 1,
    ) -> None:
        self.kind = kind
        self.include_usage = include_usage
        self._head = {
            "id": response_id,
            "object": "chat.completion.chunk" if kind == "chat" else "text_completion",
            "created": created,
            "model": model,
        }
        self._started: set[int] = set()
        self._logprobs = [Logprobs(kind) for _ in range(n)]
        self._tally = completions.Tally(n)

    def events(self, delta: completions.Delta) -> list[bytes]:
        """The events for one delta: its chunk, and after the last answer's last delta the
        usage and `[DONE]`."""
        choice: dict[str, Any] = {"index": delta.index, "finish_reason": delta.finish_reason}
        if self.kind == "chat":
            choice["delta"] = {"content": delta.text}
            if delta.index not in self._started:
                choice["delta"]["role"] = "assistant"
        else:
            choice["text"] = delta.text
        self._started.add(delta.index)
        logprobs = self._logprobs[delta.index] if delta.index < len(self._logprobs) else None
        choice["logprobs"] = logprobs.body(delta.logprobs) if logprobs else None
        out = [sse(self._chunk([choice], None))]
        self._tally.add(delta)
        if delta.finish_reason is not None and self._tally.done:
            if self.include_usage:
                out.append(sse(self._chunk([], usage(self._tally.usage))))
            out.append(DONE)
        return out

    def _chunk(self, choices: list[dict[str, Any]], used: dict[str, int] | None) -> dict[str, Any]:
        chunk: dict[str, Any] = {**self._head, "choices": choices}
        if self.include_usage:
            chunk["usage"] = used
        return chunk


def embeddings(model: str, result: completions.Embeddings, encoding_format: str) -> dict[str, Any]:
    data = [
        {"object": "embedding", "index": index, "embedding": _vector(vector, encoding_format)}
        for index, vector in enumerate(result.vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens},
    }


def _vector(vector: Sequence[float], encoding_format: str) -> Any:
    if encoding_format == "base64":
        # Little-endian float32, as OpenAI encodes it (clients decode with numpy.frombuffer).
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]


def models(names: Sequence[str], created: int) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": created, "owned_by": OWNER} for name in names
        ],
    }


def error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The HTTP status and OpenAI-shaped body for an exception."""
    status = wire_errors.status_of(exc).http
    if status == 404:
        kind = "not_found_error"
    elif status < 500:
        kind = "invalid_request_error"
    else:
        kind = "server_error"
    body = {
        "error": {
            "message": wire_errors.message_of(exc),
            "type": kind,
            "param": None,
            "code": _snake(type(exc).__name__) if status < 500 or status == 503 else None,
        }
    }
    return status, body


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()

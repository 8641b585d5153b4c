"""Completions, chat completions and embeddings: the optional verbs of text models.

They follow OpenAI's vocabulary because that is what clients speak, but they are plain objects:
`protocol.openai` turns request JSON into them and their results back into JSON. A model serves a
verb by having the method of that name (checked with `serves`); each may be a plain method, which
the server runs off the event loop, or a coroutine:

- `create_completion(CompletionRequest) -> AsyncIterator[Delta]`
- `create_chat_completion(ChatRequest) -> AsyncIterator[Delta]`
- `create_embedding(EmbeddingRequest) -> Embeddings`

A generating verb checks the request before it returns (a bad request raises there, so the
client gets a 400 and not a broken stream) and returns an async iterator of text deltas. The last
delta carries the `finish_reason` and the `usage`. Streaming and non-streaming answers come from
the same iterator: the server either forwards each delta or joins them. The server calls the
iterator's `aclose()`, when it has one, as soon as the client goes away, so the model can stop
generating.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from modelplane.core import errors

COMPLETION = "create_completion"
CHAT = "create_chat_completion"
EMBEDDING = "create_embedding"
VERBS = (COMPLETION, CHAT, EMBEDDING)

#: Why generation ended: a stop sequence or the end-of-sequence token, or `max_tokens`.
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class Sampling:
    """How to generate: a token budget (None: the verb's default), randomness, stop sequences."""

    max_tokens: int | None = None
    #: 0 means greedy decoding.
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    prompt: str
    sampling: Sampling = field(default_factory=Sampling)
    stream: bool = False


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[ChatMessage, ...]
    sampling: Sampling = field(default_factory=Sampling)
    stream: bool = False


@dataclass(frozen=True)
class EmbeddingRequest:
    model: str
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Delta:
    """New text; the last delta of a generation also says why it ended and what it used."""

    text: str
    finish_reason: FinishReason | None = None
    usage: Usage | None = None


@dataclass(frozen=True)
class Embeddings:
    """One vector per input, in input order, and the tokens the inputs took."""

    vectors: list[list[float]]
    prompt_tokens: int


@runtime_checkable
class Closable(Protocol):
    async def aclose(self) -> None: ...


def serves(model: object, verb: str) -> bool:
    """Whether `model` implements `verb` (one of `VERBS`)."""
    return callable(getattr(model, verb, None))


async def collect(deltas: AsyncIterator[Delta]) -> tuple[str, FinishReason, Usage]:
    """Join a generation's deltas into its text, finish reason and usage."""
    parts: list[str] = []
    last: Delta | None = None
    async for delta in deltas:
        parts.append(delta.text)
        last = delta
    if last is None or last.finish_reason is None or last.usage is None:
        raise errors.InferenceError(
            "the model's generation ended without a final delta (finish_reason and usage)"
        )
    return "".join(parts), last.finish_reason, last.usage

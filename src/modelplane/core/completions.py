"""Completions, chat completions and embeddings: the optional verbs of text models.

They follow OpenAI's vocabulary because that is what clients speak, but they are plain objects:
`protocol.openai` turns request JSON into them and their results back into JSON. A model serves a
verb by having the method of that name (checked with `serves`); each may be a plain method, which
the server runs off the event loop, or a coroutine:

- `create_completion(CompletionRequest) -> AsyncIterator[Delta]`
- `create_chat_completion(ChatRequest) -> AsyncIterator[Delta]`
- `create_embedding(EmbeddingRequest) -> Embeddings`

A generating verb checks the request before it returns (a bad request raises there, so the
client gets a 400 and not a broken stream) and returns an async iterator of text deltas. With
`sampling.n` answers, each delta names its answer by `index`; the last delta of each answer
carries its `finish_reason` and its `usage` (the prompt, and that answer's tokens). A model that
gives `logprobs` has the attribute `gives_logprobs = True` and puts one `TokenLogprob` per new
token on each delta; the server refuses `logprobs` for the others. A model without
`samples_n = True` is asked `n` times, one answer each, and `fan_out` merges the answers.
Streaming and non-streaming answers come from the same iterator: the server either forwards each
delta or joins them. The server calls the iterator's `aclose()`, when it has one, as soon as the
client goes away, so the model can stop generating.
"""

from __future__ import annotations

import asyncio
import dataclasses
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
    #: How many answers to the one prompt.
    n: int = 1
    #: Log-probabilities: None for none, else how many of the most likely tokens to list at
    #: each position beside the chosen one's (0: the chosen token's alone).
    logprobs: int | None = None


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
class TokenLogprob:
    """One generated token: its text, its log-probability, and the most likely alternatives."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Delta:
    """New text of answer `index`; its last delta also says why it ended and what it used."""

    text: str
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    index: int = 0
    logprobs: tuple[TokenLogprob, ...] | None = None


@dataclass
class Choice:
    """One whole answer, joined from its deltas."""

    index: int
    text: str = ""
    finish_reason: FinishReason | None = None
    logprobs: list[TokenLogprob] | None = None


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


class Tally:
    """The usage of a request's answers: the prompt once, every answer's tokens."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.finished: set[int] = set()
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def add(self, delta: Delta) -> None:
        if delta.finish_reason is None:
            return
        if delta.usage is None:
            raise errors.InferenceError("the model ended an answer without its usage")
        self.finished.add(delta.index)
        self.prompt_tokens = max(self.prompt_tokens, delta.usage.prompt_tokens)
        self.completion_tokens += delta.usage.completion_tokens

    @property
    def done(self) -> bool:
        return len(self.finished) >= self.n

    @property
    def usage(self) -> Usage:
        return Usage(self.prompt_tokens, self.completion_tokens)


async def collect(deltas: AsyncIterator[Delta]) -> tuple[str, FinishReason, Usage]:
    """Join a one-answer generation's deltas into its text, finish reason and usage."""
    [choice], used = await gather(deltas, 1)
    assert choice.finish_reason is not None  # gather checked it
    return choice.text, choice.finish_reason, used


async def gather(deltas: AsyncIterator[Delta], n: int) -> tuple[list[Choice], Usage]:
    """Join a generation's deltas into its `n` answers, in index order, and the total usage."""
    choices = [Choice(index) for index in range(n)]
    parts: list[list[str]] = [[] for _ in range(n)]
    tally = Tally(n)
    async for delta in deltas:
        if not 0 <= delta.index < n:
            raise errors.InferenceError(f"the model answered index {delta.index} of {n}")
        parts[delta.index].append(delta.text)
        choice = choices[delta.index]
        if delta.logprobs is not None:
            if choice.logprobs is None:
                choice.logprobs = []
            choice.logprobs.extend(delta.logprobs)
        if delta.finish_reason is not None:
            choice.finish_reason = delta.finish_reason
        tally.add(delta)
    if not tally.done:
        raise errors.InferenceError(
            "the model's generation ended without a final delta (finish_reason and usage) "
            "for every answer"
        )
    for choice, texts in zip(choices, parts, strict=True):
        choice.text = "".join(texts)
    return choices, tally.usage


class _Merged:
    """The deltas of several single-answer generations as one, answer `i` as index `i`."""

    def __init__(self, generations: list[AsyncIterator[Delta]]) -> None:
        self._generations = generations
        self._queue: asyncio.Queue[Delta | BaseException | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._running = 0

    def __aiter__(self) -> _Merged:
        return self

    async def __anext__(self) -> Delta:
        if not self._tasks:
            self._tasks = [
                asyncio.ensure_future(self._pump(index, generation))
                for index, generation in enumerate(self._generations)
            ]
            self._running = len(self._tasks)
        while self._running:
            item = await self._queue.get()
            if item is None:
                self._running -= 1
                continue
            if isinstance(item, BaseException):
                await self.aclose()
                raise item
            return item
        raise StopAsyncIteration

    async def _pump(self, index: int, generation: AsyncIterator[Delta]) -> None:
        try:
            async for delta in generation:
                await self._queue.put(dataclasses.replace(delta, index=index))
        except Exception as exc:
            await self._queue.put(exc)
        finally:
            await self._queue.put(None)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for generation in self._generations:
            if isinstance(generation, Closable):
                await generation.aclose()


def fan_out(generations: list[AsyncIterator[Delta]]) -> AsyncIterator[Delta]:
    """One iterator over `n` single-answer generations (for a model without `samples_n`)."""
    return generations[0] if len(generations) == 1 else _Merged(generations)

"""One request's generation: the tokens the batched decoder picks for it, as async text deltas.

The decoder (`hf_decoder`) runs in a thread of its own and hands each request's new token to
`Generation.accept`, which turns it into text there (`hf_text.TextStream`), so the event loop
only relays deltas. `accept` also says when the request is over: its token budget spent, an
end-of-sequence token, a stop sequence, or `cancel()` (the server's `aclose()` on a client
disconnect); the decoder then drops the request's row and calls `finish`.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Callable

from modelplane.core import completions
from modelplane.runtimes import hf_sampling, hf_text

Item = completions.Delta | BaseException


class Channel:
    """Items from any thread to one consumer coroutine, in order; the loop is bound on `get`."""

    def __init__(self) -> None:
        self._items: collections.deque[Item] = collections.deque()
        self._lock = threading.Lock()
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def put(self, item: Item) -> None:
        with self._lock:
            self._items.append(item)
            waiter, self._waiter = self._waiter, None
            loop = self._loop
        if waiter is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(_wake, waiter)

    async def get(self) -> Item:
        while True:
            with self._lock:
                if self._items:
                    return self._items.popleft()
                self._loop = asyncio.get_running_loop()
                waiter = self._waiter = self._loop.create_future()
            await waiter


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Generation:
    """An async iterator of deltas, fed by the model's decoder thread."""

    def __init__(
        self,
        prompt_ids: list[int],
        max_tokens: int,
        sampling: hf_sampling.Settings,
        text: hf_text.TextStream,
        eos_ids: frozenset[int],
        on_token: Callable[[], None],
        on_end: Callable[[Generation], None],
    ) -> None:
        self.prompt_ids = prompt_ids
        self.max_tokens = max_tokens
        self.sampling = sampling
        self._text = text
        self._eos = eos_ids
        self._on_token = on_token
        self._on_end = on_end
        self._channel = Channel()
        self._cancel = threading.Event()
        self._last_token: int | None = None
        self._finished = False
        self.prompt_tokens = len(prompt_ids)
        self.completion_tokens = 0
        #: Set when the decoder is done with this request, for whatever reason.
        self.done = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Stop generating after the current step (a no-op once generation has ended)."""
        if not self.done.is_set():
            self._cancel.set()

    def join(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)

    def __aiter__(self) -> Generation:
        return self

    async def __anext__(self) -> completions.Delta:
        if self._finished:
            raise StopAsyncIteration
        item = await self._channel.get()
        if isinstance(item, BaseException):
            self._finished = True
            raise item
        if item.finish_reason is not None:
            self._finished = True
        return item

    async def aclose(self) -> None:
        # Not a coroutine that waits: it may run inside a cancelled scope on disconnect.
        self._finished = True
        self.cancel()

    # -- called from the decoder thread --------------------------------------------------

    def accept(self, token: int) -> bool:
        """Take the next token; True while the request wants more."""
        if self.cancelled or self._text.stopped:
            return False
        self.completion_tokens += 1
        self._last_token = token
        self._on_token()
        text = self._text.push(token)
        if text:
            self._channel.put(completions.Delta(text))
        return not (
            self._text.stopped
            or token in self._eos
            or self.completion_tokens >= self.max_tokens
            or self.cancelled
        )

    def finish(self, error: BaseException | None = None) -> None:
        """The last item: the final delta (finish reason and usage), or why it failed."""
        if error is None:
            self._channel.put(self._final())
        else:
            self._channel.put(error)
        self.done.set()
        self._on_end(self)

    def _final(self) -> completions.Delta:
        tail = self._text.flush()
        reason: completions.FinishReason = "length"
        if self._text.stopped or self._last_token in self._eos:
            reason = "stop"
        usage = completions.Usage(self.prompt_tokens, self.completion_tokens)
        return completions.Delta(tail, reason, usage)

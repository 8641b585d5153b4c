"""One generation: `model.generate` in its own thread, its tokens as an async stream of deltas.

transformers calls the streamer (`put`) with each new token from the generating thread; the
tokens are turned into text there (`hf_text.TextStream`), so the event loop only relays deltas.
A stopping criterion checked after every token ends generation when a stop sequence has
appeared or when `cancel()` (the server's `aclose()` on a client disconnect) was called.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Callable
from typing import Any

from modelplane.core import completions, errors
from modelplane.runtimes import hf_text

log = logging.getLogger(__name__)

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
    """An async iterator of deltas, fed by `model.generate` running in a thread."""

    def __init__(
        self,
        model: Any,
        generate_options: dict[str, Any],
        text: hf_text.TextStream,
        prompt_tokens: int,
        eos_ids: frozenset[int],
        on_token: Callable[[], None],
        on_end: Callable[[Generation], None],
    ) -> None:
        self._model = model
        self._options = generate_options
        self._text = text
        self._eos = eos_ids
        self._on_token = on_token
        self._on_end = on_end
        self._channel = Channel()
        self._cancel = threading.Event()
        self._prompt_seen = False
        self._last_token: int | None = None
        self._finished = False
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = 0
        #: Set when the generating thread has ended, for whatever reason.
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="generate", daemon=True)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def start(self) -> Generation:
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Stop generating after the current token (a no-op once generation has ended)."""
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

    # -- the generating thread -----------------------------------------------------------

    def _run(self) -> None:
        try:
            import torch
            from transformers import StoppingCriteriaList

            criteria = StoppingCriteriaList([_halt_criterion(self._halted)])
            with torch.inference_mode():
                self._model.generate(**self._options, streamer=self, stopping_criteria=criteria)
            self._channel.put(self._final())
        except Exception as exc:  # whatever generate raises ends this request, not the server
            log.warning("generation failed: %s: %s", type(exc).__name__, exc)
            self._channel.put(
                errors.InferenceError(f"generation failed: {type(exc).__name__}: {exc}")
            )
        finally:
            self.done.set()
            self._on_end(self)

    def _halted(self) -> bool:
        return self._cancel.is_set() or self._text.stopped

    def put(self, value: Any) -> None:
        """transformers' streamer hook: first the prompt, then each new token."""
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            if self._halted():
                return
            self.completion_tokens += 1
            self._last_token = token
            self._on_token()
            text = self._text.push(token)
            if text:
                self._channel.put(completions.Delta(text))

    def end(self) -> None:
        """transformers' streamer hook at the end; the final delta is sent by `_run`."""

    def _final(self) -> completions.Delta:
        tail = self._text.flush()
        reason: completions.FinishReason = "length"
        if self._text.stopped or self._last_token in self._eos:
            reason = "stop"
        usage = completions.Usage(self.prompt_tokens, self.completion_tokens)
        return completions.Delta(tail, reason, usage)


def _halt_criterion(halted: Callable[[], bool]) -> Any:
    import torch
    from transformers import StoppingCriteria

    class Halt(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            stop = halted()
            return torch.full(
                (input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device
            )

    return Halt()

"""Continuous batching for a transformers causal LM: one decoding loop per model, in a thread.

A thread per request (`model.generate` each) makes concurrent streams share the CPU through the
GIL and pay a forward pass each per token: 8 streams gave fewer tokens/s than 1. Here one thread
owns the model. Each turn of its loop it admits the requests that arrived since the last turn
(prefilled together in one left-padded forward pass, which also gives their first token), joins
them to the running batch (`hf_batch.Rows`), then runs one decoding step for every row at once:
a step costs little more for 32 rows than for 1, so total tokens/s grows with the streams.
Each row picks its own next token (`hf_sampling`) and leaves the batch as soon as its request
is over (budget, end of sequence, stop sequence, cancelled), so a short answer never waits for
a long one and a cancelled request frees its row at the next step.

A forward pass that fails ends the requests it carried with the error, not the loop.
"""

from __future__ import annotations

import inspect
import logging
import threading
from typing import Any

from modelplane.core import errors
from modelplane.runtimes import hf_batch, hf_sampling, hf_streaming

log = logging.getLogger(__name__)

Generation = hf_streaming.Generation
#: Rows one decoding step carries at most; later requests wait for a row to free up.
MAX_ROWS = 64


class Decoder:
    """The decoding loop of one model; `submit` requests, `close` to cancel all and stop."""

    def __init__(self, model: Any, device: Any, pad_id: int, suppressed: list[int]) -> None:
        import torch

        self._model = model
        self._device = device
        self._pad_id = pad_id
        self._suppressed = torch.tensor(suppressed, device=device) if suppressed else None
        parameters = inspect.signature(model.forward).parameters
        self._trim_logits = "logits_to_keep" in parameters
        # transformers 5 renamed `past_key_values` to `cache` (the old name warns, then goes).
        self._cache_key = "cache" if "cache" in parameters else "past_key_values"
        self._waiting: list[Generation] = []
        self._rows: hf_batch.Rows[Generation] | None = None
        self._wake = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    def submit(self, generation: Generation) -> None:
        with self._wake:
            if self._closing:
                raise errors.ModelNotReady("the model is stopping")
            self._waiting.append(generation)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="decode", daemon=True)
                self._thread.start()
            self._wake.notify()

    def close(self, timeout: float) -> None:
        """Cancel every request, let the loop finish them, and wait for it to end."""
        with self._wake:
            self._closing = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # -- the decoding thread -------------------------------------------------------------

    def _loop(self) -> None:
        import torch

        with torch.inference_mode():
            while True:
                with self._wake:
                    self._wake.wait_for(lambda: self._waiting or self._rows or self._closing)
                    if self._closing:
                        # Cancelled here, in the loop, so none is missed between lists.
                        for generation in self._waiting + list(
                            self._rows.items if self._rows else []
                        ):
                            generation.cancel()
                        if not self._waiting and not self._rows:
                            return
                    admitted = self._admit()
                if admitted:
                    self._guarded(admitted, self._prefill, admitted)
                if self._rows is not None:
                    self._guarded(self._rows.items, self._step)

    def _admit(self) -> list[Generation]:
        """The waiting requests that join now: as many as there are free rows, or, when the
        running batch cannot take newcomers, all that fit once it has drained."""
        busy = 0
        if self._rows is not None:
            if not hf_batch.mergeable(self._rows.cache):
                return []
            busy = len(self._rows)
        room = MAX_ROWS - busy
        admitted, self._waiting = self._waiting[:room], self._waiting[room:]
        live = [generation for generation in admitted if not generation.cancelled]
        for generation in admitted:
            if generation.cancelled:
                generation.finish()
        return live

    def _guarded(self, generations: list[Generation], work: Any, *args: Any) -> None:
        try:
            work(*args)
        except Exception as exc:  # a failed forward pass ends its requests, not the server
            log.warning("generation failed: %s: %s", type(exc).__name__, exc)
            error = errors.InferenceError(f"generation failed: {type(exc).__name__}: {exc}")
            for generation in generations:
                if not generation.done.is_set():
                    generation.finish(error)
            if self._rows is not None and any(g in generations for g in self._rows.items):
                for generation in self._rows.items:
                    if not generation.done.is_set():
                        generation.finish(error)
                self._rows = None

    def _prefill(self, admitted: list[Generation]) -> None:
        inputs = hf_batch.prefill_inputs(
            [generation.prompt_ids for generation in admitted], self._pad_id, self._device
        )
        output = self._forward(inputs)
        cache = getattr(output, self._cache_key)
        fresh = hf_batch.Rows(admitted, cache, inputs["attention_mask"], None)
        self._advance(fresh, output.logits[:, -1, :])
        if not fresh.items:
            return
        if self._rows is None:
            self._rows = fresh
        else:
            self._rows.merge(fresh)

    def _step(self) -> None:
        assert self._rows is not None
        inputs = self._rows.step_inputs()
        inputs[self._cache_key] = self._rows.cache
        output = self._forward(inputs)
        self._rows.cache = getattr(output, self._cache_key)
        self._advance(self._rows, output.logits[:, -1, :])
        if not self._rows.items:
            self._rows = None

    def _forward(self, inputs: dict[str, Any]) -> Any:
        if self._trim_logits:
            inputs["logits_to_keep"] = 1  # only the last position's logits are needed
        return self._model(**inputs, use_cache=True)

    def _advance(self, rows: hf_batch.Rows[Generation], logits: Any) -> None:
        """Give each row its next token; drop the rows whose request is over."""
        import torch

        settings = [generation.sampling for generation in rows.items]
        tokens = hf_sampling.choose(logits, settings, self._suppressed)
        rows.next_ids = torch.tensor(tokens, dtype=torch.long, device=self._device)
        keep = []
        for row, (generation, token) in enumerate(zip(rows.items, tokens, strict=True)):
            if generation.accept(token):
                keep.append(row)
            else:
                generation.finish()
        if len(keep) < len(rows):
            rows.keep(keep)

"""A custom model serving OpenAI verbs from a script, the way a user's own model would.

`create_completion` is a coroutine returning an async generator: prompt `"fail"` yields one delta
and then raises (a failure in the middle of a stream); `"forever"` yields until the server closes
it, and records that. `create_embedding` is a plain method (the server runs it in its pool).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

from modelplane import Model
from modelplane.core import completions, errors


class ScriptedGenerator(Model):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.closed = threading.Event()
        self.ready = True

    async def create_completion(
        self, request: completions.CompletionRequest
    ) -> AsyncIterator[completions.Delta]:
        if request.prompt == "refuse":
            raise errors.InvalidInput("refused before the stream starts")
        return self._script(request.prompt)

    async def _script(self, prompt: str) -> AsyncIterator[completions.Delta]:
        try:
            yield completions.Delta("first ")
            if prompt == "fail":
                raise errors.InferenceError("the script fails after one delta")
            while prompt == "forever":
                yield completions.Delta("more ")
                await asyncio.sleep(0)
            yield completions.Delta("end", "stop", completions.Usage(1, 2))
        finally:
            self.closed.set()

    def create_embedding(self, request: completions.EmbeddingRequest) -> completions.Embeddings:
        return completions.Embeddings([[float(len(text)), 0.5] for text in request.inputs], 3)

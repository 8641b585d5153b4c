"""A custom model that answers each V1 request with what identifies it, for the gateway's tests.

`{"id": ID, "pad": TEXT, "delay": SECONDS}` is answered `{"id": ID, "bytes": len(TEXT)}` after
`delay` seconds, so a test can tell every client's answer from every other's, make requests of
any size, and keep one in flight at the replica while it disconnects.
"""

from __future__ import annotations

import asyncio
from typing import Any

from modelplane import Model


class EchoModel(Model):
    def load(self) -> bool:
        self.ready = True
        return True

    async def predict(self, payload: Any, headers: Any = None) -> Any:
        delay = float(payload.get("delay", 0))
        if delay:
            await asyncio.sleep(delay)  # the model's own work, not a test waiting
        return {"id": payload["id"], "bytes": len(payload.get("pad", ""))}

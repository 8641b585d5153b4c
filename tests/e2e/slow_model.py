"""A custom model for the e2e tests: a slow, synchronous predict and a visible unload."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from modelplane import Model


class SlowModel(Model):
    """Sleeps `seconds` (from the V1 payload) in predict; `stop()` leaves a marker file."""

    def load(self) -> bool:
        self.ready = True
        return True

    def predict(self, payload: Any, headers: Any = None) -> Any:
        seconds = float(payload.get("seconds", 0))
        marker = os.environ.get("MODELPLANE_TEST_ENTERED")
        if marker:
            Path(marker).write_text("entered")
        time.sleep(seconds)
        return {"predictions": [seconds]}

    def stop(self) -> None:
        marker = os.environ.get("MODELPLANE_TEST_STOPPED")
        if marker:
            Path(marker).write_text("stopped")
        self.ready = False

"""Logging set-up for server processes and the access log.

One line per request on the `modelplane.access` logger, carrying the request id. The line is
queued only when that logger is enabled, so a quieter level costs nothing per request, and it is
formatted and written off the request path, in batches (`access`).
"""

from __future__ import annotations

import itertools
import logging
import os
import sys

from modelplane.observability import access as access_log

ACCESS = logging.getLogger("modelplane.access")
REQUEST_ID_HEADER = "x-request-id"

_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def configure(level: str = "info", access_log: bool = True) -> None:
    """Send modelplane's logs to stderr at `level`; silence the access log unless asked for."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}; use debug, info, warning or error")
    root = logging.getLogger("modelplane")
    root.setLevel(numeric)
    if not any(getattr(h, "_modelplane", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler._modelplane = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.propagate = False
    ACCESS.disabled = not access_log


# A random per-process prefix and a counter: unique across processes and restarts, and cheaper
# per request than a uuid4.
_PREFIX = os.urandom(8).hex()
_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_PREFIX}-{next(_COUNTER)}"


def after_fork() -> None:
    """A forked child draws its own prefix: two replicas of one template must not share ids."""
    global _PREFIX, _COUNTER
    _PREFIX = os.urandom(8).hex()
    _COUNTER = itertools.count(1)


def access(
    client: str, method: str, path: str, status: int | str, millis: float, request_id: str
) -> None:
    if ACCESS.isEnabledFor(logging.INFO):
        access_log.record(ACCESS, client, method, path, status, millis, request_id)


def flush_access() -> None:
    """Write the access lines still queued (they are written within 0.1 s anyway)."""
    access_log.flush(ACCESS)

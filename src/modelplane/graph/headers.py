"""Which of a graph request's headers go on to every step, and the graph's request id.

KServe's router forwards the headers that match any of its propagate patterns (regular
expressions, from `PROPAGATE_HEADERS`, comma-separated); modelplane does the same, matching
names without regard to case as HTTP does. The request id always goes on: a graph request
without an `x-request-id` (or KServe's `ce-id`) is given one here, so every step's request
(and the gateway's request logger, which stamps it on each CloudEvent) carries the graph's id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence

REQUEST_ID = "x-request-id"
#: What KServe's inferenceservice-config propagates by default.
DEFAULT_PATTERNS = ("Authorization",)


def compile_patterns(text: str | Iterable[str]) -> tuple[re.Pattern[str], ...]:
    """The patterns of a comma-separated list; a bad one is a ValueError naming it."""
    items = text.split(",") if isinstance(text, str) else list(text)
    compiled = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            compiled.append(re.compile(item, re.IGNORECASE))
        except re.error as exc:
            raise ValueError(f"header pattern {item!r}: {exc}") from None
    return tuple(compiled)


def propagated(
    headers: Iterable[tuple[str, str]], patterns: Sequence[re.Pattern[str]]
) -> tuple[list[tuple[str, str]], str]:
    """The headers to send to each step, and the request id (given or made here)."""
    out: list[tuple[str, str]] = []
    request_id = given_ce_id = ""
    for name, value in headers:
        lower = name.lower()
        if lower == REQUEST_ID:
            request_id = value
            continue
        if lower == "ce-id":  # KServe's logger reads this one: the same id, if it is all given
            given_ce_id = value
            continue
        if lower in ("host", "content-length", "connection", "transfer-encoding"):
            continue
        if any(p.fullmatch(name) or p.match(name) for p in patterns):
            out.append((name, value))
    request_id = request_id or given_ce_id or str(uuid.uuid4())
    out.append((REQUEST_ID, request_id))
    return out, request_id

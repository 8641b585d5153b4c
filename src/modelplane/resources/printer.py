"""What Kubernetes' printer columns need: the JSONPath subset they are written in, and ages.

`kubectl get` prints columns the API server computes (a Table) and `modelplane get` computes
the same columns itself; both read them from `catalog.Kind.columns` through this one module, so
the two never disagree on a cell or an age.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

_STEP = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-]+)
      | \[\*\]
      | \[(?P<index>-?\d+)\]
      | \[(?P<q>['"])(?P<key>.*?)(?P=q)\]
      | \[\?\(@(?P<path>(?:\.[A-Za-z0-9_\-]+)+)\s*
          (?:(?P<op>==|!=)\s*(?P<lit>"[^"]*"|'[^']*'|[^)\s]+))?\s*\)\]
    """,
    re.VERBOSE,
)


class JsonPathError(ValueError):
    """A JSONPath outside the supported subset."""


def _literal(text: str) -> Any:
    if text[:1] in "\"'":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        return text


def _steps(expression: str) -> list[re.Match[str]]:
    text = expression.strip().removeprefix("{").removesuffix("}").removeprefix("$")
    steps, position = [], 0
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None:
            raise JsonPathError(f"unsupported JSONPath {expression!r} at {text[position:]!r}")
        steps.append(match)
        position = match.end()
    return steps


def jsonpath(obj: Any, expression: str) -> list[Any]:
    """Every value `expression` selects: `.a.b`, `[*]`, `[0]`, `['k']`, `[?(@.k=="v")]`."""
    values = [obj]
    for step in _steps(expression):
        found: list[Any] = []
        for value in values:
            if step["field"] is not None or step["key"] is not None:
                key = step["field"] if step["field"] is not None else step["key"]
                if isinstance(value, dict) and key in value:
                    found.append(value[key])
            elif step["index"] is not None:
                if isinstance(value, list) and -len(value) <= int(step["index"]) < len(value):
                    found.append(value[int(step["index"])])
            elif step["path"] is not None:
                found.extend(item for item in _listed(value) if _matches(item, step))
            else:
                found.extend(_listed(value))
        values = found
    return values


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def _matches(item: Any, step: re.Match[str]) -> bool:
    selected = jsonpath(item, step["path"])
    if step["op"] is None:
        return bool(selected)
    equal = bool(selected) and selected[0] == _literal(step["lit"])
    return equal if step["op"] == "==" else not equal


def age(created: str | None, now: datetime) -> str:
    """kubectl's human duration since `created` (RFC 3339): 5s, 3m10s, 2h, 4d, 2y10d."""
    if not created:
        return "<unknown>"
    try:
        then = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return human_duration((now - then).total_seconds())


def human_duration(seconds_float: float) -> str:
    seconds = int(seconds_float)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes, hours = seconds // 60, seconds // 3600
    days, rest = hours // 24, hours % 24
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{days}d{rest}h" if rest else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        years, left = days // 365, days % 365
        return f"{years}y{left}d" if left else f"{years}y"
    return f"{days // 365}y"

"""The part of GJSON (github.com/tidwall/gjson) that InferenceGraph conditions are written in.

KServe's router picks a Switch step, and lets a Sequence go on, when `gjson.Get(body,
condition).Exists()`. The conditions KServe's docs and users write are paths with queries:
`instances.#(intval>10)`, `[@this].#(decision_picker=="MODEL1")`, `predictions.0`,
`outputs.#(name=="label").data.0`. Supported here: keys (`*`/`?` wildcards, `\\.` escapes),
array indexes, `#` (length, or the rest of the path over each element), `#(query)` (the first
element that matches) and `#(query)#` (all of them, an array that exists even when empty),
`@this`, and `[path,path]` multipaths. A query is `path op value` with `==`, `=`, `!=`, `<`,
`<=`, `>`, `>=`, `%` (like), `!%`, or a bare path (it exists); values are JSON strings,
numbers, true/false/null, or a bare word taken as a string. No GJSON library with a license
this project can ship was found, hence this module.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from typing import Any

MISSING: Any = object()
_OPS = ("==", "!=", "<=", ">=", "!%", "=", "<", ">", "%")


class ConditionError(ValueError):
    """A condition GJSON would not parse."""


def exists(doc: Any, path: str) -> bool:
    """What KServe's `gjson.GetBytes(body, path).Exists()` says."""
    return get(doc, path) is not MISSING


def get(doc: Any, path: str) -> Any:
    """The value `path` selects in `doc`, or `MISSING`."""
    return _eval(doc, split(path))


def check(path: str) -> None:
    """Raise `ConditionError` if `path` is not well formed (brackets, quotes, operators)."""
    for part in split(path):
        if part.startswith("#(") and (part.endswith(")") or part.endswith(")#")):
            _query(part[2:-2] if part.endswith("#") else part[2:-1])
        elif part.startswith("[") and part.endswith("]"):
            for inner in _top_level(part[1:-1], ","):
                check(inner)


def split(path: str) -> list[str]:
    """The components of `path` at its top level ('.' outside brackets and quotes)."""
    if not path:
        raise ConditionError("an empty condition selects nothing")
    return _top_level(path, ".")


def _top_level(text: str, sep: str) -> list[str]:
    parts, start = [], 0
    for i, char in _outside(text):
        if char == sep:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _outside(text: str) -> Iterator[tuple[int, str]]:
    """(index, character) of each character outside brackets, quotes and escapes; raises
    `ConditionError` for unbalanced ones once the text is read to its end."""
    depth, quoted, i = 0, False, 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if quoted:
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
            if depth < 0:
                raise ConditionError(f"unbalanced {char!r} in {text!r}")
        elif depth == 0:
            yield i, char
        i += 1
    if depth or quoted:
        raise ConditionError(f"unclosed bracket or quote in {text!r}")


def _eval(value: Any, parts: list[str]) -> Any:
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    if head == "@this":
        return _eval(value, rest)
    if head.startswith("[") and head.endswith("]"):
        items = [_eval(value, split(p)) for p in _top_level(head[1:-1], ",") if p]
        return _eval([item for item in items if item is not MISSING], rest)
    if head == "#":
        if not isinstance(value, list):
            return MISSING
        if not rest:
            return len(value)
        return [r for item in value if (r := _eval(item, rest)) is not MISSING]
    if head.startswith("#("):
        every = head.endswith(")#")
        query = _query(head[2:-2] if every else head[2:-1])
        if not isinstance(value, list):
            return MISSING
        matched = [item for item in value if _matches(item, query)]
        if every:
            return [r for item in matched if (r := _eval(item, rest)) is not MISSING]
        return _eval(matched[0], rest) if matched else MISSING
    key = head.replace("\\", "")
    if isinstance(value, dict):
        if "*" in key or "?" in key:
            found = next((k for k in value if fnmatch.fnmatchcase(k, key)), None)
            return MISSING if found is None else _eval(value[found], rest)
        return _eval(value[key], rest) if key in value else MISSING
    if isinstance(value, list) and key.isdigit() and int(key) < len(value):
        return _eval(value[int(key)], rest)
    return MISSING


def _query(text: str) -> tuple[str, str | None, Any]:
    """`path op value` as (path, op, value); a bare path is (path, None, None)."""
    for i, _ in _outside(text):
        op = next((o for o in _OPS if text.startswith(o, i)), None)
        if op is not None:
            path = text[:i].strip()
            if path:
                split(path)
            return path, op, _literal(text[i + len(op) :].strip())
    if not text.strip():
        raise ConditionError("an empty query #() matches nothing")
    split(text.strip())
    return text.strip(), None, None


def _literal(raw: str) -> Any:
    if not raw:
        raise ConditionError("a comparison needs a value")
    if raw.startswith('"'):
        try:
            return json.loads(raw)
        except ValueError:
            raise ConditionError(f"bad string {raw}") from None
    if raw in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[raw]
    try:
        return float(raw)
    except ValueError:
        return raw


def _matches(item: Any, query: tuple[str, str | None, Any]) -> bool:
    path, op, wanted = query
    subject = _eval(item, split(path)) if path else item
    if subject is MISSING:
        return False
    if op is None:
        return True
    if op in ("%", "!%"):
        like = isinstance(subject, str) and fnmatch.fnmatchcase(subject, str(wanted))
        return like if op == "%" else not like
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (subject, wanted))
    strings = isinstance(subject, str) and isinstance(wanted, str)
    if op in ("==", "="):
        return (numbers or strings or subject is wanted) and subject == wanted
    if op == "!=":
        return not ((numbers or strings or subject is wanted) and subject == wanted)
    if not (numbers or strings):
        return False
    if op == "<":
        return bool(subject < wanted)
    if op == "<=":
        return bool(subject <= wanted)
    if op == ">":
        return bool(subject > wanted)
    return bool(subject >= wanted)

"""Replicas as pods: the tail of a log found from its end, in any block size."""

from __future__ import annotations

import io

import pytest

from modelplane.controlplane import pods

LOG = b"".join(f"line {n}\n".encode() for n in range(1, 10001))


@pytest.mark.parametrize("count", [0, 1, 3, 9999, 10000, 20000])
def test_tail_offset_finds_the_last_lines(count: int) -> None:
    handle = io.BytesIO(LOG)
    handle.seek(pods._tail_offset(handle, count))
    expected = LOG.splitlines(keepends=True)[-count:] if count else []
    assert handle.read() == b"".join(expected)


def test_tail_of_a_log_without_a_final_newline() -> None:
    handle = io.BytesIO(b"a\nb\nc")
    handle.seek(pods._tail_offset(handle, 2))
    assert handle.read() == b"b\nc"

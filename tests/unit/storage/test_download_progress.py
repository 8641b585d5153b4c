"""The progress meter: a bar when asked or on a terminal, silence otherwise."""

from __future__ import annotations

import io

from modelplane.storage import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_wanted_follows_the_flag_then_the_terminal() -> None:
    assert progress.wanted(True, io.StringIO())
    assert not progress.wanted(False, Terminal())
    assert progress.wanted(None, Terminal())
    assert not progress.wanted(None, io.StringIO())


def test_a_closed_stream_is_no_terminal() -> None:
    stream = io.StringIO()
    stream.close()
    assert not progress.wanted(None, stream)


def test_a_silent_meter_draws_nothing() -> None:
    stream = io.StringIO()
    with progress.open_meter(False, stream) as meter:
        assert not meter.visible
        meter.track("model.bin", 10)(10)
    assert stream.getvalue() == ""


def test_a_visible_meter_draws_bytes() -> None:
    stream = io.StringIO()
    with progress.open_meter(True, stream) as meter:
        assert meter.visible
        advance = meter.track("model.bin", 2048)
        advance(1024)
        advance(1024)
        meter.track("unknown-size.bin", None)(5)
    drawn = stream.getvalue()
    assert "model.bin" in drawn
    assert "2.0/2.0 kB" in drawn

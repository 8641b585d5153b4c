"""The access log written in batches: same text as the logging module's, nothing lost at exit."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

from modelplane.observability import access, logs


def test_a_line_formatted_in_a_batch_is_the_text_logging_would_have_written() -> None:
    created = 1_765_000_000.987654
    args = ("10.0.0.7", "POST", "/v1/m:predict", 200, 1.234, "r-1")
    message = '%s "%s %s" %s %.2fms request_id=%s'
    record = logging.LogRecord("modelplane.access", logging.INFO, "x", 0, message, args, None)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    expected = logging.Formatter(logs._FORMAT).format(record) + "\n"
    line = (created, "10.0.0.7", "POST", "/v1/m:predict", 200, 1.234, "r-1")
    assert access._format("modelplane.access", record.process or 0, line) == expected


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )


def test_lines_still_queued_at_exit_are_written() -> None:
    done = _run(
        """
        from modelplane.observability import logs
        logs.configure("info", True)
        for k in range(500):
            logs.access("127.0.0.1", "GET", "/v2/health/ready", 200, 0.1, f"id-{k}")
        """
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 500, done.stderr[-2000:]
    assert [line.rsplit("request_id=", 1)[1] for line in lines] == [f"id-{k}" for k in range(500)]
    assert all(' INFO [' in line and '"GET /v2/health/ready" 200 0.10ms' in line for line in lines)


def test_the_flusher_writes_lines_while_the_process_runs() -> None:
    # The process waits, without exiting, until its own line is on stderr: only the flusher
    # thread can have written it.
    done = _run(
        """
        import os, sys, time
        from modelplane.observability import logs
        read, write = os.pipe()
        os.dup2(write, 2)
        sys.stderr = os.fdopen(2, "w")
        logs.configure("info", True)
        logs.access("127.0.0.1", "GET", "/x", 200, 0.1, "while-running")
        deadline = time.monotonic() + 10
        seen = b""
        os.set_blocking(read, False)
        while b"while-running" not in seen and time.monotonic() < deadline:
            try:
                seen += os.read(read, 65536)
            except BlockingIOError:
                time.sleep(0.01)
        print("seen" if b"while-running" in seen else "missing")
        """
    )
    assert done.stdout.strip() == "seen", done.stderr


def test_a_silenced_access_log_queues_nothing() -> None:
    done = _run(
        """
        from modelplane.observability import access, logs
        logs.configure("info", False)
        logs.access("127.0.0.1", "GET", "/x", 200, 0.1, "quiet")
        print(len(access._queue), access._started)
        """
    )
    assert done.stdout.split() == ["0", "False"], done.stderr
    assert "quiet" not in done.stderr

"""The access log, written off the request path, in batches.

A request only appends a tuple to a queue: no LogRecord, no formatting, no write. A daemon
thread drains the queue every `INTERVAL` seconds and writes all lines at once. When the access
logger goes to modelplane's own stderr handler (the usual case), the lines are formatted here in
that handler's format, cached per second for the timestamp, and written with one `write`; when
someone else listens (a test's caplog, a user's handler), each line becomes a normal LogRecord
with its own time, so nothing about the log's content changes, only when it is written.

A line reaches the log at most `INTERVAL` later than before, and lines still queued are written
at exit; a process killed with SIGKILL loses at most that interval's lines.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import threading
import time
from typing import TextIO

INTERVAL = 0.1

Line = tuple[float, str, str, str, "int | str", float, str]

_queue: collections.deque[Line] = collections.deque()
_wake = threading.Event()
_started = False
_flush_lock = threading.Lock()


def record(
    logger: logging.Logger,
    client: str,
    method: str,
    path: str,
    status: int | str,
    millis: float,
    request_id: str,
) -> None:
    """Queue one line for `logger`; the flusher writes it within `INTERVAL` seconds."""
    _queue.append((time.time(), client, method, path, status, millis, request_id))
    if not _started:
        _start(logger)


def flush(logger: logging.Logger) -> None:
    """Write every queued line now (the flusher's tick, exit, and tests that read the log)."""
    with _flush_lock:
        lines: list[Line] = []
        while True:
            try:
                lines.append(_queue.popleft())
            except IndexError:
                break
        if not lines:
            return
        stream = _direct_stream(logger)
        if stream is None:
            for line in lines:
                _emit(logger, line)
            return
        pid = os.getpid()
        text = "".join(_format(logger.name, pid, line) for line in lines)
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):
            pass  # stderr gone (closed pipe at shutdown): the log cannot be written anywhere


def _start(logger: logging.Logger) -> None:
    global _started
    with _flush_lock:
        if _started:
            return
        _started = True

    def run() -> None:
        while not _wake.wait(INTERVAL):
            flush(logger)

    threading.Thread(target=run, name="modelplane-access-log", daemon=True).start()
    atexit.register(flush, logger)
    # A forked child has no flusher thread: its first line starts its own.
    os.register_at_fork(after_in_child=_forget)


def _forget() -> None:
    global _started
    _started = False
    _queue.clear()


def _direct_stream(logger: logging.Logger) -> TextIO | None:
    """modelplane's stderr stream when it is the access logger's only destination, else None."""
    if logger.handlers or not logger.propagate:
        return None
    parent = logger.parent
    if parent is None or parent.propagate or len(parent.handlers) != 1:
        return None
    handler = parent.handlers[0]
    if not getattr(handler, "_modelplane", False) or not isinstance(
        handler, logging.StreamHandler
    ):
        return None
    if handler.level > logging.INFO:
        return None
    stream: TextIO = handler.stream
    return stream


_second = -1
_stamp = ""


def _format(name: str, pid: int, line: Line) -> str:
    # The same text as logs._FORMAT gives through logging.Formatter, without a LogRecord.
    global _second, _stamp
    created, client, method, path, status, millis, request_id = line
    second = int(created)
    if second != _second:
        _second = second
        _stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        _stamp += ",%03d"
    stamp = _stamp % int((created - second) * 1000)
    return (
        f'{stamp} INFO [{pid}] {name}: {client} "{method} {path}" {status} '
        f"{millis:.2f}ms request_id={request_id}\n"
    )


def _emit(logger: logging.Logger, line: Line) -> None:
    created, client, method, path, status, millis, request_id = line
    record = logger.makeRecord(
        logger.name,
        logging.INFO,
        "(access log)",
        0,
        '%s "%s %s" %s %.2fms request_id=%s',
        (client, method, path, status, millis, request_id),
        None,
    )
    record.created = created
    record.msecs = (created - int(created)) * 1000
    logger.handle(record)

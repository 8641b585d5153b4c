"""One replica's operating-system process: start it, adopt it, watch it, signal it.

The control plane may be killed at any moment and started again, so a replica process must
outlive it: processes start in their own session (a kill -9 of the control plane leaves them
running) with their output appended to a log file rather than a pipe. A later control plane
adopts them by pid, after checking from /proc that the pid still runs the same command line
and is the same process (its start time), so a reused pid is never mistaken for a replica.

Own children are watched with Popen.poll (which also reaps them); adopted processes are not
our children, so their exit is seen in /proc, where an unreaped zombie counts as exited.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

TAIL_LINES = 20
_TAIL_BYTES = 16_384


class ReplicaProcess(Protocol):
    @property
    def pid(self) -> int: ...

    def exited(self) -> bool:
        """True once the process has ended (reaped or a zombie)."""
        ...

    def describe_exit(self) -> str:
        """How it ended, for a human: `exit code 1`, `killed by SIGKILL`."""
        ...

    def send(self, sig: signal.Signals) -> None:
        """Signal the process and everything in its process group; a gone process is fine."""
        ...


class Spawned:
    """A process this control plane started (its child)."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen

    @property
    def pid(self) -> int:
        return self._popen.pid

    def exited(self) -> bool:
        return self._popen.poll() is not None

    def describe_exit(self) -> str:
        code = self._popen.poll()
        if code is None:
            return "running"
        if code < 0:
            return f"killed by {_signal_name(-code)}"
        return f"exit code {code}"

    def send(self, sig: signal.Signals) -> None:
        # start_new_session made the child a process-group leader; signalling the group also
        # reaches the workers of `modelplane serve --workers N`. Once the leader is reaped its
        # pid stays reserved while the group has members, so the group id is still ours.
        _signal_group(self._popen.pid, sig)


class Adopted:
    """A process an earlier control plane started, found alive at start-up."""

    def __init__(self, pid: int, start_time: int) -> None:
        self._pid = pid
        self._start_time = start_time

    @property
    def pid(self) -> int:
        return self._pid

    def exited(self) -> bool:
        stat = _stat(self._pid)
        return stat is None or stat[0] in "ZX" or stat[1] != self._start_time

    def describe_exit(self) -> str:
        # Only the parent learns an exit status, and the parent was the earlier control plane.
        return "exited (exit status unknown: adopted process)"

    def send(self, sig: signal.Signals) -> None:
        if self.exited():
            return
        _signal_group(self._pid, sig)


def spawn(argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> Spawned:
    """Start argv in a new session, stdout and stderr appended to log_path. Raises OSError."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
            close_fds=True,
        )
    return Spawned(popen)


def adopt(pid: int, argv: Sequence[str], start_time: int | None) -> Adopted | None:
    """The recorded process, if it still runs.

    The pid and its start time name one process for good, so when the start time was recorded
    it decides alone: a process that exec'd or renamed itself (`sh -c`, a wrapper) is still
    ours, and must be adopted rather than forgotten with its port. Without a start time, the
    command line must match too, so a reused pid is never taken for a replica.
    """
    stat = _stat(pid)
    if stat is None or stat[0] in "ZX":
        return None
    if start_time is not None:
        return Adopted(pid, stat[1]) if stat[1] == start_time else None
    if command_line(pid) != list(argv):
        return None
    return Adopted(pid, stat[1])


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    stat = _stat(pid)
    return None if stat is None else stat[1]


def command_line(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="surrogateescape") for part in raw.split(b"\0")[:-1]]


def free_port(taken: set[int] | frozenset[int] = frozenset()) -> int:
    """A port on 127.0.0.1 that nothing listens on now (the kernel's pick), not in taken."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in taken:
            return port


def log_tail(path: Path, offset: int = 0, lines: int = TAIL_LINES) -> str:
    """The last lines written to path after offset (one run's output in an appended log)."""
    try:
        with open(path, "rb") as log:
            size = log.seek(0, os.SEEK_END)
            log.seek(max(offset, size - _TAIL_BYTES, 0))
            data = log.read()
    except OSError:
        return ""
    text = data.decode(errors="replace")
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time) from /proc/PID/stat, or None when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return
    except ProcessLookupError:
        # The leader is gone (reaped); its group may still have members.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"

"""Holding a replica's process tree to its memory limit where no cgroup can.

Kubernetes puts a container in a memory cgroup and the kernel's OOM killer ends it the moment
it passes `limits.memory`. A control plane without a writable cgroup (a container, a laptop)
does what it can from outside: one thread looks at every limited replica every `interval`
seconds, sums the resident memory of its process and all its descendants, and kills the whole
tree with SIGKILL once the sum is over the limit, saying so first (`on_kill`), so the exit is
reported as `OOMKilled`, as the kernel's kill would be.

What this cannot match: a tree that grows faster than one look per interval overshoots the limit
until the next look; and resident memory counts a page shared by forked workers once per
process, where a cgroup charges it once, so such a tree is held a little tighter than a cgroup
would hold it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

import psutil

log = logging.getLogger(__name__)


@dataclass
class _Watched:
    process: psutil.Process
    limit: int
    on_kill: Callable[[int], None]


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of process and its descendants; 0 once it is gone."""
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


def kill_tree(process: psutil.Process) -> None:
    """SIGKILL the process, its process group and every descendant; gone ones are fine."""
    try:
        members = process.children(recursive=True)
        if process.is_running():  # psutil checks the start time: not a reused pid
            with contextlib.suppress(OSError):
                if os.getpgid(process.pid) == process.pid:
                    os.killpg(process.pid, signal.SIGKILL)
            process.kill()
    except psutil.Error:
        members = []
    for member in members:
        with contextlib.suppress(psutil.Error):
            member.kill()


class MemoryWatcher:
    """One thread for all the limited replicas of a backend, from the first watch to close()."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self._watched: dict[int, _Watched] = {}
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, pid: int, limit: int, on_kill: Callable[[int], None]) -> None:
        """Hold pid's tree to limit bytes; on_kill(bytes used) runs just before the kill."""
        try:
            process = psutil.Process(pid)
        except psutil.Error:
            return  # gone already: its exit is seen by its supervisor
        with self._wake:
            self._watched[pid] = _Watched(process, limit, on_kill)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="modelplane-memory-watcher", daemon=True
                )
                self._thread.start()

    def unwatch(self, pid: int) -> None:
        with self._wake:
            self._watched.pop(pid, None)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._closed:
                    return
                watched = list(self._watched.items())
            for pid, entry in watched:
                used = tree_rss(entry.process)
                if used > entry.limit:
                    self._kill(pid, entry, used)
            with self._wake:
                if not self._closed:
                    self._wake.wait(self.interval)

    def _kill(self, pid: int, entry: _Watched, used: int) -> None:
        with self._wake:
            if self._watched.pop(pid, None) is None:
                return  # unwatched meanwhile: it exited or is being stopped
        log.warning(
            "replica process %d uses %d bytes, over its memory limit of %d: killing it",
            pid, used, entry.limit,
        )  # fmt: skip
        try:
            entry.on_kill(used)
        except Exception:
            log.exception("memory limit callback failed")
        kill_tree(entry.process)

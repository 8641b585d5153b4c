"""A process tree's CPU time and memory, read from /proc (no psutil needed).

A server is the process the bench started plus every process below it (MLServer runs its
model in a worker process), so each figure is summed over the tree.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may itself hold spaces and parentheses.
    return text[text.rindex(")") + 2 :].split()


def tree(root: int) -> list[int]:
    """`root` and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU time of `pids`, in seconds."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mib(pids: list[int]) -> float:
    return sum(_status_kib(pid, "VmRSS") for pid in pids) / 1024


def hwm_mib(pids: list[int]) -> float:
    """Sum of each process's own peak RSS (VmHWM): exact for one process, an upper bound for
    several (their peaks need not coincide)."""
    return sum(_status_kib(pid, "VmHWM") for pid in pids) / 1024


class MemorySampler:
    """Samples the tree's total RSS every `interval` seconds and keeps the largest, and keeps
    each process's VmHWM as last seen (processes that exit keep their last reading)."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root = root
        self.interval = interval
        self.peak_rss = 0.0
        self._hwm: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._pids = [root]
        self._thread.start()

    def _run(self) -> None:
        count = 0
        while not self._stop.is_set():
            if count % 10 == 0:  # the tree rarely changes; rescan /proc every tenth sample
                self._pids = tree(self.root)
            self.sample()
            count += 1
            self._stop.wait(self.interval)

    def sample(self) -> None:
        self.peak_rss = max(self.peak_rss, rss_mib(self._pids))
        for pid in self._pids:
            hwm = _status_kib(pid, "VmHWM") / 1024
            if hwm:
                self._hwm[pid] = hwm

    @property
    def hwm_sum(self) -> float:
        return sum(self._hwm.values())

    def stop(self) -> None:
        self._pids = tree(self.root)
        self.sample()
        self._stop.set()
        self._thread.join()


def _core_times(core: int) -> tuple[int, int]:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            values = [int(v) for v in line.split()[1:]]
            idle = values[3] + values[4]  # idle, iowait
            return sum(values) - idle, sum(values)
    return 0, 0


def core_busy(core: int, seconds: float = 0.5) -> float:
    """Share of `core` that something was using over `seconds` (before a server starts: how
    much of the server's core other processes on the machine are taking)."""
    busy0, total0 = _core_times(core)
    threading.Event().wait(seconds)
    busy1, total1 = _core_times(core)
    return (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0


def core_clock(core: int) -> tuple[int, int]:
    """(busy, total) jiffies of `core` so far; two readings give its busy share between them."""
    return _core_times(core)


def busy_between(before: tuple[int, int], after: tuple[int, int]) -> float:
    busy, total = after[0] - before[0], after[1] - before[1]
    return busy / total if total > 0 else 0.0

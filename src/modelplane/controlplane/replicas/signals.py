"""Signalling a replica's process group, and saying how a process ended.

Shared by the replicas this machine runs (spawned or forked from a warm template, `local.py`,
`warm.py`) and by the Ray backend, which reports its children's return codes the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal


def group(pid: int, sig: signal.Signals) -> None:
    """Signal pid's process group when pid leads one (a replica's session: its `--workers` too),
    else pid alone (a fork not yet in its own session); a gone process is fine."""
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


def describe(returncode: int) -> str:
    """A Popen-style return code for a human: `exit code 1`, `killed by SIGKILL`."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"

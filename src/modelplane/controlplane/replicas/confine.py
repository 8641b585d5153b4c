"""What a local replica is told and held to by its resources, besides its memory limit.

- GPUs: `CUDA_VISIBLE_DEVICES` names exactly the GPUs the node granted, and is empty for a
  replica that asked for none, so two replicas never share a device unasked (a container without
  `nvidia.com/gpu` sees no GPU either). On a machine without GPUs it is left alone.
- cpu limit: the replica's threads follow it, as a runtime in a container sizes its pools by its
  quota: `MODELPLANE_THREADS` (`modelplane serve --threads`), and the pools of OpenMP, MKL and
  OpenBLAS. The container's own env wins over all of these.
- cpu limit, enforced: the process is pinned to the cores the node picked (Linux's
  sched_setaffinity; every thread it has, and what it starts later inherits the mask). Kubernetes
  throttles with a CFS quota instead; a pin holds the replica to as many cores, which is what the
  limit is for on a machine the replicas share. Where the platform has no affinity (macOS) the
  limit only sizes the threads.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence

from modelplane.controlplane.replicas import backend

log = logging.getLogger(__name__)

THREAD_VARIABLES = ("MODELPLANE_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS")  # fmt: skip
GPU_VARIABLE = "CUDA_VISIBLE_DEVICES"


def threads_for(limits: backend.Limits) -> int | None:
    """Threads a replica held to limits.cpu should run: the limit rounded up, at least one."""
    return None if limits.cpu is None else max(1, math.ceil(limits.cpu))


def environment(
    limits: backend.Limits, gpus: Sequence[str], machine_has_gpus: bool
) -> dict[str, str]:
    """The variables that tell a replica its share; the caller lays the container's env over
    them."""
    env: dict[str, str] = {}
    threads = threads_for(limits)
    if threads is not None:
        env.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    if machine_has_gpus:
        env[GPU_VARIABLE] = ",".join(gpus)
    return env


def pin(pid: int, cpus: Sequence[int]) -> None:
    """Pin every thread of pid to cpus; its later threads and children inherit the mask."""
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return
    try:
        threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        threads = [pid]
    for tid in threads:
        try:
            os.sched_setaffinity(tid, cpus)
        except ProcessLookupError:
            continue  # a thread that ended meanwhile
        except OSError as exc:
            log.warning("cannot pin replica process %d to cores %s: %s", pid, cpus, exc)
            return

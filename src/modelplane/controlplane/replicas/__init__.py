"""Replicas: the processes that serve each revision, wherever they run.

`manager.py` keeps each revision at its desired count (the ReplicaSet controller), one
supervisor task per replica (`lifecycle.py`, the kubelet's pod worker) that starts, probes,
restarts and stops it; `records.py` writes what a restarted control plane needs to adopt it.
Where a replica runs is a backend's (`backend.py`): processes here (`local.py`) or actors on a
Ray cluster (`ray_backend.py`, imported only when chosen).
"""

from modelplane.controlplane.replicas.backend import ReplicaBackend
from modelplane.controlplane.replicas.lifecycle import Phase, Replica, Template, backoff_delay
from modelplane.controlplane.replicas.manager import ReplicaManager, choose_to_stop

__all__ = [
    "Phase",
    "Replica",
    "ReplicaBackend",
    "ReplicaManager",
    "Template",
    "backoff_delay",
    "choose_to_stop",
]

"""Replicas shown as Kubernetes Pods, so `kubectl get pods` and `kubectl logs` work.

Read-only: a replica is a process the replica manager owns, not something a user creates. Its
log is the file the manager appends the process's output to.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

from modelplane.controlplane import errors, replicas
from modelplane.resources import catalog

CONTAINER = "kserve-container"
_CONTAINER_NAMES = {CONTAINER, "predictor", None, ""}
_CHUNK = 64 * 1024
_TIME = "%Y-%m-%dT%H:%M:%SZ"
_REVISION = re.compile(r"^(?P<isvc>.+)-predictor-\d{5,}$")


def pod(replica: replicas.Replica) -> dict[str, Any]:
    match = _REVISION.match(replica.revision)
    labels = {
        catalog.REVISION_LABEL: replica.revision,
        "component": "predictor",
        "serving.kserve.io/component": "predictor",
    }
    if match:
        labels[catalog.ISVC_LABEL] = match.group("isvc")
    phase = {
        replicas.Phase.PENDING: "Pending",
        replicas.Phase.READY: "Running",
        replicas.Phase.STARTING: "Pending",
        replicas.Phase.BACKOFF: "Pending",
        replicas.Phase.TERMINATING: "Running",
    }[replica.phase]
    started = replica.started_at.strftime(_TIME)
    conditions: list[dict[str, Any]] = []
    state: dict[str, Any] | None
    if replica.phase == replicas.Phase.PENDING:
        state = None  # not on a node: no container has a state yet
        # As the scheduler reports a pod no node can take.
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": replica.pending_reason or "",
            }
        )
    elif replica.phase == replicas.Phase.BACKOFF:
        state = {"waiting": {"reason": "CrashLoopBackOff", "message": replica.last_failure or ""}}
    else:
        state = {"running": {"startedAt": started}}
        conditions.append({"type": "PodScheduled", "status": "True"})
    ready = replica.ready and replica.phase == replicas.Phase.READY
    conditions.append({"type": "Ready", "status": "True" if ready else "False"})
    placed = replica.phase != replicas.Phase.PENDING
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": replica.name,
            "namespace": replica.namespace,
            "uid": f"replica-{replica.name}",
            "creationTimestamp": started,
            "labels": labels,
        },
        "spec": {
            "containers": [{"name": CONTAINER, "image": "modelplane"}],
            **({"nodeName": replica.node} if placed and replica.node else {}),
        },
        "status": {
            "phase": phase,
            **({"podIP": replica.host, "hostIP": replica.host} if placed else {}),
            "startTime": started,
            "conditions": conditions,
            **(
                {}
                if state is None
                else {
                    "containerStatuses": [
                        {
                            "name": CONTAINER,
                            "image": "modelplane",
                            "imageID": "",
                            "ready": ready,
                            "started": replica.pid is not None,
                            "restartCount": replica.restarts,
                            "state": state,
                            **_last_state(replica),
                        }
                    ]
                }
            ),
        },
    }


def _last_state(replica: replicas.Replica) -> dict[str, Any]:
    """`lastState.terminated` as the kubelet reports a container's previous run."""
    ended = replica.last_exit
    if ended is None or ended.termination.exit_code is None:
        return {}  # an adopted process's exit status went to the control plane that started it
    terminated = {
        "exitCode": ended.termination.exit_code,
        "reason": ended.termination.reason,
        "startedAt": ended.started_at.strftime(_TIME),
        "finishedAt": ended.finished_at.strftime(_TIME),
    }
    if ended.termination.message:
        terminated["message"] = ended.termination.message
    return {"lastState": {"terminated": terminated}}


class ReplicaPods:
    """The API server's PodSource over a replica manager."""

    def __init__(self, manager: replicas.ReplicaManager, *, poll: float = 0.2) -> None:
        self._manager = manager
        self._poll = poll

    def list_pods(self, namespace: str | None) -> list[dict[str, Any]]:
        return [
            pod(r)
            for r in self._manager.all()
            if namespace is None or r.namespace == namespace
        ]

    def read_log(
        self,
        namespace: str,
        name: str,
        *,
        container: str | None,
        follow: bool,
        tail_lines: int | None,
    ) -> AsyncIterator[bytes]:
        replica = self._manager.find(namespace, name)
        if replica is None:
            raise errors.NotFound(f'pods "{name}" not found')
        if container not in _CONTAINER_NAMES:
            raise errors.BadRequest(
                f"container {container} is not valid for pod {name}: use {CONTAINER}"
            )
        return self._stream(namespace, name, replica.log_path, follow, tail_lines)

    async def _stream(
        self, namespace: str, name: str, path: Path, follow: bool, tail_lines: int | None
    ) -> AsyncIterator[bytes]:
        """The log in bounded chunks, so a large one never holds the event loop (which the
        gateway shares); with `follow`, new output until the replica is gone."""
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            return
        try:
            if tail_lines is not None:
                handle.seek(_tail_offset(handle, tail_lines))
            while chunk := handle.read(_CHUNK):
                yield chunk
                await asyncio.sleep(0)
            while follow:
                chunk = handle.read(_CHUNK)
                if chunk:
                    yield chunk
                elif self._manager.find(namespace, name) is None:
                    return
                else:
                    await asyncio.sleep(self._poll)
        finally:
            handle.close()


def _tail_offset(handle: BinaryIO, lines: int) -> int:
    """Where the last `lines` lines of the file begin, read backwards a block at a time."""
    end = handle.seek(0, 2)
    if lines <= 0:
        return end
    position, found = end, 0
    while position > 0:
        step = min(_CHUNK, position)
        position -= step
        handle.seek(position)
        block = handle.read(step)
        if position + step == end and block.endswith(b"\n"):
            block = block[:-1]  # the last line's own newline does not start a line
        for index in range(len(block) - 1, -1, -1):
            if block[index] == 10:  # "\n"
                found += 1
                if found == lines:
                    return position + index + 1
    return 0

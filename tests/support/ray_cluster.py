"""A real multi-node Ray cluster on this machine: one node per loopback address.

Each node is `ray start --block` on its own address (127.0.0.2 for the head, .3, .4, ...; Ray
hangs when given 127.0.0.1), a process group of its own, so a test removes a node as a machine
dies: SIGKILL to the whole group. The head checks its nodes' health every 500 ms, so a dead node
is seen in about two seconds rather than Ray's default fifteen. Readiness is polled from
`ray.nodes()` through a short-lived driver, never guessed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class RayCluster:
    def __init__(self, cpus_per_node: int = 1) -> None:
        self.cpus = cpus_per_node
        self.port = _free_port("127.0.0.2")
        self.address = f"127.0.0.2:{self.port}"
        self.temp = Path(tempfile.mkdtemp(prefix="mp-ray-"))
        self.nodes: dict[str, subprocess.Popen[bytes]] = {}
        self.env = {**os.environ, **_ENV}

    def _start(self, ip: str, *args: str) -> None:
        log = open(self.temp / f"node-{ip}.log", "wb")
        self.nodes[ip] = subprocess.Popen(
            [RAY, "start", "--block", "--node-ip-address", ip, f"--num-cpus={self.cpus}",
             "--num-gpus=0", "--disable-usage-stats", *args],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
        )  # fmt: skip

    def start_head(self) -> None:
        self._start(
            "127.0.0.2", "--head", f"--port={self.port}", "--include-dashboard=false",
            f"--temp-dir={self.temp / 'ray'}",
            f"--node-manager-port={_free_port('127.0.0.2')}",
            f"--object-manager-port={_free_port('127.0.0.2')}",
        )  # fmt: skip
        self.wait_nodes(1)

    def add_node(self) -> str:
        ip = f"127.0.0.{len(self.nodes) + 2}"
        while ip in self.nodes:
            ip = f"127.0.0.{int(ip.rsplit('.', 1)[1]) + 1}"
        self._start(ip, f"--address={self.address}")
        self.wait_nodes(len(self.alive_nodes()) + 1)
        return ip

    def kill_node(self, ip: str) -> None:
        """The node's machine dies: every process of it at once."""
        process = self.nodes.pop(ip)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)

    def alive_nodes(self) -> list[str]:
        script = (
            "import json, ray; "
            f"ray.init(address={self.address!r}, _node_ip_address='127.0.0.2', "
            "logging_level='ERROR', log_to_driver=False); "
            "print(json.dumps(sorted(n['NodeManagerAddress'] for n in ray.nodes() if n['Alive'])))"
        )
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=self.env,
            timeout=60,
        )  # fmt: skip
        if out.returncode != 0:
            return []
        return list(json.loads(out.stdout.strip().splitlines()[-1]))

    def wait_nodes(self, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.alive_nodes()) != count:
            if time.monotonic() > deadline:
                raise AssertionError(f"Ray cluster never had {count} nodes alive")
            time.sleep(0.2)  # a readiness poll interval

    def stop(self) -> None:
        for ip in list(self.nodes):
            self.kill_node(ip)

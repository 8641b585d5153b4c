"""`--workers N`: N server processes sharing one REST port and one gRPC port.

The parent reserves both ports with SO_REUSEPORT sockets it never listens on (so port 0 resolves
to one port for every worker), starts the workers, restarts any that crash with a backoff, and
turns SIGTERM into a graceful stop of every worker. The kernel spreads new connections across
the workers' listening sockets. Each worker loads its own copy of the model, as KServe's and
MLServer's workers do, but a scrape of /metrics, whichever worker takes it, answers the sum over
all of them: the workers keep their metrics in a directory the parent makes for them
(prometheus_client's multiprocess mode) and removes at exit.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from modelplane.core import ports
from modelplane.observability import metrics
from modelplane.server.settings import ServerSettings

log = logging.getLogger(__name__)

# A worker that cannot start (its model does not load, a port is taken) exits with this status:
# restarting it would only fail again, so the whole server stops, as one process would.
START_FAILED = 3
MAX_BACKOFF = 30.0


def _die_with_parent() -> None:
    # A worker must not outlive a supervisor that was killed outright (SIGKILL has no handler):
    # Linux sends it SIGTERM then, and it drains like any other stop.
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _worker(settings: ServerSettings) -> None:
    _die_with_parent()
    from modelplane.core import errors
    from modelplane.observability import logs
    from modelplane.server import runner

    logs.configure(settings.log_level, settings.access_log)
    try:
        runner.run(settings, reuse_port=True)
    except (errors.ModelplaneError, OSError) as exc:
        log.error("worker cannot start: %s", exc)
        raise SystemExit(START_FAILED) from None


class Supervisor:
    def __init__(self, settings: ServerSettings) -> None:
        http = ports.reserve(settings.host, settings.http_port, "http_port")
        self._reserved = [http]
        update = {"http_port": self._reserved[0].getsockname()[1]}
        if settings.grpc_port >= 0:
            grpc = ports.reserve(settings.host, settings.grpc_port, "grpc_port")
            self._reserved.append(grpc)
            update["grpc_port"] = self._reserved[1].getsockname()[1]
        self.settings = settings.model_copy(update=update)
        self._context = multiprocessing.get_context("spawn")
        self._stopping = False

    def _start(self) -> BaseProcess:
        process = self._context.Process(target=_worker, args=(self.settings,), daemon=False)
        process.start()
        return process

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; the exit status is non-zero if a worker cannot start."""
        with metrics.shared_across_processes() as metrics_dir:
            return self._supervise(metrics_dir)

    def _supervise(self, metrics_dir: str) -> int:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        workers = [self._start() for _ in range(self.settings.workers)]
        log.info("started %d workers on port %s", len(workers), self.settings.http_port)
        failures = [0] * len(workers)
        status = 0
        while not self._stopping:
            wait([p.sentinel for p in workers], timeout=0.5)
            for index, process in enumerate(workers):
                if process.is_alive() or self._stopping:
                    continue
                if process.exitcode == START_FAILED:
                    self._stopping, status = True, 1
                    break
                if process.pid is not None:
                    metrics.process_exited(metrics_dir, process.pid)
                failures[index] += 1
                backoff = min(MAX_BACKOFF, 0.5 * 2 ** (failures[index] - 1))
                log.warning(
                    "worker %d exited with %s; restarting in %.1fs",
                    index,
                    process.exitcode,
                    backoff,
                )
                time.sleep(backoff)
                workers[index] = self._start()
        for process in workers:
            if process.is_alive():
                process.terminate()  # SIGTERM: each worker drains, then unloads
        for process in workers:
            process.join(self.settings.graceful_timeout + 10)
            if process.is_alive():
                process.kill()
        for sock in self._reserved:
            sock.close()
        return status

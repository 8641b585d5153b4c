"""Prometheus metrics of the data plane, defined on an explicitly passed registry.

One process keeps its values in memory and exposes its registry. The workers of
`modelplane serve --workers N` share one port, so a scrape reaches any one of them; their values
must be summed. That is prometheus_client's multiprocess mode: with PROMETHEUS_MULTIPROC_DIR set
before a process starts, prometheus_client keeps every value in a file of that directory, and
a scrape in any process collects all the files. The supervisor makes the directory
(`shared_across_processes`); the mode is prometheus_client's choice at import, so ServerMetrics
reads the same variable rather than take a setting that could disagree with it. A single process
also exposes prometheus_client's default registry, where frameworks such as vLLM register their
own metrics.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

# Sub-millisecond buckets matter: a fast model answers in well under a millisecond.
LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


@contextlib.contextmanager
def shared_across_processes() -> Iterator[str]:
    """A fresh private directory where the processes started inside the block keep their metrics
    (through the environment they inherit), removed with everything in it at the end."""
    directory = tempfile.mkdtemp(prefix="modelplane-metrics-")
    previous = os.environ.get(MULTIPROCESS_DIR)
    os.environ[MULTIPROCESS_DIR] = directory
    try:
        yield directory
    finally:
        if previous is None:
            os.environ.pop(MULTIPROCESS_DIR, None)
        else:
            os.environ[MULTIPROCESS_DIR] = previous
        shutil.rmtree(directory, ignore_errors=True)


def process_exited(directory: str, pid: int) -> None:
    """Drop the live gauges of a process that is gone; its counters and histograms still count."""
    multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


class ServerMetrics:
    """The counters, gauges and histograms one server process exports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.multiprocess_dir = os.environ.get(MULTIPROCESS_DIR) or None
        self._request_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        self._stage_children: dict[tuple[str, str], Any] = {}
        self._in_flight_children: dict[str, Any] = {}
        self.requests = Counter(
            "modelplane_requests",
            "Requests answered, by model, protocol and status (HTTP status or gRPC code).",
            ("model", "protocol", "status"),
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "modelplane_request_duration_seconds",
            "Whole-request latency, from the first byte read to the response.",
            ("model", "protocol"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "modelplane_stage_duration_seconds",
            "Latency of each model stage: preprocess, predict, postprocess, explain.",
            ("model", "stage"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "modelplane_batch_size",
            "Rows per model call when adaptive batching is on.",
            ("model",),
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=self.registry,
        )
        self.batch_queue_seconds = Histogram(
            "modelplane_batch_queue_seconds",
            "Time a request waited in the batching queue before its batch ran.",
            ("model",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "modelplane_requests_in_flight",
            "Requests being served now, by protocol.",
            ("protocol",),
            registry=self.registry,
            # Summed over the workers alive: a dead worker's requests are no longer in flight.
            multiprocess_mode="livesum",
        )

    def observe_request(self, model: str, protocol: str, status: str, seconds: float) -> None:
        # Label lookups take a lock and build a tuple; on the hot path, reuse the children.
        key = (model, protocol, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(model, protocol, status),
                self.request_seconds.labels(model, protocol),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def in_flight_for(self, protocol: str) -> Any:
        """The in-flight gauge of one protocol (cached)."""
        child = self._in_flight_children.get(protocol)
        if child is None:
            child = self._in_flight_children[protocol] = self.in_flight.labels(protocol)
        return child

    def stage(self, model: str, stage: str) -> Any:
        """The latency histogram of one model stage (cached)."""
        child = self._stage_children.get((model, stage))
        if child is None:
            child = self._stage_children[(model, stage)] = self.stage_seconds.labels(model, stage)
        return child

    def exposition(self) -> bytes:
        """The text format of every metric: this process's, or the sum over every process that
        shares the multiprocess directory."""
        if self.multiprocess_dir is None:
            # prometheus_client's default registry holds what frameworks register themselves
            # (vLLM's engine metrics, `vllm:*`) and the process's CPU, memory and GC.
            return generate_latest(self.registry) + generate_latest(REGISTRY)
        # A fresh registry per scrape: the collector reads the directory's files as they are now.
        shared = CollectorRegistry()
        multiprocess.MultiProcessCollector(shared, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(shared)

"""The metrics of one process and their sharing across workers, without a worker: the registry
passed in is what a scrape shows, and the directory the supervisor makes lives only as long as
its block."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from modelplane.observability import metrics

LABELS = {"model": "iris", "protocol": "v1", "status": "200"}


def test_a_registry_passed_in_holds_the_metrics_and_a_scrape_shows_it() -> None:
    assert metrics.MULTIPROCESS_DIR not in os.environ  # one process: values in memory
    registry = CollectorRegistry()
    server = metrics.ServerMetrics(registry)
    assert server.registry is registry and server.multiprocess_dir is None
    for _ in range(3):
        server.observe_request("iris", "v1", "200", 0.002)
    server.in_flight_for("v1").inc()
    assert registry.get_sample_value("modelplane_requests_total", LABELS) == 3
    scraped = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(server.exposition().decode())
        for sample in family.samples
    }
    assert scraped[("modelplane_requests_total", tuple(sorted(LABELS.items())))] == 3
    assert scraped[("modelplane_requests_in_flight", (("protocol", "v1"),))] == 1


def test_the_shared_directory_is_private_announced_to_children_and_removed() -> None:
    assert metrics.MULTIPROCESS_DIR not in os.environ
    with metrics.shared_across_processes() as directory:
        assert os.environ[metrics.MULTIPROCESS_DIR] == directory
        assert stat.S_IMODE(Path(directory).stat().st_mode) == 0o700
        (Path(directory) / "counter_1234.db").write_bytes(b"")
    assert metrics.MULTIPROCESS_DIR not in os.environ
    assert not Path(directory).exists()


def test_a_dead_worker_loses_its_live_gauges_and_keeps_its_counts(tmp_path: Path) -> None:
    for name in ("gauge_livesum_1234.db", "counter_1234.db", "gauge_livesum_99.db"):
        (tmp_path / name).write_bytes(b"")
    metrics.process_exited(str(tmp_path), 1234)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_1234.db", "gauge_livesum_99.db"]

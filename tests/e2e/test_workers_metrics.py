"""`modelplane serve --workers N` answers one /metrics for the whole server: whichever worker takes
a scrape sums every worker's counters, as one process would count them."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.process import ServeProcess

REQUESTS = 40
BODY = {"instances": [[5.1, 3.5, 1.4, 0.2]]}
PREDICT = r'"POST /v1/models/iris:predict" 200'


def _scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, by name and labels."""
    text = httpx.get(f"{url}/metrics").text  # a new connection: any worker may answer
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _pids(output: str, line: str) -> set[int]:
    return {int(pid) for pid in re.findall(rf"\[(\d+)\] modelplane.access: .*{line}", output)}


def _assert_counted(url: str, requests: int) -> None:
    samples = _scrape(url)
    v1 = (("model", "iris"), ("protocol", "v1"))
    assert samples[("modelplane_requests_total", (*v1, ("status", "200")))] == requests
    assert samples[("modelplane_request_duration_seconds_count", v1)] == requests
    assert samples[("modelplane_requests_in_flight", (("protocol", "v1"),))] == 0


def test_every_worker_answers_the_sum_of_all_workers(iris_dir: Path, tmp_path: Path) -> None:
    # The supervisor's metrics directory is made under TMPDIR, so the test can watch it.
    args = ["--model-name", "iris", "--storage-uri", str(iris_dir), "--workers", "2"]
    env = {"TMPDIR": str(tmp_path)}
    with ServeProcess(*args, "--http-port", "0", "--grpc-port", "-1", env=env) as server:
        server.wait_ready()
        server.wait_for_line("is ready", count=2)
        assert len(list(tmp_path.glob("modelplane-metrics-*"))) == 1
        for _ in range(REQUESTS):  # a new connection each time: the kernel spreads them
            assert httpx.post(f"{server.url}/v1/models/iris:predict", json=BODY).status_code == 200
        # A request is counted just after its answer is sent, just before its access log line.
        server.wait_for_line(PREDICT, count=REQUESTS)
        assert len(_pids(server.output, PREDICT)) == 2  # both workers served some

        # Scrape until both workers have answered one; each answers the same sum.
        scrapes = 0
        while len(_pids(server.output, '"GET /metrics"')) < 2:
            _assert_counted(server.url, REQUESTS)
            scrapes += 1
            server.wait_for_line('"GET /metrics"', count=scrapes)
            assert scrapes < 100, "one worker took every scrape"

        # A worker that dies keeps its share of the counts; its in-flight gauge is dropped.
        victim = min(_pids(server.output, PREDICT))
        os.kill(victim, signal.SIGKILL)
        server.wait_for_line(r"exited with -9; restarting")
        server.wait_for_line("is ready", count=3)
        _assert_counted(server.url, REQUESTS)
        assert server.terminate() == 0
    assert list(tmp_path.glob("modelplane-metrics-*")) == []

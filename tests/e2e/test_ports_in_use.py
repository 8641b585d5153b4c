"""A port that is taken stops `modelplane serve` and `modelplane up` with one line naming the
option that chose it, exit status 1, and no traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.process import run_cli

ZERO = {"--http-port": "0", "--grpc-port": "0"}


@pytest.fixture
def taken() -> Iterator[int]:
    """A port another process could hold: a listening socket on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def assert_refused(args: list[str], option: str, port: int) -> None:
    result = run_cli(*args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"Error: cannot listen on 127.0.0.1:{port} ({option}): the port is already in use; "
        "stop what listens on it, or choose another port (0 picks a free one)"
    ]


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("option", ["--http-port", "--grpc-port"])
def test_serve_names_the_taken_port_and_its_option(
    taken: int, tmp_path: Path, option: str, workers: str
) -> None:
    ports = {**ZERO, option: str(taken)}
    args = ["serve", "--storage-uri", str(tmp_path), "--workers", workers]
    assert_refused([*args, *(a for kv in ports.items() for a in kv)], option, taken)


@pytest.mark.parametrize("option", ["--api-port", "--http-port", "--grpc-port"])
def test_up_names_the_taken_port_and_its_option(taken: int, tmp_path: Path, option: str) -> None:
    ports = {"--api-port": "0", **ZERO, option: str(taken)}
    args = ["up", "--home", str(tmp_path / "home"), *(a for kv in ports.items() for a in kv)]
    assert_refused(args, option, taken)
    # It stopped before touching its state: no store, no certificates, no kubeconfig.
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == ["up.lock"]


def test_two_ports_of_one_process_given_the_same_number_are_refused(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on once this block ends
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    serve = ["serve", "--storage-uri", str(tmp_path), "--http-port", port, "--grpc-port", port]
    assert_refused(serve, "--grpc-port", int(port))
    home = str(tmp_path / "home")
    up = ["up", "--home", home, "--api-port", port, "--http-port", port, "--grpc-port", "0"]
    assert_refused(up, "--http-port", int(port))

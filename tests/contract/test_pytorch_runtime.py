"""The PyTorch runtime's own promises: signatures, positional inputs, devices, torch's errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelplane.core import errors
from modelplane.core.inference import InferRequest, InferResponse
from modelplane.runtimes import selector
from modelplane.runtimes.pytorch import PyTorchModel
from tests.contract.checks import assert_answers, v2_request
from tests.contract.runtime_cases import RuntimeCase
from tests.support import tensor_models


def load(model_dir: Path, **options: object) -> PyTorchModel:
    model = selector.create_model("m", model_dir, options=options)
    assert isinstance(model, PyTorchModel)
    model.load()
    return model


@pytest.fixture
def script_case(runtime_case_store: dict[str, RuntimeCase]) -> RuntimeCase:
    return runtime_case_store["pytorch-script"]


@pytest.fixture
def bare_script(script_case: RuntimeCase, tmp_path: Path) -> PyTorchModel:
    """The TorchScript scorer without its sidecar: nothing declared."""
    assert script_case.model_file is not None
    shutil.copy(script_case.model_file, tmp_path / "model.pt")
    return load(tmp_path)


def test_an_exported_program_describes_its_outputs(
    runtime_case_store: dict[str, RuntimeCase],
) -> None:
    model = load(runtime_case_store["pytorch-export"].model_dir)

    assert model.get_output_types() == [
        {"name": "output-0", "datatype": "FP32", "shape": [-1, 3]},
        {"name": "output-1", "datatype": "INT64", "shape": [-1]},
    ]


def test_the_sidecar_names_the_outputs(script_case: RuntimeCase) -> None:
    model = load(script_case.model_dir)

    assert model.get_output_types() == tensor_models.SCORER_SIDECAR["outputs"]


def test_without_a_sidecar_inputs_go_in_order_and_outputs_are_numbered(
    script_case: RuntimeCase, bare_script: PyTorchModel
) -> None:
    inputs = {f"any-name-{i}": array for i, array in enumerate(script_case.inputs.values())}

    response = bare_script.predict(v2_request(inputs))

    assert (bare_script.get_input_types(), bare_script.get_output_types()) == ([], [])
    expected = script_case.reference(script_case.inputs).values()
    assert_answers(response, dict(zip(["output-0", "output-1"], expected, strict=True)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"features": np.zeros((2, 3), np.float32)}, r"mat1 and mat2 shapes cannot be multiplied"),
        ({"features": np.zeros((2, 4), np.float64)}, r"(?i)double|dtype"),
    ],
    ids=["shape", "dtype"],
)
def test_torchs_own_refusal_is_invalid_input_saying_what_to_fix(
    script_case: RuntimeCase, bare_script: PyTorchModel, change: dict[str, Any], message: str
) -> None:
    inputs = {**script_case.inputs, **change}
    inputs["counts"] = inputs["counts"][:2]

    with pytest.raises(errors.InvalidInput, match=message) as caught:
        bare_script.predict(v2_request(inputs))

    assert "Traceback" not in str(caught.value)


def test_outputs_may_be_a_dict(tmp_path: Path) -> None:
    import torch

    class Halves(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"half": x / 2, "double": x * 2}

    torch.jit.script(Halves()).save(str(tmp_path / "model.pt"))
    request = v2_request({"x": np.arange(4, dtype=np.float32)})

    response = load(tmp_path).predict(request)

    assert isinstance(response, InferResponse)
    assert {output.name: output.as_numpy().tolist() for output in response.outputs} == {
        "half": [0, 0.5, 1, 1.5],
        "double": [0, 2, 4, 6],
    }


def test_a_checkpoint_is_refused_with_how_to_save_a_program(tmp_path: Path) -> None:
    import torch

    torch.save(tensor_models.scorer().state_dict(), tmp_path / "model.pt")

    with pytest.raises(errors.ModelLoadError, match=r"TorchScript program.*torch\.jit\.script"):
        load(tmp_path)


@pytest.mark.parametrize(
    ("sidecar", "message"),
    [
        ("{not json", "cannot read .*model.json as JSON"),
        ('{"inputs": [{"name": "x", "datatype": "FLOAT", "shape": [1]}]}', "datatype 'FLOAT'"),
        ('{"inputs": [{"name": "x", "datatype": "FP32", "shape": "any"}]}', "-1 for any size"),
        ('{"outputs": {"name": "y"}}', '"outputs" must be a list'),
    ],
)
def test_a_bad_sidecar_is_a_load_error_naming_it(
    script_case: RuntimeCase, tmp_path: Path, sidecar: str, message: str
) -> None:
    assert script_case.model_file is not None
    shutil.copy(script_case.model_file, tmp_path / "model.pt")
    (tmp_path / "model.json").write_text(sidecar)

    with pytest.raises(errors.ModelLoadError, match=message):
        load(tmp_path)


def test_metadata_json_is_read_too(script_case: RuntimeCase, tmp_path: Path) -> None:
    assert script_case.model_file is not None
    shutil.copy(script_case.model_file, tmp_path / "model.pt")
    (tmp_path / "metadata.json").write_text(json.dumps(tensor_models.SCORER_SIDECAR))

    assert load(tmp_path).get_input_types() == tensor_models.SCORER_SIDECAR["inputs"]


def test_it_runs_on_the_cpu_unless_told_otherwise(script_case: RuntimeCase) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the default is cuda")
    model = load(script_case.model_dir)

    response = model.predict(v2_request(script_case.inputs))

    assert isinstance(response, InferResponse)
    assert str(model.device_used) == "cpu"


@pytest.mark.parametrize(("device", "message"), [("cuda:7", "CUDA device"), ("gpu", "unknown")])
def test_a_device_it_cannot_use_is_a_load_error(
    script_case: RuntimeCase, device: str, message: str
) -> None:
    with pytest.raises(errors.ModelLoadError, match=message):
        load(script_case.model_dir, device=device)


def test_threads_set_torchs_thread_count(script_case: RuntimeCase) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        load(script_case.model_dir, threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_bytes_are_refused_naming_the_input(bare_script: PyTorchModel) -> None:
    request = InferRequest("m", v2_request({"x": np.array([b"a"], dtype=np.object_)}).inputs)

    with pytest.raises(errors.InvalidInput, match="input #0 is BYTES"):
        bare_script.predict(request)

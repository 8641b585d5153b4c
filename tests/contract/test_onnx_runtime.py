"""The ONNX runtime's own promises: the graph's signature, threads, devices, odd outputs."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from modelplane.core import errors
from modelplane.core.inference import InferInput, InferRequest, InferResponse
from modelplane.runtimes import selector
from modelplane.runtimes.onnx import ONNXModel
from tests.contract.runtime_cases import RuntimeCase
from tests.support import models


@pytest.fixture
def iris_case(runtime_case_store: dict[str, RuntimeCase]) -> RuntimeCase:
    return runtime_case_store["onnx-iris"]


def load(model_dir: Path, **options: object) -> ONNXModel:
    model = selector.create_model("m", model_dir, options=options)
    assert isinstance(model, ONNXModel)
    model.load()
    return model


def test_metadata_is_the_graphs(runtime_case_store: dict[str, RuntimeCase]) -> None:
    iris = load(runtime_case_store["onnx-iris"].model_dir)
    add_mul = load(runtime_case_store["onnx-add-mul"].model_dir)

    assert iris.get_output_types() == [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]},
    ]
    assert add_mul.get_input_types() == [
        {"name": "a", "datatype": "FP32", "shape": [-1, 3]},
        {"name": "b", "datatype": "FP32", "shape": [-1, 3]},
    ]
    assert [spec["datatype"] for spec in add_mul.get_output_types()] == ["FP32", "FP32", "BOOL"]


def test_labels_are_the_sklearn_models(iris_case: RuntimeCase) -> None:
    result = load(iris_case.model_dir).predict({"instances": models.IRIS_ROWS})

    assert result == {"predictions": [0, 2]}


def test_threads_set_the_sessions_intra_op_threads(iris_case: RuntimeCase) -> None:
    options = load(iris_case.model_dir, threads=1).session_options

    assert options.intra_op_num_threads == 1


@pytest.mark.parametrize(
    ("device", "message"),
    [("cuda", "onnxruntime-gpu.*--device cpu"), ("cuda:1", "CUDA"), ("tpu", "unknown device")],
)
def test_a_device_it_cannot_use_is_a_load_error(
    iris_case: RuntimeCase, device: str, message: str
) -> None:
    with pytest.raises(errors.ModelLoadError, match=message):
        load(iris_case.model_dir, device=device)


def test_cpu_may_be_asked_for(iris_case: RuntimeCase) -> None:
    assert load(iris_case.model_dir, device="cpu").ready


def test_outputs_that_are_not_tensors_are_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    features, labels = models.iris()
    estimator = LogisticRegression(max_iter=1000).fit(features, labels)
    # skl2onnx's default: probabilities as a sequence of maps (its ZipMap operator).
    graph = to_onnx(estimator, features[:1].astype(np.float32), target_opset=17)
    (tmp_path / "model.onnx").write_bytes(graph.SerializeToString())

    with caplog.at_level(logging.WARNING):
        model = load(tmp_path)

    assert [spec["name"] for spec in model.get_output_types()] == ["output_label"]
    assert "output_probability" in caplog.text
    assert model.predict({"instances": models.IRIS_ROWS}) == {"predictions": [0, 2]}


def test_strings_go_in_and_out_as_bytes(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    def value(name: str) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.STRING, [None])

    graph = helper.make_graph(
        [helper.make_node("Identity", ["text"], ["same"])], "echo", [value("text")], [value("same")]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "model.onnx"))
    echo = load(tmp_path)

    response = echo.predict(InferRequest("m", [InferInput("text", [2], "BYTES", ["héllo", "b"])]))

    assert isinstance(response, InferResponse)
    [output] = response.outputs
    assert output.datatype == "BYTES"
    assert output.as_numpy().tolist() == ["héllo".encode(), b"b"]


def test_a_file_that_is_not_onnx_is_a_load_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"not a graph")

    with pytest.raises(
        errors.ModelLoadError, match=r"cannot load .*model\.onnx with the onnx runtime"
    ):
        load(tmp_path)


def test_inputs_sharing_a_named_dimension_must_agree(
    runtime_case_store: dict[str, RuntimeCase],
) -> None:
    # Both inputs fit [-1, 3], but the graph names their first dimension N in both.
    add_mul = load(runtime_case_store["onnx-add-mul"].model_dir)
    a = InferInput("a", [2, 3], "FP32", np.ones((2, 3), dtype=np.float32))
    b = InferInput("b", [3, 3], "FP32", np.ones((3, 3), dtype=np.float32))

    with pytest.raises(errors.InvalidInput, match=r"'b' has 3 .* 'N', which is 2 in input 'a'"):
        add_mul.predict(InferRequest("m", [a, b]))

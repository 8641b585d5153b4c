"""The `kserve` package's own clients against a real modelplane server.

`InferenceRESTClient` (V1 and V2) and `InferenceGRPCClient` drive the built-in sklearn runtime and
custom models written exactly as KServe's docs and examples write them, importing from
`modelplane` (`kserve_style_models.py`). Every answer must equal scikit-learn's own `predict` and
the V1 answer for the same rows. The last tests load the custom models' source with its import
switched back to `kserve` and check that both versions answer alike: porting is changing the
import.

This module imports `kserve` and never tritonclient: both register the same `inference.*` protobuf
names in protobuf's default pool, so they cannot share a process.
"""

from __future__ import annotations

import base64
import importlib.util
import inspect
import re
from typing import Any

import grpc
import httpx
import kserve
import numpy as np
import pytest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as kserve_pb
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc as kserve_pb_grpc
from kserve.protocol.infer_type import RequestedOutput

from tests.integration.kserve_client import kserve_style_models
from tests.support.models import IRIS_ROWS
from tests.support.serving import RunningServer

Array = np.ndarray[Any, Any]
IRIS = "sklearn-iris"
CUSTOM = "kserve-iris"
ROWS = np.array(IRIS_ROWS, dtype=np.float64)


def rest(protocol: str) -> kserve.InferenceRESTClient:
    return kserve.InferenceRESTClient(kserve.RESTConfig(protocol=protocol, retries=0))


def iris_request(
    model: str, binary: bool, outputs: list[str] | None = None, **kwargs: Any
) -> kserve.InferRequest:
    tensor = kserve.InferInput("input-0", list(ROWS.shape), "FP64")
    tensor.set_data_from_numpy(ROWS, binary_data=binary)
    requested = [RequestedOutput(name) for name in outputs] if outputs else None
    return kserve.InferRequest(model, [tensor], request_outputs=requested, **kwargs)


def contents_request(model: str) -> kserve.InferRequest:
    """Rows as a plain list, which the gRPC client sends in typed `fp64_contents`, not raw."""
    tensor = kserve.InferInput("input-0", list(ROWS.shape), "FP64", data=ROWS.ravel().tolist())
    return kserve.InferRequest(model, [tensor])


async def v1_predictions(server: RunningServer, model: str) -> list[Any]:
    async with rest("v1") as client:
        result = await client.infer(server.http_url, {"instances": IRIS_ROWS}, model_name=model)
    predictions: list[Any] = result["predictions"]
    return predictions


# --- health ----------------------------------------------------------------------------------


async def test_rest_v1_health(iris_server: RunningServer) -> None:
    async with rest("v1") as client:
        assert await client.is_server_live(iris_server.http_url)
        assert await client.is_model_ready(iris_server.http_url, IRIS)
        with pytest.raises(httpx.HTTPStatusError) as unknown:
            await client.is_model_ready(iris_server.http_url, "no-such-model")
    assert unknown.value.response.status_code == 404


async def test_rest_v2_health(iris_server: RunningServer) -> None:
    async with rest("v2") as client:
        assert await client.is_server_live(iris_server.http_url)
        assert await client.is_server_ready(iris_server.http_url)
        assert await client.is_model_ready(iris_server.http_url, IRIS)
        assert not await client.is_model_ready(iris_server.http_url, "no-such-model")


async def test_grpc_health(iris_server: RunningServer) -> None:
    async with kserve.InferenceGRPCClient(iris_server.grpc_target, retries=0) as client:
        assert await client.is_server_live()
        assert await client.is_server_ready()
        assert await client.is_model_ready(IRIS)
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await client.is_model_ready("no-such-model")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


# --- the built-in sklearn runtime ---------------------------------------------------------------


async def test_rest_v1_infer(iris_server: RunningServer, iris_estimator: Any) -> None:
    assert await v1_predictions(iris_server, IRIS) == iris_estimator.predict(ROWS).tolist()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
async def test_rest_v2_infer(iris_server: RunningServer, iris_estimator: Any, binary: bool) -> None:
    request = iris_request(
        IRIS,
        binary,
        outputs=["output-0", "predict_proba"],
        request_id=f"kserve-rest-{binary}",
        parameters={"binary_data_output": True} if binary else None,
    )
    response_headers: dict[str, str] = {}
    async with rest("v2") as client:
        response = await client.infer(
            iris_server.http_url, request, model_name=IRIS, response_headers=response_headers
        )
    assert response.id == f"kserve-rest-{binary}"
    assert response.model_name == IRIS
    # binary outputs come back after the JSON header, which the header length marks
    assert ("inference-header-content-length" in response_headers) is binary
    classes, proba = (response.get_output_by_name(name) for name in ("output-0", "predict_proba"))
    assert classes is not None and proba is not None
    assert classes.as_numpy().tolist() == await v1_predictions(iris_server, IRIS)
    assert classes.as_numpy().tolist() == iris_estimator.predict(ROWS).tolist()
    np.testing.assert_allclose(
        proba.as_numpy(), iris_estimator.predict_proba(ROWS), rtol=0, atol=1e-9
    )


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "contents"])
async def test_grpc_infer(iris_server: RunningServer, iris_estimator: Any, raw: bool) -> None:
    request = iris_request(IRIS, binary=True) if raw else contents_request(IRIS)
    request.id = f"kserve-grpc-{raw}"
    async with kserve.InferenceGRPCClient(iris_server.grpc_target, retries=0) as client:
        response = await client.infer(request)
    assert response.id == f"kserve-grpc-{raw}"
    assert response.model_name == IRIS
    (output,) = response.outputs
    assert output.name == "output-0"
    assert output.as_numpy().tolist() == iris_estimator.predict(ROWS).tolist()
    assert output.as_numpy().tolist() == await v1_predictions(iris_server, IRIS)


async def test_grpc_errors_carry_status_codes(iris_server: RunningServer) -> None:
    bad = kserve.InferInput("input-0", [2, 3], "FP64")
    bad.set_data_from_numpy(np.zeros((2, 3)))
    async with kserve.InferenceGRPCClient(iris_server.grpc_target, retries=0) as client:
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await client.infer(iris_request("no-such-model", binary=True))
        with pytest.raises(grpc.aio.AioRpcError) as bad_shape:
            await client.infer(kserve.InferRequest(IRIS, [bad]))
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert bad_shape.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "4 features" in (bad_shape.value.details() or "")


async def test_rest_v2_errors_carry_status_codes(iris_server: RunningServer) -> None:
    async with rest("v2") as client:
        with pytest.raises(httpx.HTTPStatusError) as unknown:
            await client.infer(
                iris_server.http_url, iris_request(IRIS, False), model_name="no-such-model"
            )
    assert unknown.value.response.status_code == 404
    assert "no-such-model" in unknown.value.response.json()["error"]


# --- a custom model written the KServe way ---------------------------------------------------


async def test_kserve_style_model_answers_every_client(
    kserve_model_server: RunningServer, iris_server: RunningServer, iris_estimator: Any
) -> None:
    url = kserve_model_server.http_url
    expected = await v1_predictions(iris_server, IRIS)
    assert expected == iris_estimator.predict(ROWS).tolist()

    answers: dict[str, list[Any]] = {"v1": await v1_predictions(kserve_model_server, CUSTOM)}
    async with rest("v2") as client:
        for binary in (False, True):
            response = await client.infer(url, iris_request(CUSTOM, binary), model_name=CUSTOM)
            answers[f"v2-rest-binary={binary}"] = response.outputs[0].as_numpy().tolist()
    async with kserve.InferenceGRPCClient(kserve_model_server.grpc_target, retries=0) as client:
        assert await client.is_model_ready(CUSTOM)
        raw = await client.infer(iris_request(CUSTOM, binary=True))
        typed = await client.infer(contents_request(CUSTOM))
    answers["grpc-raw"] = raw.outputs[0].as_numpy().tolist()
    answers["grpc-contents"] = typed.outputs[0].as_numpy().tolist()
    for protocol, answer in answers.items():
        assert answer == expected, protocol
    np.testing.assert_allclose(
        raw.get_output_by_name("probabilities").as_numpy(),
        iris_estimator.predict_proba(ROWS),
        rtol=0,
        atol=1e-9,
    )


async def test_kserve_style_model_may_write_request_headers(
    kserve_model_server: RunningServer, iris_estimator: Any
) -> None:
    """KServe hands every stage one mutable dict of headers; its examples tag the request in
    `preprocess` (`headers["request-type"] = "v1"`) and read the tag in `postprocess`."""
    name = "kserve-iris-tagging"
    async with rest("v1") as client:
        v1 = await client.infer(
            kserve_model_server.http_url, {"instances": IRIS_ROWS}, model_name=name
        )
    async with rest("v2") as client:
        v2_rest = await client.infer(
            kserve_model_server.http_url, iris_request(name, binary=False), model_name=name
        )
    async with kserve.InferenceGRPCClient(kserve_model_server.grpc_target, retries=0) as client:
        v2_grpc = await client.infer(iris_request(name, binary=True))
    expected = iris_estimator.predict(ROWS).tolist()
    assert v1 == {"predictions": expected, "request-type": "v1"}
    assert v2_rest.outputs[0].as_numpy().tolist() == expected
    assert v2_grpc.outputs[0].as_numpy().tolist() == expected


async def test_kserve_style_model_reads_from_grpc(kserve_model_server: RunningServer) -> None:
    """KServe's `custom_model` example reads BYTES as raw bytes when `payload.from_grpc` and as
    base64 text otherwise."""
    name, text = "kserve-text", b"\x89PNG not really an image"
    over_rest = kserve.InferInput("text", [1], "BYTES", data=[base64.b64encode(text).decode()])
    over_grpc = kserve.InferInput("text", [1], "BYTES", data=[text])
    async with rest("v2") as client:
        rest_answer = await client.infer(
            kserve_model_server.http_url, kserve.InferRequest(name, [over_rest]), model_name=name
        )
    async with kserve.InferenceGRPCClient(kserve_model_server.grpc_target, retries=0) as client:
        grpc_answer = await client.infer(kserve.InferRequest(name, [over_grpc]))
    assert rest_answer.outputs[0].as_numpy().tolist() == [len(text)]
    assert grpc_answer.outputs[0].as_numpy().tolist() == [len(text)]


async def test_kserve_style_model_output_selection(kserve_model_server: RunningServer) -> None:
    request = iris_request(CUSTOM, binary=True, outputs=["probabilities"], request_id="pick-1")
    async with kserve.InferenceGRPCClient(kserve_model_server.grpc_target, retries=0) as client:
        response = await client.infer(request)
    assert response.id == "pick-1"
    assert [output.name for output in response.outputs] == ["probabilities"]
    assert response.outputs[0].as_numpy().shape == (len(IRIS_ROWS), 3)


async def test_kserve_layout_repository_unload_and_load(reload_server: RunningServer) -> None:
    """KServe's gRPC repository messages put the model name in field 1; the server must read it
    there (Triton's client uses field 2)."""
    name = "kserve-iris-reload"
    async with grpc.aio.insecure_channel(reload_server.grpc_target) as channel:
        stub = kserve_pb_grpc.GRPCInferenceServiceStub(channel)
        unloaded = await stub.RepositoryModelUnload(
            kserve_pb.RepositoryModelUnloadRequest(model_name=name)
        )
        not_ready = await stub.ModelReady(kserve_pb.ModelReadyRequest(name=name))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ModelInfer(iris_request(name, binary=True).to_grpc())
        loaded = await stub.RepositoryModelLoad(
            kserve_pb.RepositoryModelLoadRequest(model_name=name)
        )
        ready = await stub.ModelReady(kserve_pb.ModelReadyRequest(name=name))
        answer = kserve.InferResponse.from_grpc(
            await stub.ModelInfer(iris_request(name, binary=True).to_grpc())
        )
    assert (unloaded.model_name, unloaded.isUnloaded) == (name, True)
    assert not not_ready.ready
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert (loaded.model_name, loaded.isLoaded) == (name, True)
    assert ready.ready
    assert answer.outputs[0].as_numpy().tolist() == [0, 2]


def _import_with_kserve() -> Any:
    """`kserve_style_models` as a KServe user has it: the same source, importing from kserve."""
    source = inspect.getsource(kserve_style_models)
    ported, changed = re.subn(
        r"^from modelplane import ", "from kserve import ", source, flags=re.M
    )
    assert changed == 1
    assert not re.search(r"^(from|import) modelplane", ported, flags=re.M)
    spec = importlib.util.spec_from_loader("kserve_style_models_on_kserve", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(ported, "kserve_style_models_on_kserve.py", "exec"), module.__dict__)
    return module


async def test_the_same_source_runs_on_kserve_and_modelplane(
    kserve_model_server: RunningServer,
) -> None:
    module = _import_with_kserve()
    on_kserve = module.IrisModel(CUSTOM)
    assert isinstance(on_kserve, kserve.Model)
    assert on_kserve.load() and on_kserve.ready

    v1_on_kserve = on_kserve.predict({"instances": IRIS_ROWS})
    v2_on_kserve = on_kserve.predict(iris_request(CUSTOM, binary=True, request_id="same-1"))
    assert isinstance(v2_on_kserve, kserve.InferResponse)

    async with kserve.InferenceGRPCClient(kserve_model_server.grpc_target, retries=0) as client:
        served = await client.infer(iris_request(CUSTOM, binary=True, request_id="same-1"))
    assert v1_on_kserve == {"predictions": await v1_predictions(kserve_model_server, CUSTOM)}
    assert served.id == v2_on_kserve.id == "same-1"
    for name in ("output-0", "probabilities"):
        mine, theirs = served.get_output_by_name(name), v2_on_kserve.get_output_by_name(name)
        assert mine is not None and theirs is not None
        assert (mine.datatype, list(mine.shape)) == (theirs.datatype, list(theirs.shape))
        np.testing.assert_array_equal(mine.as_numpy(), theirs.as_numpy())


def test_the_kserve_idioms_are_valid_kserve() -> None:
    """The header-tagging and `from_grpc` models run as written on KServe's own classes, so a
    failure of theirs on modelplane is modelplane's."""
    module = _import_with_kserve()
    tagging = module.TaggingIrisModel("tagging")
    tagging.load()
    headers: dict[str, str] = {}
    payload = tagging.preprocess({"instances": IRIS_ROWS}, headers)
    answer = tagging.postprocess(tagging.predict(payload, headers), headers)
    assert answer == {"predictions": [0, 2], "request-type": "v1"}

    text_model, text = module.Base64TextModel("text"), b"\x89PNG not really an image"
    over_grpc = kserve.InferInput("text", [1], "BYTES", data=[text])
    over_rest = kserve.InferInput("text", [1], "BYTES", data=[base64.b64encode(text).decode()])
    for request in (
        kserve.InferRequest("text", [over_grpc], from_grpc=True),
        kserve.InferRequest("text", [over_rest], from_grpc=False),
    ):
        assert text_model.predict(request).outputs[0].as_numpy().tolist() == [len(text)]

"""`modelplane serve --predictor_host`: a KServe transformer class and the built-in SHAP
explainer in front of a real sklearn predictor, over v1, v2 and grpc-v2 (no control plane: the
predictor's own address stands in for the gateway)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelplane.server.settings import ServerSettings
from tests.integration.kserve_client.kserve_transformer import IrisTransformer
from tests.support.models import IRIS_ROWS
from tests.support.serving import RunningServer, serving
from tests.support.serving import test_settings as server_settings

CLASS = "tests.integration.kserve_client.kserve_transformer:IrisTransformer"
V1_BODY = {"instances": [{"sepal": r[:2], "petal": r[2:]} for r in IRIS_ROWS]}


@pytest.fixture(scope="module")
def predictor(iris_dir: Path) -> Iterator[RunningServer]:
    with serving(server_settings(model_name="iris", storage_uri=str(iris_dir))) as running:
        yield running


def linked(predictor: RunningServer, protocol: str, **fields: object) -> ServerSettings:
    address = predictor.grpc_target if protocol == "grpc-v2" else predictor.http_url[7:]
    return server_settings(
        model_name="iris", predictor_host="iris-predictor.default", predictor_protocol=protocol,
        predictor_address=address, **fields,
    )  # fmt: skip


@pytest.mark.parametrize("protocol", ["v1", "v2", "grpc-v2"])
def test_a_kserve_transformer_runs_unchanged(predictor: RunningServer, protocol: str) -> None:
    with serving(linked(predictor, protocol, model_class=CLASS)) as transformer:
        model = transformer.srv.repository.get("iris")
        assert isinstance(model, IrisTransformer) and model.protocol == protocol
        answer = httpx.post(f"{transformer.http_url}/v1/models/iris:predict", json=V1_BODY)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": ["setosa", "virginica"]}
        v2_body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64",
                               "data": [x for row in IRIS_ROWS for x in row]}]}  # fmt: skip
        answer = httpx.post(f"{transformer.http_url}/v2/models/iris/infer", json=v2_body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == ["setosa", "virginica"]


def test_a_predictor_refusal_keeps_its_status(predictor: RunningServer) -> None:
    with serving(linked(predictor, "v1", model_class=CLASS)) as transformer:
        bad = {"instances": [{"sepal": [1.0], "petal": []}]}
        answer = httpx.post(f"{transformer.http_url}/v1/models/iris:predict", json=bad)
        assert answer.status_code == 400, answer.text
        assert "predictor iris-predictor.default answered 400" in answer.json()["error"]


def test_an_unreachable_predictor_is_503(predictor: RunningServer) -> None:
    settings = server_settings(
        model_name="iris", model_class=CLASS, predictor_host="iris-predictor.default",
        predictor_address="127.0.0.1:9",
    )  # fmt: skip
    with serving(settings) as transformer:
        answer = httpx.post(f"{transformer.http_url}/v1/models/iris:predict", json=V1_BODY)
        assert answer.status_code == 503, answer.text


@pytest.mark.parametrize("kind", ["KernelExplainer", "PermutationExplainer"])
def test_the_shap_explainer_explains_the_predictor(
    predictor: RunningServer, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPLANE_EXPLAINER_CONFIG", f'{{"type": "{kind}", "nsamples": "64"}}')
    settings = linked(
        predictor, "v1", model_class="modelplane.runtimes.shap_explainer:ShapExplainer"
    )
    with serving(settings) as explainer:
        answer = httpx.post(
            f"{explainer.http_url}/v1/models/iris:explain", json={"instances": IRIS_ROWS},
            timeout=60,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        doc = answer.json()
        assert doc["explainer"] == f"shap.{kind}"
        assert doc["predictions"] == [0, 2]
        values = doc["shap_values"]
        assert len(values) == 2 and all(len(row) == 4 for row in values)
        # SHAP's efficiency property: each row's values sum to its prediction less the base.
        for row, prediction, base in zip(
            values, doc["predictions"], doc["base_values"], strict=True
        ):
            assert sum(row) == pytest.approx(prediction - base, abs=1e-6)

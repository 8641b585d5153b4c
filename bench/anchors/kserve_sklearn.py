"""KServe's sklearn predictor as KServe's sklearnserver builds it, on KServe's own ModelServer.

A `kserve.Model` that loads `model.joblib` from `--model_dir` and predicts with
`kserve.utils.utils.get_predict_input` / `get_predict_response`, so V1 (`{"instances"}`),
V2 REST and gRPC requests take the same code path they take in KServe's sklearn image.
KServe's own options (`--http_port`, `--grpc_port`, ...) are parsed by KServe itself.

    python bench/anchors/kserve_sklearn.py --model_name sklearn-iris --model_dir DIR \
        --http_port 8080 --grpc_port 8081
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import joblib
import kserve
import kserve_loopback
from kserve.errors import InferenceError, ModelMissingError
from kserve.utils.utils import get_predict_input, get_predict_response


class SKLearnIris(kserve.Model):  # type: ignore[misc]
    def __init__(self, name: str, model_dir: str) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self.ready = False

    def load(self) -> bool:
        files = sorted(
            p for p in Path(self.model_dir).iterdir() if p.suffix in (".joblib", ".pkl", ".pickle")
        )
        if len(files) != 1:
            raise ModelMissingError(self.model_dir)
        self._model = joblib.load(files[0])
        self.ready = True
        return self.ready

    def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        try:
            instances = get_predict_input(payload)
            result = self._model.predict(instances)
            return get_predict_response(payload, result, self.name)
        except Exception as exc:
            raise InferenceError(str(exc)) from exc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_dir", required=True)
    args, _ = parser.parse_known_args()
    model = SKLearnIris(args.model_name, args.model_dir)
    model.load()
    kserve_loopback.serve([model])

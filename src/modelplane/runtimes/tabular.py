"""The shared base of tabular runtimes: one model file in, rows in, one prediction per row out.

scikit-learn, XGBoost and LightGBM differ only in how they read a file and score an array, so
this base owns everything else once: finding the model file, turning framework errors into
modelplane's error tree, checking the feature count, answering V1 or V2 in the payload's kind,
`predict_proba`, and V2 metadata. A runtime subclass reads the file, counts the features and
scores an array: three small hooks (plus two for `predict_proba`, where the framework has it).
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from modelplane.core import errors, model
from modelplane.core.inference import InferRequest, InferResponse
from modelplane.runtimes import files, rows

PROBA = "predict_proba"
OUTPUT = "output-0"


class TabularModel(files.SingleFile, model.Model, abc.ABC):
    """A model read from one file in `model_dir`, scoring a 2-D array of features."""

    #: The datatype V2 metadata advertises for the input (any numeric tensor is accepted).
    input_datatype: ClassVar[str] = "FP64"

    def __init__(self, name: str, model_dir: Path | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.model_dir = model_dir
        self.model_file: Path | None = None
        self.n_features: int | None = None
        self._model: Any = None
        self._outputs: list[dict[str, Any]] = []

    def load(self) -> bool:
        path = self.find_model_file(self.model_dir)
        self._model = files.open_with(
            self.platform,
            path,
            self._read,
            f"cannot load {path} as a {self.platform} model",
            _summary,
        )
        self.model_file = path
        self.n_features = self._feature_count()
        self._outputs = self._probe_outputs()
        self.ready = True
        return self.ready

    def stop(self) -> None:
        self._model = None
        super().stop()

    def predict(self, payload: Any, headers: model.Headers | None = None) -> model.Result:
        if self._model is None:
            raise errors.ModelNotReady(self.name)
        array = rows.decode(payload, self.name)
        if self.n_features is not None and array.shape[1] != self.n_features:
            raise errors.InvalidInput(
                f"model '{self.name}' expects {self.n_features} features per row, "
                f"got {array.shape[1]}"
            )
        if not isinstance(payload, InferRequest):
            return rows.to_v1(self._score(array, rows.proba_requested(payload)))
        outputs = [
            rows.to_output(name, self._score(array, proba))
            for name, proba in self._wanted_outputs(payload)
        ]
        return InferResponse(
            response_id=payload.id,
            model_name=self.name,
            infer_outputs=outputs,
            model_version=self.version,
        )

    def get_input_types(self) -> list[dict[str, Any]]:
        if self.n_features is None:
            return []
        return [
            {"name": "input-0", "datatype": self.input_datatype, "shape": [-1, self.n_features]}
        ]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [dict(spec) for spec in self._outputs]

    @abc.abstractmethod
    def _read(self, path: Path) -> Any:
        """Deserialise the model file; import the framework here, never at module level."""

    @abc.abstractmethod
    def _feature_count(self) -> int | None:
        """How many features the loaded model takes, when the framework records it."""

    @abc.abstractmethod
    def _predict(self, array: rows.Array) -> Any:
        """The framework's own predict on a 2-D float array."""

    def _data_errors(self) -> tuple[type[Exception], ...]:
        """What the framework raises for data it cannot score: the client's fault, so a 400."""
        return (ValueError, TypeError)

    def _can_predict_proba(self) -> bool:
        return False

    def _predict_proba(self, array: rows.Array) -> Any:
        raise errors.InvalidInput(
            f"model '{self.name}' ({self.platform}) has no predict_proba: its predict already "
            "returns what its objective yields (class probabilities for a classifier); "
            "drop the predict_proba parameter"
        )

    def _score(self, array: rows.Array, proba: bool) -> rows.Array:
        try:
            result = self._predict_proba(array) if proba else self._predict(array)
        except errors.ModelplaneError:
            raise
        except self._data_errors() as exc:
            raise errors.InvalidInput(
                f"model '{self.name}' cannot score this input: {_summary(exc)}"
            ) from exc
        except Exception as exc:  # valid-looking input, failing model: a fault in the model
            raise errors.InferenceError(
                f"model '{self.name}' failed: {type(exc).__name__}: {_summary(exc)}"
            ) from exc
        return np.asarray(result)

    def _wanted_outputs(self, request: InferRequest) -> list[tuple[str, bool]]:
        """(output name, whether it holds probabilities) for each output the request wants."""
        default_proba = rows.proba_requested(request)
        if not request.request_outputs:
            return [(OUTPUT, default_proba)]
        available = {OUTPUT: default_proba, PROBA: True}
        wanted = []
        for requested in request.request_outputs:
            if requested.name not in available:
                known = [OUTPUT, PROBA] if self._can_predict_proba() else [OUTPUT]
                raise errors.InvalidInput(
                    f"model '{self.name}' has no output '{requested.name}'; "
                    f"ask for {' or '.join(known)}"
                )
            wanted.append((requested.name, available[requested.name]))
        return wanted

    def _probe_outputs(self) -> list[dict[str, Any]]:
        # Scoring one row of zeros shows the output's dtype and width exactly as requests will
        # see them, without a table of objectives per framework that would drift from reality.
        if self.n_features is None:
            return []
        probe = np.zeros((1, self.n_features), dtype=np.float64)
        specs = []
        kinds = [(OUTPUT, False)] + ([(PROBA, True)] if self._can_predict_proba() else [])
        for name, proba in kinds:
            try:
                tensor = rows.to_output(name, self._score(probe, proba))
            except errors.ModelplaneError:
                continue  # metadata is a courtesy: a model that cannot score zeros still serves
            specs.append(
                {"name": name, "datatype": tensor.datatype, "shape": [-1, *tensor.shape[1:]]}
            )
        return specs


def _summary(exc: BaseException) -> str:
    """The first line of an exception's message: XGBoost appends a whole native stack trace."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__

"""The shared base of tensor runtimes (ONNX, PyTorch): one model file, named tensors in and out.

ONNX Runtime and PyTorch differ in how they open a file, what they know of its signature and how
they run arrays, so this base owns the rest once: finding the model file, turning framework
errors into modelplane's error tree, matching a V2 request to the inputs by name (or a V1 body to
the one input), choosing the outputs a request asks for, answering in the payload's kind, and V2
metadata. It also reads the `device` option, which both runtimes take the same way.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelplane.core import errors, model
from modelplane.core.inference import InferRequest, InferResponse
from modelplane.runtimes import files, tensors
from modelplane.runtimes.tensors import Array, TensorSpec

Signature = tuple[list[TensorSpec], list[TensorSpec]]
#: Runs a model on its inputs in order; the outputs by name (as `TensorModel._run`).
Runner = Callable[[list[Array], list[str] | None], dict[str, Array]]


class TensorModel(files.SingleFile, model.Model, abc.ABC):
    """A model read from one file in `model_dir`, taking and giving named tensors."""

    def __init__(
        self,
        name: str,
        model_dir: Path | None = None,
        *,
        device: str | None = None,
        threads: int | None = None,
        **options: Any,
    ) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self.device = device
        self.threads = threads
        self.model_file: Path | None = None
        #: The inputs and outputs the model declares; empty when it does not say.
        self.inputs: list[TensorSpec] = []
        self.outputs: list[TensorSpec] = []

    def load(self) -> bool:
        path = self.find_model_file(self.model_dir)
        self.inputs, self.outputs = files.open_with(
            self.platform,
            path,
            self._open,
            f"cannot load {path} with the {self.platform} runtime",
            self._summary,
        )
        self.model_file = path
        self.ready = True
        return self.ready

    def stop(self) -> None:
        self._close()
        super().stop()

    def predict(self, payload: Any, headers: model.Headers | None = None) -> model.Result:
        if not self.ready:
            raise errors.ModelNotReady(self.name)
        if isinstance(payload, InferRequest):
            arrays = tensors.from_v2(payload, self.inputs, self.name)
            wanted = self._wanted(payload)
            results = self._guarded(arrays, wanted)
            outputs = [tensors.to_output(name, results[name]) for name in wanted or results]
            return InferResponse(payload.id, self.name, outputs, model_version=self.version)
        if isinstance(payload, dict):
            array = tensors.from_v1(payload, self.inputs, self.name)
            first = [self.outputs[0].name] if self.outputs else None
            results = self._guarded([array], first)
            return {"predictions": next(iter(results.values())).tolist()}
        raise errors.InvalidInput(
            f"model '{self.name}' takes a V1 JSON body or a V2 inference request, "
            f"not a {type(payload).__name__}"
        )

    def get_input_types(self) -> list[dict[str, Any]]:
        return [spec.metadata() for spec in self.inputs]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [spec.metadata() for spec in self.outputs]

    @abc.abstractmethod
    def _open(self, path: Path) -> Signature:
        """Load the model file (import the framework here) and return its inputs and outputs."""

    @abc.abstractmethod
    def _run(self, arrays: list[Array], wanted: list[str] | None) -> dict[str, Array]:
        """Run the model on the inputs in order; the outputs by name (at least the wanted ones)."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Drop the framework's session or module."""

    def _input_errors(self) -> tuple[type[Exception], ...]:
        """What the framework raises for inputs it cannot run: the client's fault, so a 400."""
        return (ValueError, TypeError)

    def _summary(self, exc: BaseException) -> str:
        text = " ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
        return text or type(exc).__name__

    def _wanted(self, request: InferRequest) -> list[str] | None:
        names = [output.name for output in request.request_outputs]
        known = [spec.name for spec in self.outputs]
        for name in names:
            if known and name not in known:
                raise errors.InvalidInput(
                    f"model '{self.name}' has no output '{name}'; its outputs are "
                    f"{', '.join(known)}"
                )
        return names or None

    def _guarded(
        self, arrays: list[Array], wanted: list[str] | None, run: Runner | None = None
    ) -> dict[str, Array]:
        """`run` (by default `_run`) on the inputs, its failures sorted into the error tree."""
        try:
            results = (run or self._run)(arrays, wanted)
        except errors.ModelplaneError:
            raise
        except self._input_errors() as exc:
            raise errors.InvalidInput(
                f"model '{self.name}' cannot run this input: {self._summary(exc)}; "
                f"compare it with the inputs GET /v2/models/{self.name} lists"
            ) from exc
        except Exception as exc:  # valid-looking input, failing model: a fault in the model
            raise errors.InferenceError(
                f"model '{self.name}' failed: {type(exc).__name__}: {self._summary(exc)}"
            ) from exc
        for name in wanted or ():
            if name not in results:
                raise errors.InvalidInput(
                    f"model '{self.name}' has no output '{name}'; it produced "
                    f"{', '.join(results) or 'nothing'}"
                )
        return results


def parse_device(device: str | None) -> tuple[str, int] | None:
    """`("cpu", 0)` or `("cuda", N)` from `cpu`, `cuda`, `cuda:N`; None when not given."""
    if device is None or not device.strip():
        return None
    kind, _, index = device.strip().lower().partition(":")
    if kind == "cpu" and not index:
        return ("cpu", 0)
    if kind == "cuda" and (not index or index.isdigit()):
        return ("cuda", int(index or 0))
    raise errors.ModelLoadError(f"unknown device '{device}'; pass cpu, cuda or cuda:N")

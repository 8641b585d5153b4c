"""The PyTorch runtime: a TorchScript program (`*.pt`) or a `torch.export` program (`*.pt2`).

Both are self-contained programs, so no Python class is needed to load them: `torch.jit.load`
reads TorchScript, `torch.export.load(...).module()` an exported program. A plain `torch.save`
checkpoint (a state dict or a pickled module) is not a program and is refused with the fix.

The model runs on `--device` (cpu, cuda, cuda:N), by default on the first GPU when PyTorch sees
one, under `torch.inference_mode()`. Inputs become tensors with `torch.from_numpy`, sharing the
request's memory where it is writable; outputs (a tensor, a tuple or list of tensors, or a dict
of tensors) come back as arrays named `output-N`, by their dict keys, or as a sidecar declares
(see `pytorch_signature`). `--threads` sets `torch.set_num_threads`, which is process-wide.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelplane.core import errors
from modelplane.runtimes import pytorch_signature, tensor_model
from modelplane.runtimes.tensors import Array, TensorSpec

_SAVE_HINT = (
    "save a program: torch.jit.script(model).save('model.pt'), or "
    "torch.export.save(torch.export.export(model, example_inputs), 'model.pt2')"
)


class PyTorchModel(tensor_model.TensorModel):
    """A TorchScript or `torch.export` program, run by PyTorch."""

    platform = "pytorch"
    model_extensions = (".pt", ".pt2")

    _module: Any = None
    _device: Any = None

    def _open(self, path: Path) -> tensor_model.Signature:
        # Imported here, not at the top, so that choosing a runtime stays free of PyTorch.
        import torch

        if self.threads is not None:
            torch.set_num_threads(self.threads)
        self._device = _device(torch, self.device)
        inputs: list[TensorSpec] = []
        outputs: list[TensorSpec] = []
        try:
            if path.suffix.lower() == ".pt2":
                from torch.export import passes

                program = torch.export.load(str(path))
                if self._device.type != "cpu":
                    program = passes.move_to_device_pass(program, self._device)
                inputs, outputs = pytorch_signature.exported(program)
                self._module = program.module()
            else:
                jit_load: Any = torch.jit.load  # untyped in torch's stubs
                self._module = jit_load(str(path), map_location=self._device)
                self._module.eval()
        except RuntimeError as exc:
            raise errors.ModelLoadError(
                f"cannot load {path} as a {_kind(path)}: {self._summary(exc)}; {_SAVE_HINT}"
            ) from exc
        declared_inputs, declared_outputs = pytorch_signature.declared(self.model_dir)
        return declared_inputs or inputs, declared_outputs or outputs

    def _run(self, arrays: list[Array], wanted: list[str] | None) -> dict[str, Array]:
        import torch

        with torch.inference_mode():
            tensors = [self._tensor(torch, index, array) for index, array in enumerate(arrays)]
            try:
                result = self._module(*tensors)
            except torch.OutOfMemoryError as exc:  # a RuntimeError, but not the client's fault
                raise errors.InferenceError(
                    f"model '{self.name}' ran out of {self._device} memory: send fewer rows"
                ) from exc
            return self._named(torch, result)

    def _close(self) -> None:
        self._module = None

    def _input_errors(self) -> tuple[type[Exception], ...]:
        import torch

        # RuntimeError is how PyTorch refuses shapes and dtypes; torch.jit.Error is a `raise`
        # inside a scripted model, and AssertionError an exported program's shape guard.
        return (*super()._input_errors(), RuntimeError, IndexError, AssertionError, torch.jit.Error)

    def _summary(self, exc: BaseException) -> str:
        # TorchScript puts its interpreter's traceback first and the error on the last line.
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        return lines[-1].removeprefix("RuntimeError: ") if lines else type(exc).__name__

    @property
    def device_used(self) -> str | None:
        """Where the loaded model runs (`cpu`, `cuda:0`); None before `load`."""
        return None if self._device is None else str(self._device)

    def _tensor(self, torch: Any, index: int, array: Array) -> Any:
        if array.dtype.kind == "O":
            which = f"'{self.inputs[index].name}'" if self.inputs else f"#{index}"
            raise errors.InvalidInput(
                f"model '{self.name}': input {which} is BYTES; PyTorch models take numbers"
            )
        # A read-only buffer (a request body) must not be handed to a model that may write it.
        tensor = torch.from_numpy(array if array.flags.writeable else array.copy())
        return tensor.to(self._device)

    def _named(self, torch: Any, result: Any) -> dict[str, Array]:
        if isinstance(result, dict):
            return {str(key): self._array(torch, str(key), value) for key, value in result.items()}
        values = list(result) if isinstance(result, tuple | list) else [result]
        names = [spec.name for spec in self.outputs]
        if len(names) != len(values):
            names = [f"output-{index}" for index in range(len(values))]
        return {
            name: self._array(torch, name, value) for name, value in zip(names, values, strict=True)
        }

    def _array(self, torch: Any, name: str, value: Any) -> Array:
        if not isinstance(value, torch.Tensor):
            raise errors.InferenceError(
                f"model '{self.name}' returned a {type(value).__name__} as output '{name}'; "
                "return a tensor, a tuple or list of tensors, or a dict of tensors"
            )
        value = value.detach()
        if value.dtype == torch.bfloat16:  # numpy and the protocol have no bfloat16
            value = value.float()
        return value.cpu().numpy()  # type: ignore[no-any-return]


def _device(torch: Any, option: str | None) -> Any:
    chosen = tensor_model.parse_device(option)
    if chosen is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    kind, index = chosen
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if index >= count:
            raise errors.ModelLoadError(
                f"--device {option}: PyTorch {torch.__version__} sees {count} CUDA device(s); "
                "pass --device cpu, or install a CUDA build of PyTorch on a machine with a GPU"
            )
        return torch.device("cuda", index)
    return torch.device("cpu")


def _kind(path: Path) -> str:
    return "torch.export program" if path.suffix.lower() == ".pt2" else "TorchScript program"

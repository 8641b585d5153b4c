"""The Hugging Face runtime: a transformers model directory, as `save_pretrained` writes it.

The directory holds `config.json`, the weights (`model.safetensors` or `pytorch_model.bin`) and
the tokenizer's files. The task (`hf_config`) picks the class that serves it: encoder tasks
(`hf_encoder`) answer V1 and V2, and OpenAI embeddings for `text_embedding`; `text_generation`
(`hf_generative`) answers OpenAI completions and chat completions. `HuggingFaceModel(name, dir)`
builds the right one, so the selector treats this runtime like any other.

transformers and torch are imported inside `load` and below, never when this module is.
Options: `task`, `device` (`cpu`, `cuda`, `cuda:N`; default cuda when torch sees a GPU),
`threads` (torch's intra-op threads, a process-wide setting) and `backend`: `auto` generates
text on vLLM (`hf_vllm`) when vLLM is installed and knows the model's architecture, else on
transformers, as KServe's huggingfaceserver chooses; `vllm` or `transformers` forces one.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar

from modelplane.core import errors, model
from modelplane.runtimes import files, hf_config

BACKENDS = ("auto", "vllm", "transformers")
# A tokenizer is present when any of these is (the fast format, or a slow one's vocabulary).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)
# transformers sets `model_max_length` to a huge number when the tokenizer does not know it.
_UNKNOWN_LENGTH = 1_000_000
# `from_pretrained` is not thread-safe: it patches torch globally (meta-device initialisation)
# while it builds a model, so two models loading at once can corrupt each other's weights.
_FROM_PRETRAINED = threading.Lock()


class HuggingFaceModel(model.Model):
    """Base of the task models; calling it builds the subclass for the directory's task."""

    platform = "huggingface"
    model_extensions: ClassVar[tuple[str, ...]] = ("config.json",)

    def __new__(cls, name: str, model_dir: Path | None = None, **options: Any) -> HuggingFaceModel:
        if cls is HuggingFaceModel:
            config_path = cls.find_model_file(model_dir)
            config = hf_config.read(config_path)
            task = hf_config.task_of(config, config_path, options.get("task"))
            cls = _task_class(task, config, options.get("backend") or "auto")
        return super().__new__(cls)

    def __init__(
        self,
        name: str,
        model_dir: Path | None = None,
        *,
        task: str | None = None,
        device: str | None = None,
        threads: int | None = None,
        **_: Any,
    ) -> None:
        super().__init__(name)
        self.config_path = self.find_model_file(model_dir)
        self.model_dir = self.config_path.parent
        self.config = hf_config.read(self.config_path)
        self.task = hf_config.task_of(self.config, self.config_path, task)
        self.requested_device = device
        self.threads = threads
        self.device: Any = None
        self._tokenizer: Any = None
        self._model: Any = None
        # Fast tokenizers raise "Already borrowed" when two threads use one at once.
        self._tokenizer_lock = threading.Lock()

    @classmethod
    def recognises(cls, path: Path) -> bool:
        return hf_config.is_model_config(path)

    @classmethod
    def find_model_file(cls, model_dir: Path | None) -> Path:
        """The directory's `config.json`; `ModelLoadError` saying what a model directory holds."""
        found = files.listing(model_dir, cls.platform)
        config = [path for path in found if path.name == "config.json"]
        if not config:
            raise errors.ModelLoadError(
                f"no config.json in {model_dir} (found {files.names(found)}); a Hugging Face "
                "model directory holds config.json, the weights and the tokenizer files, as "
                "model.save_pretrained(DIR) and tokenizer.save_pretrained(DIR) write them"
            )
        return config[0]

    def load(self) -> bool:
        try:
            import torch
        except ImportError as exc:
            raise errors.ModelLoadError(
                f"the huggingface runtime needs transformers and torch: "
                f"pip install 'modelplane[huggingface]' ({exc})"
            ) from exc
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        self.device = _device(torch, self.requested_device)
        with _FROM_PRETRAINED:
            self._tokenizer = self._read_tokenizer()
            self._model = self._read_weights()
        self.ready = True
        return self.ready

    def stop(self) -> None:
        self._model = None
        self._tokenizer = None
        super().stop()

    def _auto_class(self) -> str:
        """The name of the transformers Auto class that loads this task's model."""
        raise NotImplementedError

    def _read_tokenizer(self) -> Any:
        if not any((self.model_dir / name).is_file() for name in TOKENIZER_FILES):
            raise errors.ModelLoadError(
                f"no tokenizer in {self.model_dir}: expected tokenizer.json (or "
                "tokenizer_config.json and its vocabulary files); save the tokenizer next to the "
                f"model with tokenizer.save_pretrained('{self.model_dir}')"
            )
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(str(self.model_dir))
        except Exception as exc:  # transformers fails in many ways on broken tokenizer files
            raise errors.ModelLoadError(
                f"cannot load the tokenizer in {self.model_dir}: {type(exc).__name__}: {exc}"
            ) from exc

    def _read_weights(self) -> Any:
        import torch
        import transformers

        auto = getattr(transformers, self._auto_class())
        # float32 on CPU, where half precision is slow or unsupported; the checkpoint's own
        # dtype on a GPU, where float32 would double the memory.
        dtype = "auto" if self.device.type == "cuda" else torch.float32
        try:
            loaded = auto.from_pretrained(str(self.model_dir), dtype=dtype)
        except Exception as exc:  # missing or mismatched weights, an unknown model type
            raise errors.ModelLoadError(
                f"cannot load the {self.task} model in {self.model_dir} with {auto.__name__}: "
                f"{type(exc).__name__}: {first_line(exc)}; it needs config.json and its weights "
                "(model.safetensors or pytorch_model.bin) as save_pretrained writes them"
            ) from exc
        return loaded.to(self.device).eval()

    def context_length(self) -> int | None:
        """The most tokens the model takes, from its config or, failing that, its tokenizer."""
        known = hf_config.context_length(self.config)
        tokenizer_max = getattr(self._tokenizer, "model_max_length", None)
        if isinstance(tokenizer_max, int) and 0 < tokenizer_max < _UNKNOWN_LENGTH:
            known = tokenizer_max if known is None else min(known, tokenizer_max)
        return known


def _task_class(task: str, config: dict[str, Any], backend: str) -> type[HuggingFaceModel]:
    """The class for a task and backend. `auto` takes vLLM for text generation only: an
    embedding model on vLLM answers OpenAI's embeddings alone, where transformers also answers
    V1 and V2, so vLLM embeddings are asked for by name (`--backend vllm`)."""
    if backend not in BACKENDS:
        raise errors.ModelLoadError(
            f"--backend {backend!r} is not a backend: use {', '.join(BACKENDS)}"
        )
    from modelplane.runtimes import hf_encoder, hf_generative, hf_vllm

    if task == hf_config.TEXT_GENERATION:
        if backend == "vllm" or (
            backend == "auto" and hf_vllm.available() and hf_vllm.supports(config)
        ):
            return hf_vllm.VLLMModel
        return hf_generative.GenerativeModel
    if task == hf_config.TEXT_EMBEDDING:
        return hf_vllm.VLLMEmbeddingModel if backend == "vllm" else hf_encoder.EmbeddingModel
    if backend == "vllm":
        raise errors.ModelLoadError(
            f"--backend vllm serves text_generation and text_embedding models, and this one is "
            f"{task}: use --backend auto or transformers"
        )
    return hf_encoder.EncoderModel


def _device(torch: Any, requested: str | None) -> Any:
    if requested is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise errors.ModelLoadError(
            f"--device '{requested}' is not a device: use cpu, cuda or cuda:N ({exc})"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise errors.ModelLoadError(
            f"--device {requested} asks for a GPU, but torch sees none here; use --device cpu, "
            "or install a CUDA build of torch"
        )
    return device


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (frameworks raise pages of it)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""

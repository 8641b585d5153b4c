"""Encoder tasks of the Hugging Face runtime: classification, token classification, fill-mask
and text embedding, over V1 and V2; embeddings also over OpenAI's API.

Requests carry texts: V1 `{"instances": ["text", ...]}` (or `"inputs"`), V2 one BYTES tensor of
shape `[n]` or `[n, 1]`. Answers follow KServe's huggingfaceserver, one per text:

| task | V1 `predictions` | V2 `output-0` |
|---|---|---|
| sequence_classification | class id | INT64 `[n]` |
| token_classification | class id per token (padded batch) | INT64 `[n, tokens]` |
| fill_mask | the predicted token(s) for the mask(s) | BYTES `[n]` |
| text_embedding | the mean-pooled, L2-normalised vector | FP32 `[n, dim]` |

Texts longer than the model's context are truncated, as KServe and sentence-transformers do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelplane.core import completions, errors, model
from modelplane.core.inference import InferOutput, InferRequest, InferResponse
from modelplane.runtimes import hf_config, huggingface

OUTPUT = "output-0"
_AUTO = {
    hf_config.SEQUENCE_CLASSIFICATION: "AutoModelForSequenceClassification",
    hf_config.TOKEN_CLASSIFICATION: "AutoModelForTokenClassification",
    hf_config.FILL_MASK: "AutoModelForMaskedLM",
    hf_config.TEXT_EMBEDDING: "AutoModel",
}
_DATATYPE = {
    hf_config.SEQUENCE_CLASSIFICATION: ("INT64", [-1]),
    hf_config.TOKEN_CLASSIFICATION: ("INT64", [-1, -1]),
    hf_config.FILL_MASK: ("BYTES", [-1]),
}
# sentence-transformers keeps its own (usually shorter) limit next to the model.
_SENTENCE_CONFIG = "sentence_bert_config.json"

Array = np.ndarray[Any, Any]


class EncoderModel(huggingface.HuggingFaceModel):
    """An encoder serving one of the classification or fill-mask tasks over V1 and V2."""

    def _auto_class(self) -> str:
        return _AUTO[self.task]

    def load(self) -> bool:
        super().load()
        if self.task == hf_config.FILL_MASK and self._tokenizer.mask_token_id is None:
            self.stop()
            raise errors.ModelLoadError(
                f"the tokenizer in {self.model_dir} has no mask token, so fill_mask cannot "
                "work; serve the model with another --task"
            )
        self.max_length = _max_length(self.model_dir, self.context_length())
        return self.ready

    def predict(self, payload: Any, headers: model.Headers | None = None) -> model.Result:
        if self._model is None:
            raise errors.ModelNotReady(self.name)
        texts = _texts(payload, self.name)
        if isinstance(payload, InferRequest):
            for wanted in payload.request_outputs:
                if wanted.name != OUTPUT:
                    raise errors.InvalidInput(
                        f"model '{self.name}' has no output '{wanted.name}'; ask for {OUTPUT}"
                    )
        batch = self._encode(texts)
        result = self._run(batch)
        if not isinstance(payload, InferRequest):
            return {"predictions": result.tolist() if result.dtype != object else _strings(result)}
        output = InferOutput(OUTPUT, list(result.shape), _datatype(result), result)
        return InferResponse(payload.id, self.name, [output], model_version=self.version)

    def get_input_types(self) -> list[dict[str, Any]]:
        return [{"name": "text", "datatype": "BYTES", "shape": [-1]}]

    def get_output_types(self) -> list[dict[str, Any]]:
        if self.task == hf_config.TEXT_EMBEDDING:
            return [{"name": OUTPUT, "datatype": "FP32", "shape": [-1, self._dimension()]}]
        datatype, shape = _DATATYPE[self.task]
        return [{"name": OUTPUT, "datatype": datatype, "shape": shape}]

    def _encode(self, texts: list[str]) -> Any:
        with self._tokenizer_lock:
            batch = self._tokenizer(
                texts,
                padding=True,
                truncation=self.max_length is not None,
                max_length=self.max_length,
                return_tensors="pt",
            )
        return batch.to(self.device)

    def _run(self, batch: Any) -> Array:
        import torch

        with torch.inference_mode():
            outputs = self._model(**batch)
            if self.task == hf_config.TEXT_EMBEDDING:
                return _pooled(torch, outputs.last_hidden_state, batch["attention_mask"])
            if self.task == hf_config.FILL_MASK:
                return self._fill(batch["input_ids"], outputs.logits)
            # One class per text, or per token for token classification.
            return np.asarray(outputs.logits.argmax(-1).cpu().numpy(), dtype=np.int64)

    def _fill(self, input_ids: Any, logits: Any) -> Array:
        mask_id = self._tokenizer.mask_token_id
        filled = np.empty(len(input_ids), dtype=object)
        for row, ids in enumerate(input_ids):
            positions = (ids == mask_id).nonzero().flatten()
            if len(positions) == 0:
                raise errors.InvalidInput(
                    f"text {row} has no mask token; put {self._tokenizer.mask_token} where the "
                    "word to predict goes"
                )
            predicted = logits[row, positions].argmax(-1).tolist()
            with self._tokenizer_lock:
                filled[row] = self._tokenizer.decode(predicted).strip().encode("utf-8")
        return filled

    def _dimension(self) -> int:
        hidden = self.config.get("hidden_size", self.config.get("d_model", -1))
        return hidden if isinstance(hidden, int) else -1


class EmbeddingModel(EncoderModel):
    """An encoder giving one vector per text, over V1, V2 and OpenAI's embeddings endpoint."""

    def create_embedding(self, request: completions.EmbeddingRequest) -> completions.Embeddings:
        if self._model is None:
            raise errors.ModelNotReady(self.name)
        batch = self._encode(list(request.inputs))
        vectors = self._run(batch)
        return completions.Embeddings(vectors.tolist(), int(batch["attention_mask"].sum()))


def _pooled(torch: Any, hidden: Any, attention_mask: Any) -> Array:
    # The mean over the real tokens (padding masked out), then unit length: what
    # sentence-transformers' Pooling + Normalize modules and KServe's embedding task compute.
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * mask).sum(dim=1)
    mean = summed / mask.sum(dim=1).clamp(min=1e-9)
    unit = torch.nn.functional.normalize(mean, p=2, dim=1)
    return np.asarray(unit.float().cpu().numpy(), dtype=np.float32)


def _texts(payload: Any, name: str) -> list[str]:
    if isinstance(payload, InferRequest):
        return _v2_texts(payload, name)
    if not isinstance(payload, dict):
        raise errors.InvalidInput(f"model '{name}' takes a V1 or V2 request of texts")
    key = "inputs" if "inputs" in payload else "instances"
    texts = payload.get(key)
    if not isinstance(texts, list) or not texts:
        raise errors.InvalidInput(
            f'model \'{name}\' takes {{"instances": ["text", ...]}}: a non-empty list of texts'
        )
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise errors.InvalidInput(
                f"{key}[{index}] is a {type(text).__name__}; model '{name}' takes texts (strings)"
            )
    return texts


def _v2_texts(request: InferRequest, name: str) -> list[str]:
    if len(request.inputs) != 1:
        raise errors.InvalidInput(
            f"model '{name}' takes one BYTES input tensor of texts, got {len(request.inputs)} "
            "inputs"
        )
    tensor = request.inputs[0]
    if tensor.datatype != "BYTES":
        raise errors.InvalidInput(
            f"input '{tensor.name}' is {tensor.datatype}; model '{name}' takes texts as a BYTES "
            "tensor of shape [n] or [n, 1]"
        )
    shape = tensor.shape
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) or shape[0] < 1:
        raise errors.InvalidInput(
            f"input '{tensor.name}' has shape {shape}; send the texts as shape [n] or [n, 1]"
        )
    try:
        return tensor.as_string()
    except UnicodeDecodeError as exc:
        raise errors.InvalidInput(
            f"input '{tensor.name}' holds bytes that are not UTF-8: {exc}"
        ) from None


def _max_length(model_dir: Path, context: int | None) -> int | None:
    settings = model_dir / _SENTENCE_CONFIG
    if settings.is_file():
        limit = hf_config.read(settings).get("max_seq_length")
        if isinstance(limit, int) and limit > 0:
            return limit if context is None else min(limit, context)
    return context


def _strings(array: Array) -> list[str]:
    return [item.decode("utf-8") for item in array.tolist()]


def _datatype(array: Array) -> str:
    return "BYTES" if array.dtype == object else "FP32" if array.dtype == np.float32 else "INT64"

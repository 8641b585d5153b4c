"""The Hugging Face contract's cases: a tiny model per task, with transformers' own answers.

The truth for each task is computed the way a transformers user would, one text at a time
(no padding), so the runtime's batched, padded answers are checked against it: the
`pipeline` for classification and fill-mask, the bare model for per-token classes and for
mean-pooled embeddings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.support import hf_models

Array = np.ndarray[Any, Any]
ENCODER_TASKS = list(hf_models.ENCODER_CLASSES)


@dataclass(frozen=True)
class HFCase:
    task: str
    model_dir: Path
    texts: list[str]
    #: transformers' own answer per text, as the runtime's V1 predictions give it.
    reference: Callable[[list[str]], list[Any]]
    datatype: str


def build(make_dir: Callable[[str], Path]) -> dict[str, HFCase]:
    cases = {}
    for task in ENCODER_TASKS:
        directory = hf_models.bert(make_dir(task), task)
        texts = hf_models.MASKED if task == "fill_mask" else hf_models.TEXTS
        reference, datatype = _REFERENCES[task](directory)
        cases[task] = HFCase(task, directory, texts, reference, datatype)
    return cases


def _classes(directory: Path) -> tuple[Callable[[list[str]], list[Any]], str]:
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(directory), device="cpu")
    label2id = classify.model.config.label2id
    return lambda texts: [label2id[classify(text)[0]["label"]] for text in texts], "INT64"


def _token_classes(directory: Path) -> tuple[Callable[[list[str]], list[Any]], str]:
    model, tokenizer = _bare(directory, "AutoModelForTokenClassification")

    def predict(texts: list[str]) -> list[Any]:
        import torch

        with torch.inference_mode():
            return [
                model(**tokenizer(text, return_tensors="pt")).logits[0].argmax(-1).tolist()
                for text in texts
            ]

    return predict, "INT64"


def _fill(directory: Path) -> tuple[Callable[[list[str]], list[Any]], str]:
    from transformers import pipeline

    fill = pipeline("fill-mask", model=str(directory), device="cpu", top_k=1)
    return lambda texts: [fill(text)[0]["token_str"].strip() for text in texts], "BYTES"


def _embed(directory: Path) -> tuple[Callable[[list[str]], list[Any]], str]:
    model, tokenizer = _bare(directory, "AutoModel")

    def predict(texts: list[str]) -> list[Any]:
        import torch

        vectors = []
        with torch.inference_mode():
            for text in texts:
                hidden = model(**tokenizer(text, return_tensors="pt")).last_hidden_state[0]
                mean = hidden.mean(dim=0)
                vectors.append((mean / mean.norm()).tolist())
        return vectors

    return predict, "FP32"


def _bare(directory: Path, auto: str) -> tuple[Any, Any]:
    import transformers

    model = getattr(transformers, auto).from_pretrained(str(directory)).eval()
    return model, transformers.AutoTokenizer.from_pretrained(str(directory))


_REFERENCES = {
    "sequence_classification": _classes,
    "token_classification": _token_classes,
    "fill_mask": _fill,
    "text_embedding": _embed,
}

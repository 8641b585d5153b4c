"""What a Hugging Face model directory's `config.json` says: the task and the context length.

Read as plain JSON, without transformers, so that choosing the runtime and the task (and
failing on a bad `--task`) costs nothing. The task comes from `--task` when given, else from
the first class in `architectures`, by its suffix, as KServe's huggingfaceserver infers it:

| architecture | task |
|---|---|
| `*ForSequenceClassification` | `sequence_classification` |
| `*ForTokenClassification` | `token_classification` |
| `*ForMaskedLM` | `fill_mask` |
| `*ForCausalLM`, `*LMHeadModel` | `text_generation` |
| a bare encoder (`BertModel`, `MPNetModel`, ...) | `text_embedding` |
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelplane.core import errors

SEQUENCE_CLASSIFICATION = "sequence_classification"
TOKEN_CLASSIFICATION = "token_classification"
FILL_MASK = "fill_mask"
TEXT_EMBEDDING = "text_embedding"
TEXT_GENERATION = "text_generation"
TASKS = (SEQUENCE_CLASSIFICATION, TOKEN_CLASSIFICATION, FILL_MASK, TEXT_EMBEDDING, TEXT_GENERATION)

# Other spellings users bring from transformers' pipelines and KServe's docs.
_ALIASES = {
    "text_classification": SEQUENCE_CLASSIFICATION,
    "ner": TOKEN_CLASSIFICATION,
    "feature_extraction": TEXT_EMBEDDING,
    "embedding": TEXT_EMBEDDING,
    "causal_lm": TEXT_GENERATION,
}

_SUFFIXES = (
    ("ForSequenceClassification", SEQUENCE_CLASSIFICATION),
    ("ForTokenClassification", TOKEN_CLASSIFICATION),
    ("ForMaskedLM", FILL_MASK),
    ("ForCausalLM", TEXT_GENERATION),
    ("LMHeadModel", TEXT_GENERATION),
)

# Where configs keep the number of positions the model was built for, by model family.
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


def read(path: Path) -> dict[str, Any]:
    """The parsed `config.json`; `ModelLoadError` when it is not a JSON object."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.ModelLoadError(f"cannot read {path} as JSON: {exc}") from None
    if not isinstance(value, dict):
        raise errors.ModelLoadError(f"{path} is not a JSON object, so not a model config")
    return value


def is_model_config(path: Path) -> bool:
    """Whether `path` is a transformers `config.json` (it names a model type or classes)."""
    if path.name != "config.json":
        return False
    try:
        config = read(path)
    except errors.ModelLoadError:
        return False
    return "model_type" in config or "architectures" in config


def normalise(task: str) -> str:
    """A task name in modelplane's spelling; `ModelLoadError` listing the tasks otherwise."""
    value = task.strip().lower().replace("-", "_")
    value = _ALIASES.get(value, value)
    if value not in TASKS:
        raise errors.ModelLoadError(
            f"unknown Hugging Face task '{task}'; use one of {', '.join(TASKS)}"
        )
    return value


def task_of(config: dict[str, Any], path: Path, requested: str | None = None) -> str:
    """The task to serve: `requested` (from `--task`) if given, else inferred from `config`."""
    if requested:
        return normalise(requested)
    architectures = config.get("architectures") or []
    if not isinstance(architectures, list) or not architectures:
        raise errors.ModelLoadError(
            f"{path} names no architectures, so the task is unknown; pass --task "
            f"({', '.join(TASKS)})"
        )
    architecture = str(architectures[0])
    for suffix, task in _SUFFIXES:
        if architecture.endswith(suffix):
            return task
    if architecture.endswith("Model") and "For" not in architecture:
        return TEXT_EMBEDDING
    raise errors.ModelLoadError(
        f"{path} describes a {architecture}, which serves no task modelplane knows; pass --task "
        f"({', '.join(TASKS)}) if its weights fit one"
    )


def context_length(config: dict[str, Any]) -> int | None:
    """How many positions (tokens) the model takes at most, when the config says."""
    for key in _CONTEXT_KEYS:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None

"""Reading a Hugging Face `config.json`: which task, how long a context, whether it is one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelplane.core import errors
from modelplane.runtimes import hf_config, huggingface, selector

CONFIG = Path("config.json")


@pytest.mark.parametrize(
    ("architecture", "task"),
    [
        ("BertForSequenceClassification", "sequence_classification"),
        ("DistilBertForTokenClassification", "token_classification"),
        ("RobertaForMaskedLM", "fill_mask"),
        ("LlamaForCausalLM", "text_generation"),
        ("GPT2LMHeadModel", "text_generation"),
        ("BertModel", "text_embedding"),
        ("MPNetModel", "text_embedding"),
    ],
)
def test_the_task_follows_the_architecture(architecture: str, task: str) -> None:
    assert hf_config.task_of({"architectures": [architecture]}, CONFIG) == task


def test_the_task_option_wins_and_takes_other_spellings() -> None:
    config = {"architectures": ["BertForMaskedLM"]}

    assert hf_config.task_of(config, CONFIG, "text-embedding") == "text_embedding"
    assert hf_config.task_of(config, CONFIG, "text_classification") == "sequence_classification"
    assert hf_config.task_of(config, CONFIG, " Fill-Mask ") == "fill_mask"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"model_type": "bert"}, "names no architectures.*pass --task"),
        ({"architectures": ["T5ForConditionalGeneration"]}, "T5ForConditionalGeneration.*--task"),
    ],
)
def test_an_unknown_task_asks_for_the_option(config: dict[str, object], message: str) -> None:
    with pytest.raises(errors.ModelLoadError, match=message):
        hf_config.task_of(config, CONFIG)


def test_an_unknown_task_option_lists_the_tasks() -> None:
    with pytest.raises(errors.ModelLoadError, match=", ".join(hf_config.TASKS)):
        hf_config.normalise("translation")


@pytest.mark.parametrize(
    ("config", "length"),
    [
        ({"max_position_embeddings": 512}, 512),
        ({"n_positions": 1024}, 1024),
        ({"max_sequence_length": 2048}, 2048),
        ({"hidden_size": 32}, None),
    ],
)
def test_context_length_from_the_config(config: dict[str, object], length: int | None) -> None:
    assert hf_config.context_length(config) == length


@pytest.mark.parametrize(
    ("name", "content", "recognised"),
    [
        ("config.json", {"architectures": ["BertModel"], "model_type": "bert"}, True),
        ("config.json", {"model_type": "gpt2"}, True),
        ("config.json", {"learner": {}}, False),
        ("tokenizer_config.json", {"model_type": "bert"}, False),
        ("config.json", [1, 2], False),
    ],
)
def test_only_a_transformers_config_is_recognised(
    tmp_path: Path, name: str, content: object, recognised: bool
) -> None:
    path = tmp_path / name
    path.write_text(json.dumps(content))

    assert huggingface.HuggingFaceModel.recognises(path) is recognised


def test_the_selector_finds_the_runtime_and_its_aliases(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))

    assert selector.detect(tmp_path) is huggingface.HuggingFaceModel
    model = selector.create_model("m", tmp_path, model_format="transformers")
    assert (model.platform, type(model).__name__) == ("huggingface", "EmbeddingModel")


def test_a_config_that_is_not_json_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")

    with pytest.raises(errors.ModelLoadError, match=r"cannot read .*config\.json as JSON"):
        selector.create_model("m", tmp_path, model_format="huggingface")

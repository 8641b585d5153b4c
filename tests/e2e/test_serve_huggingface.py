"""`modelplane serve` of Hugging Face models as a user runs it: a classifier from `hf://` (the
local Hugging Face cache, offline) over V1 and V2, and a generator over OpenAI's API.

Both servers start at once, so their imports of torch and transformers overlap.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support import hf_models
from tests.support.process import ServeProcess

COMMIT = "0123456789abcdef0123456789abcdef01234567"
START_TIMEOUT = 120.0


def hub_cache(root: Path, repo: str, model_dir: Path) -> Path:
    """A Hugging Face cache holding `model_dir` as `repo` at `main`, as `hf download` leaves it."""
    entry = root / ("models--" + repo.replace("/", "--"))
    shutil.copytree(model_dir, entry / "snapshots" / COMMIT)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(COMMIT)
    return root


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServeProcess, ServeProcess]]:
    base = tmp_path_factory.mktemp("hf-e2e")
    classifier = hf_models.bert(base / "classifier", "sequence_classification")
    cache = hub_cache(base / "hub", "tiny/bert-classifier", classifier)
    generator = hf_models.gpt2(base / "generator")
    ports = ["--http-port", "0", "--grpc-port", "0", "--cache-dir", str(base / "cache")]
    env = {"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    with (
        ServeProcess(
            "--model-name", "classifier", "--storage-uri", "hf://tiny/bert-classifier", *ports,
            env=env,
        ) as encoder,
        ServeProcess(
            "--model-name", "generator", "--storage-uri", str(generator), *ports, env=env
        ) as decoder,
    ):  # fmt: skip
        yield encoder.wait_ready(START_TIMEOUT), decoder.wait_ready(START_TIMEOUT)
        for server in (encoder, decoder):  # both drain at once
            server.proc.send_signal(signal.SIGTERM)
        assert (encoder.proc.wait(60), decoder.proc.wait(60)) == (0, 0)


def test_a_classifier_from_the_hub_cache_answers_v1_and_v2(
    servers: tuple[ServeProcess, ServeProcess],
) -> None:
    encoder, _ = servers
    texts = hf_models.TEXTS

    v1 = httpx.post(f"{encoder.url}/v1/models/classifier:predict", json={"instances": texts})
    v2 = httpx.post(
        f"{encoder.url}/v2/models/classifier/infer",
        json={"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": texts}]},
    )
    metadata = httpx.get(f"{encoder.url}/v2/models/classifier").json()

    assert v1.status_code == 200, v1.text
    predictions = v1.json()["predictions"]
    assert len(predictions) == 3 and all(label in (0, 1, 2) for label in predictions)
    [output] = v2.json()["outputs"]
    assert (output["datatype"], output["shape"], output["data"]) == ("INT64", [3], predictions)
    assert metadata["platform"] == "huggingface"
    assert metadata["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]


def test_bad_text_input_is_a_400_saying_what_to_send(
    servers: tuple[ServeProcess, ServeProcess],
) -> None:
    encoder, _ = servers

    response = httpx.post(
        f"{encoder.url}/v1/models/classifier:predict", json={"instances": [[1.0, 2.0]]}
    )

    assert response.status_code == 400
    assert "texts" in response.json()["error"]


def test_a_generator_streams_completions_and_chat_over_openai(
    servers: tuple[ServeProcess, ServeProcess],
) -> None:
    _, decoder = servers
    with openai.OpenAI(
        base_url=f"{decoder.url}/openai/v1", api_key="none", max_retries=0
    ) as client:
        plain, streamed, chat, listed = _generate(client)

    assert "".join(chunk.choices[0].text for chunk in streamed) == plain.choices[0].text
    assert plain.usage is not None and plain.usage.completion_tokens == 8
    assert chat[0].choices[0].delta.role == "assistant"
    assert chat[-1].choices[0].finish_reason == "length"
    assert listed == ["generator"]


def _generate(client: openai.OpenAI) -> tuple[Any, list[Any], list[Any], list[str]]:
    plain = client.completions.create(
        model="generator", prompt="the quick brown fox", max_tokens=8, temperature=0
    )
    streamed = client.completions.create(
        model="generator", prompt="the quick brown fox", max_tokens=8, temperature=0, stream=True
    )
    chat = client.chat.completions.create(
        model="generator",
        messages=[{"role": "user", "content": "hello"}],
        max_tokens=4,
        stream=True,
    )

    return plain, list(streamed), list(chat), [model.id for model in client.models.list()]

"""One in-process server for the OpenAI tests: a tiny GPT-2, a tiny embedding BERT, the iris
classifier (which serves no OpenAI verb) and a scripted custom generator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from modelplane.runtimes import selector
from tests.integration.openai.scripted import ScriptedGenerator
from tests.support import hf_models
from tests.support.serving import RunningServer, serving, test_settings

GPT2 = "tiny-gpt2"
EMBED = "tiny-embed"
IRIS = "sklearn-iris"
SCRIPTED = "scripted"


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hf_models.gpt2(tmp_path_factory.mktemp("gpt2"))


@pytest.fixture(scope="module")
def openai_server(
    gpt2_dir: Path, iris_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    embed_dir = hf_models.bert(tmp_path_factory.mktemp("embed"), "text_embedding")
    models = [
        selector.create_model(GPT2, gpt2_dir),
        selector.create_model(EMBED, embed_dir),
        selector.create_model(IRIS, iris_dir),
        ScriptedGenerator(SCRIPTED),
    ]
    settings = test_settings(grpc_port=-1, cache_dir=tmp_path_factory.mktemp("cache"))
    with serving(settings, models) as running:
        yield running


@pytest.fixture(scope="module")
def client(openai_server: RunningServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{openai_server.http_url}/openai/v1", api_key="none", max_retries=0
    ) as opened:
        yield opened

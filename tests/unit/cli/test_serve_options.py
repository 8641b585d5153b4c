"""`modelplane serve`'s options as the command line parses them: KServe's model-server flags
(`--model_name`, `--model_dir`, `--http_port`, `--grpc_port`) are the same options as ours, so a
KServe ServingRuntime's args (and `modelplane export`'s runtimes) run the server unchanged."""

from __future__ import annotations

from typing import Any

import click
import pytest

from modelplane.cli import main, options
from modelplane.resources import export
from modelplane.server.settings import ServerSettings


def parse(*args: str) -> ServerSettings:
    """The settings `serve` would run with, from its parser alone (nothing is started)."""
    with main.serve.make_context("serve", list(args)) as context:
        settings: ServerSettings = options.build(ServerSettings, context.params)
    return settings


@pytest.mark.parametrize(
    "args",
    [
        ["--model_name", "iris", "--model_dir", "/models/iris", "--http_port", "0",
         "--grpc_port", "-1"],
        ["--model_name=iris", "--model_dir=/models/iris", "--http_port=0", "--grpc_port=-1"],
        ["--model-name", "iris", "--storage-uri", "/models/iris", "--http-port", "0",
         "--grpc-port", "-1"],
    ],
    ids=["kserve", "kserve-equals", "modelplane"],
)  # fmt: skip
def test_kserve_flags_are_our_options(args: list[str]) -> None:
    settings = parse(*args)
    assert settings.model_name == "iris"
    assert settings.storage_uri == "/models/iris"
    assert (settings.http_port, settings.grpc_port) == (0, -1)


def test_the_two_spellings_are_one_option_the_last_given_wins() -> None:
    assert parse("--storage-uri", "/a", "--model_dir", "/b").storage_uri == "/b"
    assert parse("--model_dir", "/b", "--storage-uri", "/a").storage_uri == "/a"


def test_a_bad_value_under_kserves_spelling_is_a_usage_error() -> None:
    with pytest.raises(click.BadParameter):
        parse("--http_port", "eighty")
    with pytest.raises(click.UsageError, match="--http-port"):
        parse("--http_port", "70000")


def test_workers_is_already_kserves_spelling() -> None:
    assert parse("--model_dir", "/m", "--workers", "3").workers == 3


def test_every_alias_is_declared_on_its_field() -> None:
    declared: dict[str, Any] = {
        name: options.aliases(field) for name, field in ServerSettings.model_fields.items()
    }
    assert {name: flags for name, flags in declared.items() if flags} == {
        "model_name": ["--model_name"],
        "storage_uri": ["--model_dir"],
        "http_port": ["--http_port"],
        "grpc_port": ["--grpc_port"],
        "predictor_host": ["--predictor_host"],
        "predictor_protocol": ["--protocol", "--predictor_protocol"],
        "model_id": ["--model_id"],
        "max_model_len": ["--max_model_len"],
    }


def test_huggingfaceservers_flags_parse_and_a_model_id_alone_is_a_hub_model() -> None:
    settings = parse("--model_name", "llm", "--model_id", "org/tiny", "--backend", "vllm",
                     "--max_model_len", "512", "--dtype", "float32")  # fmt: skip
    assert settings.storage_uri == "hf://org/tiny"
    assert (settings.backend, settings.max_model_len, settings.dtype) == ("vllm", 512, "float32")
    assert parse("--model_id", "org/tiny", "--model_dir", "/m").storage_uri == "/m"
    with pytest.raises(click.BadParameter):
        parse("--backend", "tgi")


def test_a_transformers_kserve_args_parse() -> None:
    settings = parse("--model_name", "iris", "--predictor_host", "iris-predictor.default",
                     "--protocol", "grpc-v2")  # fmt: skip
    assert settings.predictor_host == "iris-predictor.default"
    assert settings.predictor_protocol == "grpc-v2"
    with pytest.raises(click.BadParameter):
        parse("--predictor_protocol", "v3")


def test_the_exported_runtimes_args_parse_to_kserves_layout() -> None:
    for runtime in [export.cluster_runtime(fmt, "img") for fmt in export.formats().values()]:
        (container,) = runtime["spec"]["containers"]
        assert container["command"] == ["modelplane", "serve"]
        args = [a.replace("{{.Name}}", "my-isvc") for a in container["args"]]
        settings = parse(*args)
        fmt = runtime["spec"]["supportedModelFormats"][0]["name"]
        assert settings.model_name == "my-isvc"
        assert settings.storage_uri == "/mnt/models"
        assert (settings.http_port, settings.grpc_port) == (8080, 8081)
        assert settings.model_format == fmt

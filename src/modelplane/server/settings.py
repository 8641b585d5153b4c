"""The settings of one `modelplane serve` process: the single source of its options.

The command line is derived from this model (each field an option, each option also read from
`MODELPLANE_<FIELD>`), so an option is declared once, here. A field may name other spellings of
its option: KServe's model servers take `--model_name`, `--model_dir`, `--http_port` and
`--grpc_port`, and a KServe ServingRuntime passes exactly those, so `modelplane serve` accepts
them too and runs under such a runtime's args unchanged (`modelplane export` relies on it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ENV_PREFIX = "MODELPLANE_"


def kserve_flag(flag: str) -> dict[str, Any]:
    """A field's `json_schema_extra` when KServe's model servers spell its option `flag`
    (`cli.options` adds the `flag_aliases` it lists to the option's own flag)."""
    return {"flag_aliases": [flag]}


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "modelplane"


class ServerSettings(BaseModel):
    """Options of `modelplane serve`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _hub_model(cls, values: Any) -> Any:
        """KServe's `--model_id` alone: the model comes from the Hub."""
        if isinstance(values, dict) and values.get("model_id") and not values.get("storage_uri"):
            return {**values, "storage_uri": f"hf://{values['model_id']}"}
        return values

    model_name: str = Field(
        "model",
        description="Name the model is served under (/v1/models/NAME, /v2/models/NAME).",
        json_schema_extra=kserve_flag("--model_name"),
    )
    storage_uri: str | None = Field(
        None,
        description="Where the model lives: a path, file://, pvc://, http(s)://, s3:// or hf:// "
        "URI.",
        json_schema_extra=kserve_flag("--model_dir"),
    )
    model_format: str | None = Field(
        None,
        description="Runtime to load with: sklearn, xgboost, lightgbm, onnx, pytorch, tensorflow, "
        "huggingface or custom. Default: chosen from the files in the model directory.",
    )
    model_class: str | None = Field(
        None, description="A custom model class, as 'package.module:ClassName'."
    )
    predictor_host: str | None = Field(
        None,
        description="Run as a transformer or explainer: the predictor's host, as KServe passes "
        "it ({name}-predictor.{namespace}); a model without its own predict forwards there.",
        json_schema_extra=kserve_flag("--predictor_host"),
    )
    predictor_protocol: Literal["v1", "v2", "grpc-v2"] = Field(
        "v1",
        description="How a transformer or explainer calls the predictor: v1, v2 (REST) or grpc-v2.",
        json_schema_extra={"flag_aliases": ["--protocol", "--predictor_protocol"]},
    )
    predictor_address: str | None = Field(
        None,
        description="HOST:PORT to dial for --predictor-host, which then goes as the Host header "
        "(gRPC: host metadata): a gateway that routes by host; modelplane up sets it. "
        "Default: the predictor host itself.",
    )
    device: str | None = Field(
        None,
        description="Where deep-learning runtimes run: cpu, cuda or cuda:N. Default: cuda when "
        "a GPU is present, else cpu.",
    )
    task: str | None = Field(
        None,
        description="Hugging Face task (sequence_classification, token_classification, fill_mask, "
        "text_embedding, text_generation). Default: from the model's config.json.",
    )
    backend: Literal["auto", "vllm", "transformers"] = Field(
        "auto",
        description="Hugging Face text generation on vLLM or transformers. auto: vLLM when it is "
        "installed and knows the model's architecture, else transformers.",
    )
    model_id: str | None = Field(
        None,
        description="A Hugging Face Hub model id, served when no --storage-uri is given "
        "(as hf://MODEL_ID).",
        json_schema_extra=kserve_flag("--model_id"),
    )
    max_model_len: int | None = Field(
        None,
        gt=0,
        description="vLLM backend: the context length to reserve for. Default: the model's.",
        json_schema_extra=kserve_flag("--max_model_len"),
    )
    dtype: Literal["auto", "float32", "float16", "bfloat16", "half", "float"] | None = Field(
        None, description="vLLM backend: the weights' and activations' type. Default: auto."
    )
    threads: int | None = Field(
        None,
        gt=0,
        description="Threads inside the framework (ONNX Runtime, PyTorch, TensorFlow) per model.",
    )
    host: str = Field("127.0.0.1", description="Address to bind; a container passes 0.0.0.0.")
    http_port: int = Field(
        8080,
        ge=0,
        le=65535,
        description="REST port (0 picks a free one).",
        json_schema_extra=kserve_flag("--http_port"),
    )
    grpc_port: int = Field(
        8081,
        ge=-1,
        le=65535,
        description="gRPC port (0 picks a free one, -1 disables gRPC).",
        json_schema_extra=kserve_flag("--grpc_port"),
    )
    max_request_size: int = Field(
        64 * 1024 * 1024,
        gt=0,
        description="Largest request body accepted, in bytes (REST and gRPC).",
    )
    workers: int = Field(
        1,
        ge=1,
        description="Server processes sharing the REST and gRPC ports; each loads the model.",
    )
    thread_pool_size: int = Field(
        8, gt=0, description="Threads that run synchronous model code off the event loop."
    )
    max_batch_size: int = Field(
        0,
        ge=0,
        description="Adaptive batching: merge concurrent requests to a model into one call of up "
        "to this many rows (0 or 1: off).",
    )
    max_latency_ms: float = Field(
        2.0,
        ge=0,
        description="Adaptive batching: the longest a request waits behind a busy model before "
        "its batch starts alongside (a request never waits for company).",
    )
    graceful_timeout: float = Field(
        30.0, ge=0, description="Seconds SIGTERM waits for in-flight requests before stopping."
    )
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Where downloaded models are cached (a second start does not download again).",
    )
    pvc_root: Path | None = Field(
        None, description="Directory that pvc://CLAIM/PATH URIs resolve under."
    )
    log_level: str = Field("info", description="debug, info, warning or error.")
    access_log: bool = Field(True, description="Log one line per request, with its request id.")

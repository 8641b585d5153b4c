"""The settings of one `modelplane router` process: the single source of its options.

As KServe's router takes `--graph-json` and `PROPAGATE_HEADERS`, so does this one (the latter
also as `--propagate-headers`); `--ingress` is where services named by a cluster host
(`{name}.{namespace}.{domain}`) are reached, `modelplane up`'s gateway when it starts routers.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class RouterSettings(BaseModel):
    """Options of `modelplane router`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    graph_json: str | None = Field(
        None, description="The InferenceGraph's spec as JSON (KServe's --graph-json)."
    )
    graph_file: Path | None = Field(
        None, description="A file holding the graph: an InferenceGraph manifest or its spec."
    )
    name: str = Field("graph", description="The graph's name (its gRPC model name).")
    namespace: str = Field("default", description="Namespace of services named by serviceName.")
    domain: str = Field("example.com", description="Ingress domain of the services' hosts.")
    ingress: str | None = Field(
        None, description="HOST:PORT that serves {name}.{namespace}.{domain} hosts over HTTP."
    )
    ingress_grpc: str | None = Field(
        None, description="HOST:PORT that serves those services over gRPC."
    )
    host: str = Field("127.0.0.1", description="Address to bind.")
    http_port: int = Field(8080, ge=0, le=65535, description="HTTP port (0: a free one).")
    grpc_port: int = Field(
        -1, ge=-1, le=65535, description="gRPC port (0: a free one, -1: no gRPC)."
    )
    propagate_headers: str | None = Field(
        None,
        description="Comma-separated regular expressions of header names passed on to every "
        "step (also read from PROPAGATE_HEADERS; default: Authorization).",
    )
    log_level: str = Field("info", description="debug, info, warning or error.")

"""tritonclient helpers shared by the client test modules: cached clients and tensor builders.

Only modules that may import tritonclient use this (never the `kserve` tests: the two packages'
generated protobuf stubs clash in protobuf's default pool).
"""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from tests.support.serving import RunningServer

Array = np.ndarray[Any, Any]


class Clients:
    """tritonclient clients, one per server and protocol, closed together at module end.

    tritonclient's HTTP client closes itself again in `__del__`, and gevent refuses that from
    any thread but the one that made it; closing here and collecting garbage on this thread keeps
    that second close off the server's threads.
    """

    def __init__(self) -> None:
        self._http: dict[str, httpclient.InferenceServerClient] = {}
        self._grpc: dict[str, grpcclient.InferenceServerClient] = {}

    def http(self, server: RunningServer, concurrency: int = 1) -> httpclient.InferenceServerClient:
        url = server.http_url.removeprefix("http://")
        key = f"{url}/{concurrency}"
        if key not in self._http:
            self._http[key] = httpclient.InferenceServerClient(url, concurrency=concurrency)
        return self._http[key]

    def grpc(self, server: RunningServer) -> grpcclient.InferenceServerClient:
        if server.grpc_target not in self._grpc:
            self._grpc[server.grpc_target] = grpcclient.InferenceServerClient(server.grpc_target)
        return self._grpc[server.grpc_target]

    def close(self) -> None:
        for client in [*self._http.values(), *self._grpc.values()]:
            client.close()
        self._http.clear()
        self._grpc.clear()
        gc.collect()


def http_input(name: str, array: Array, binary: bool = True) -> httpclient.InferInput:
    tensor = httpclient.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def grpc_input(name: str, array: Array) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
    tensor.set_data_from_numpy(array)
    return tensor


def as_bytes(array: Array) -> list[bytes]:
    """BYTES elements as bytes: binary outputs decode to bytes, JSON outputs to str."""
    return [item if isinstance(item, bytes) else str(item).encode() for item in array.reshape(-1)]


def assert_status(error: pytest.ExceptionInfo[InferenceServerException], status: Any) -> None:
    assert str(error.value.status()) == str(status), error.value.message()

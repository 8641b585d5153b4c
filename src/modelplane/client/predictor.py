"""The link from a transformer or explainer to its predictor, as KServe's `predictor_host`.

KServe hands a transformer `--predictor_host {name}-predictor.{namespace}` and `--protocol
v1|v2|grpc-v2`; its `Model.predict` then calls the predictor over that protocol, forwarding
the caller's request id, trace id and authorization. `PredictorClient` is that call. The host
is a name, not an address: under `modelplane up` it is dialled at the gateway
(`address`), which routes by the name sent as the Host header (gRPC: a `host`
metadata entry, since gRPC servers do not see the authority), exactly as a mesh routes it in a
cluster. The predictor's refusals keep their meaning: a 400 is the caller's fault here too,
an unreachable predictor is UNAVAILABLE, never a 500 of the transformer's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc
import httpx
import numpy as np

from modelplane.core import errors
from modelplane.core.inference import InferInput, InferRequest, InferResponse
from modelplane.protocol import grpc_codec, jsoncodec, v1, v2
from modelplane.protocol.grpc_stubs import open_inference_pb2 as pb

HOST_METADATA = "host"
#: The caller's headers a predictor call carries on, as KServe's `Model` forwards them.
FORWARDED = ("x-request-id", "x-b3-traceid", "traceparent", "authorization")
_INFER = "/inference.GRPCInferenceService/ModelInfer"


class PredictorClient:
    """Calls one predictor; `predict` (V1) takes and returns dicts, `infer` InferRequests."""

    def __init__(
        self, host: str, protocol: str = "v1", address: str | None = None, timeout: float = 600.0
    ) -> None:
        self.host = host
        self.protocol = protocol
        self.address = address or host
        self.timeout = timeout
        self._http = httpx.AsyncClient(timeout=timeout, trust_env=False)
        self._channel: grpc.aio.Channel | None = None

    async def close(self) -> None:
        await self._http.aclose()
        if self._channel is not None:
            await self._channel.close()

    async def forward(
        self, model_name: str, payload: Any, headers: Mapping[str, str] | None
    ) -> Any:
        """What KServe's default `Model.predict` does: send `payload` on in `protocol`."""
        if self.protocol == "v1":
            if not isinstance(payload, dict):
                raise errors.InferenceError(
                    f"transformer '{model_name}' calls its predictor over v1, so preprocess must "
                    f"return a dict; it returned {type(payload).__name__}"
                )
            return await self.predict(model_name, payload, headers)
        return await self.infer(as_request(model_name, payload), headers)

    async def predict(
        self, model_name: str, payload: dict[str, Any], headers: Mapping[str, str] | None
    ) -> dict[str, Any]:
        body = jsoncodec.dumps(payload)
        answer = await self._post(f"/v1/models/{model_name}:predict", body, headers)
        return v1.decode(answer.content)

    async def infer(
        self, request: InferRequest, headers: Mapping[str, str] | None
    ) -> InferResponse:
        if self.protocol == "grpc-v2":
            return await self._grpc_infer(request, headers)
        answer = await self._post(
            f"/v2/models/{request.model_name}/infer", v2.encode_request(request), headers
        )
        length = answer.headers.get(v2.HEADER_LENGTH)
        return v2.decode_response(answer.content, int(length) if length else None)

    async def _post(
        self, path: str, body: bytes, headers: Mapping[str, str] | None
    ) -> httpx.Response:
        sent = {"content-type": "application/json", "host": self.host, **_forwarded(headers)}
        try:
            answer = await self._http.post(f"http://{self.address}{path}", content=body,
                                           headers=sent)  # fmt: skip
        except httpx.TimeoutException as exc:
            raise errors.ServerUnavailable(
                f"predictor {self.host} gave no answer within {self.timeout:g}s"
            ) from exc
        except httpx.TransportError as exc:
            raise errors.ServerUnavailable(f"predictor {self.host} unreachable: {exc}") from exc
        if answer.status_code >= 400:
            raise _refusal(self.host, answer.status_code, _message(answer))
        return answer

    async def _grpc_infer(
        self, request: InferRequest, headers: Mapping[str, str] | None
    ) -> InferResponse:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.address)
        call = self._channel.unary_unary(
            _INFER,
            request_serializer=pb.ModelInferRequest.SerializeToString,
            response_deserializer=pb.ModelInferResponse.FromString,
        )
        metadata = ((HOST_METADATA, self.host), *_forwarded(headers).items())
        try:
            answer = await call(
                grpc_codec.encode_infer_request(request), metadata=metadata, timeout=self.timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise _grpc_refusal(self.host, exc) from exc
        return grpc_codec.decode_infer_response(answer)


def as_request(model_name: str, payload: Any) -> InferRequest:
    """`payload` as a core InferRequest: ours, a KServe `InferRequest` (anything with tensor
    `inputs`), or a V2 JSON document; always addressed to `model_name` (KServe's own rule)."""
    if isinstance(payload, InferRequest):
        payload.model_name = model_name
        return payload
    if isinstance(payload, dict):
        if "inputs" not in payload:
            raise errors.InferenceError(
                f"transformer '{model_name}' calls its predictor over the v2 protocol, but "
                'preprocess returned a dict without "inputs"; return an InferRequest'
            )
        return v2.decode_request(jsoncodec.dumps(payload), model_name)
    inputs = getattr(payload, "inputs", None)
    if not isinstance(inputs, list):
        raise errors.InferenceError(
            f"transformer '{model_name}': preprocess returned {type(payload).__name__}, which "
            "the v2 protocol cannot carry; return an InferRequest"
        )
    tensors = [
        InferInput(t.name, list(t.shape), t.datatype, np.asarray(t.as_numpy()),
                   dict(getattr(t, "parameters", None) or {}))
        for t in inputs
    ]  # fmt: skip
    return InferRequest(
        model_name, tensors, request_id=getattr(payload, "id", None),
        parameters=dict(getattr(payload, "parameters", None) or {}),
    )  # fmt: skip


def _forwarded(headers: Mapping[str, str] | None) -> dict[str, str]:
    if not headers:
        return {}
    lowered = {k.lower(): v for k, v in headers.items()}
    return {k: lowered[k] for k in FORWARDED if k in lowered}


def _message(answer: httpx.Response) -> str:
    try:
        doc = answer.json()
    except ValueError:
        return answer.text[:500]
    return str(doc.get("error", doc)) if isinstance(doc, dict) else str(doc)


def _refusal(host: str, status: int, message: str) -> errors.ModelplaneError:
    text = f"predictor {host} answered {status}: {message}"
    # The predictor not serving the model (404) is no fault of the caller's: the predictor is
    # not there for it, as when it is unreachable.
    if status in (404, 502, 503, 504):
        return errors.ServerUnavailable(text)
    if status < 500:
        return errors.InvalidInput(text)
    return errors.InferenceError(text)


def _grpc_refusal(host: str, exc: grpc.aio.AioRpcError) -> errors.ModelplaneError:
    code = exc.code()
    text = f"predictor {host} answered {code.name}: {exc.details()}"
    if code in (
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    ):
        return errors.ServerUnavailable(text)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return errors.InvalidInput(text)
    return errors.InferenceError(text)

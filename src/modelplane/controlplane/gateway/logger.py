"""KServe's request logger: each request and/or response POSTed as a CloudEvent to `logger.url`.

KServe's agent sends binary-mode CloudEvents (the payload is the body, the event attributes are
`ce-*` headers) of type `org.kubeflow.serving.inference.request` and `...response`, with the
service's name, namespace, component and endpoint as extensions, so a consumer can pair a
request with its response by `ce-id`. The `metadata` extension is a JSON object of the request
headers the logger's `metadataHeaders` lists (each name as listed, its values as a list), on
both events, as KServe's agent sends it. The id is the request's `ce-id` or `x-request-id`
header, so the steps of one InferenceGraph request (the router passes its id on) share it.
Logging is fire-and-forget: it never delays an answer and never fails one. Posts run as
background tasks, at most `max_pending` at once (more are dropped and counted), and a body above
`max_body` is not kept for logging.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import httpx

from modelplane.controlplane.gateway import routes as routes_

log = logging.getLogger(__name__)

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"


def wants(spec: routes_.LoggerSpec | None, kind: str) -> bool:
    """Whether a logger in `spec.mode` (all|request|response) logs `kind` (request|response)."""
    return spec is not None and spec.mode in ("all", kind)


def metadata(
    spec: routes_.LoggerSpec, headers: Sequence[tuple[bytes, bytes]]
) -> dict[str, list[str]]:
    """The request headers `spec.metadata_headers` names, by the name as listed (any case)."""
    wanted = {name.lower().encode("latin-1"): name for name in spec.metadata_headers}
    found: dict[str, list[str]] = {}
    for key, value in headers:
        name = wanted.get(key.lower())
        if name is not None:
            found.setdefault(name, []).append(value.decode("latin-1"))
    return found


def request_id(headers: Sequence[tuple[bytes, bytes]]) -> str:
    """The id a request's events carry: its `ce-id`, else its `x-request-id`, else ""."""
    given = {k.lower(): v for k, v in headers if k.lower() in (b"ce-id", b"x-request-id")}
    value = given.get(b"ce-id") or given.get(b"x-request-id") or b""
    return value.decode("latin-1")


class RequestLogger:
    def __init__(self, *, max_pending: int = 1000, max_body: int = 4 << 20) -> None:
        self.max_pending = max_pending
        self.max_body = max_body
        self.dropped = 0
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def log(
        self,
        route: routes_.ServiceRoute,
        kind: str,
        *,
        request_id: str,
        revision: str,
        endpoint: str,
        body: bytes,
        content_type: str | None,
        metadata: Mapping[str, list[str]] | None = None,
    ) -> None:
        spec = route.logger
        if spec is None or not wants(spec, kind):
            return
        if len(self._tasks) >= self.max_pending:
            self.dropped += 1
            return
        headers = {
            "ce-specversion": "1.0",
            "ce-id": request_id,
            "ce-type": REQUEST_TYPE if kind == "request" else RESPONSE_TYPE,
            "ce-source": f"http://{route.name}.{route.namespace}/{revision}",
            "ce-time": datetime.now(UTC).isoformat(),
            "ce-inferenceservicename": route.name,
            "ce-namespace": route.namespace,
            "ce-component": "predictor",
            "ce-endpoint": endpoint,
            "ce-metadata": json.dumps(dict(metadata or {}), separators=(",", ":")),
            "content-type": content_type or "application/json",
        }
        task = asyncio.get_running_loop().create_task(self._post(spec.url, headers, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, url: str, headers: dict[str, str], body: bytes) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10.0)
        try:
            response = await self._client.post(url, content=body, headers=headers)
            if response.status_code >= 400:
                log.warning("request logger %s answered %s", url, response.status_code)
        except httpx.HTTPError as exc:
            log.warning("request logger %s failed: %s", url, exc)

    async def close(self, timeout: float = 5.0) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in self._tasks:
            task.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

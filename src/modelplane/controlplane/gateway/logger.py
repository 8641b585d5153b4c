"""KServe's request logger: each request and/or response POSTed as a CloudEvent to `logger.url`.

KServe's agent sends binary-mode CloudEvents (the payload is the body, the event attributes are
`ce-*` headers) of type `org.kubeflow.serving.inference.request` and `...response`, with the
service's name, namespace, component and endpoint as extensions, so a consumer can pair a
request with its response by `ce-id`. Logging is fire-and-forget: it never delays an answer and
never fails one. Posts run as background tasks, at most `max_pending` at once (more are dropped
and counted), and a body above `max_body` is not kept for logging.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx

from modelplane.controlplane.gateway import routes as routes_

log = logging.getLogger(__name__)

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"


def wants(spec: routes_.LoggerSpec | None, kind: str) -> bool:
    """Whether a logger in `spec.mode` (all|request|response) logs `kind` (request|response)."""
    return spec is not None and spec.mode in ("all", kind)


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

"""WATCH: a chunked stream of newline-delimited JSON events, as the Kubernetes API server sends.

Three ways to start, as Kubernetes defines them: from a resourceVersion (the changes after it);
without one or with "0" (synthetic ADDED events for what exists, then changes); and the
watch-list protocol kubectl 1.37 uses in `wait` (`sendInitialEvents=true`,
`resourceVersionMatch=NotOlderThan`): the ADDED events, then a BOOKMARK annotated
`k8s.io/initial-events-end`. Bookmarks keep an idle watch's resourceVersion fresh; the stream
ends at `timeoutSeconds` or when the client goes away, and the store forgets the watch either way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from modelplane.controlplane import errors, store
from modelplane.controlplane.apiserver import responses
from modelplane.resources import catalog

Obj = dict[str, Any]
Encode = Callable[[Obj], Obj]
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def start(request: Request, db: store.Store, kind: catalog.Kind, namespace: str | None,
          encode: Encode, bookmark_interval: float) -> Response:
    query = request.query_params
    label, field = query.get("labelSelector"), query.get("fieldSelector")
    since = query.get("resourceVersion") or None
    watch_list = responses.flag(request, "sendInitialEvents")
    bookmarks = responses.flag(request, "allowWatchBookmarks")
    if watch_list and query.get("resourceVersionMatch") != "NotOlderThan":
        raise errors.Invalid("sendInitialEvents requires setting resourceVersionMatch to "
                             "NotOlderThan", causes=[errors.Cause(
                                 "resourceVersionMatch", "must be NotOlderThan",
                                 "FieldValueInvalid")])
    if watch_list and not bookmarks:
        raise errors.Invalid("sendInitialEvents requires allowWatchBookmarks=true", causes=[
            errors.Cause("allowWatchBookmarks", "must be true", "FieldValueInvalid")])
    try:
        timeout = float(query["timeoutSeconds"]) if "timeoutSeconds" in query else None
    except ValueError:
        raise errors.BadRequest("timeoutSeconds must be a number") from None
    initial: list[Obj] = []
    if watch_list or since in (None, "0"):
        items, list_rv = db.list(kind, namespace, label_selector=label, field_selector=field)
        initial = [{"type": "ADDED", "object": encode(item)} for item in items]
        since = None
        if watch_list:
            initial.append({"type": "BOOKMARK", "object": _bookmark(kind, list_rv, end=True)})
    subscription = db.watch(kind, namespace, resource_version=since,
                            label_selector=label, field_selector=field)
    return WatchStream(subscription, initial, encode,
                       lambda: _bookmark(kind, db.resource_version),
                       timeout=timeout, bookmark_every=bookmark_interval if bookmarks else None)


def _bookmark(kind: catalog.Kind, resource_version: str, *, end: bool = False) -> Obj:
    meta: Obj = {"resourceVersion": resource_version}
    if end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": meta}


class WatchStream(Response):
    def __init__(self, subscription: store.Watch, initial: list[Obj], encode: Encode,
                 bookmark: Callable[[], Obj], *, timeout: float | None,
                 bookmark_every: float | None) -> None:
        super().__init__(media_type=responses.JSON)
        self._watch, self._initial, self._encode = subscription, initial, encode
        self._bookmark, self._timeout, self._every = bookmark, timeout, bookmark_every

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout if self._timeout is not None else None
        gone: asyncio.Future[Any] = asyncio.ensure_future(_disconnected(receive))
        pending: asyncio.Future[Any] | None = None
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"application/json"), (b"cache-control", b"no-cache")]})
            for line in self._initial:
                await _send_line(send, line)
            while True:
                waits = [t - loop.time() for t in (deadline,) if t is not None]
                if self._every is not None:
                    waits.append(self._every)
                pending = pending or asyncio.ensure_future(self._watch.__anext__())
                done, _ = await asyncio.wait({pending, gone}, timeout=min(waits, default=None),
                                             return_when=asyncio.FIRST_COMPLETED)
                if gone in done:
                    return
                if pending in done:
                    try:
                        event: store.WatchEvent = pending.result()
                    except StopAsyncIteration:
                        break
                    pending = None
                    await _send_line(send, {"type": event.type,
                                            "object": self._encode(event.object)})
                elif deadline is not None and loop.time() >= deadline:
                    break
                else:
                    await _send_line(send, {"type": "BOOKMARK", "object": self._bookmark()})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            return  # the client went away while we were writing
        finally:
            self._watch.close()
            for task in (gone, pending):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await task


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _send_line(send: Send, event: Obj) -> None:
    await send({"type": "http.response.body", "body": orjson.dumps(event) + b"\n",
                "more_body": True})

"""The OpenAI-compatible REST routes, under `/openai/v1` as in KServe's huggingfaceserver.

`POST /openai/v1/completions`, `/chat/completions` and `/embeddings` go to the model the body's
`model` field names, through the verbs of `core.completions`; `GET /openai/v1/models` lists the
ready models that serve at least one of them. `/v1/...` without the prefix stays KServe's V1
protocol, so `/v1/models` keeps meaning what KServe clients expect.

A stream is sent as server-sent events (`streaming.EventStream`). When the client goes away, the
model's delta iterator is closed at once, for streams and plain answers alike, which is what
stops a generation: a client that gives up does not keep the model busy.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelplane.core import completions, errors
from modelplane.core.completions import Delta
from modelplane.core.model import Model
from modelplane.protocol import jsoncodec, openai, openai_bodies
from modelplane.server import streaming
from modelplane.server.dataplane import DataPlane

log = logging.getLogger(__name__)

PREFIX = "/openai/v1"
JSON = "application/json"
#: nginx's status for "the client closed the request"; only the access log ever sees it.
CLIENT_GONE = 499
ENDPOINTS = {
    completions.COMPLETION: "/completions",
    completions.CHAT: "/chat/completions",
    completions.EMBEDDING: "/embeddings",
}

Generating = completions.CompletionRequest | completions.ChatRequest
BodyReader = Callable[[Request], Awaitable[bytes]]
Handler = Callable[[Request], Awaitable[Response]]


def routes(
    dataplane: DataPlane, read_body: BodyReader, clock: Callable[[], float] = time.time
) -> list[Route]:
    """The routes, reading bodies with the REST app's `read_body` (its size limit, its codecs)."""

    async def completion(request: Request) -> Response:
        parsed, include_usage = openai.parse_completion(await read_body(request))
        model = _model_for(dataplane, parsed.model, completions.COMPLETION)
        deltas = await _generate(model, completions.COMPLETION, parsed)
        return await _answer(request, "completion", parsed, deltas, include_usage)

    async def chat(request: Request) -> Response:
        parsed, include_usage = openai.parse_chat(await read_body(request))
        model = _model_for(dataplane, parsed.model, completions.CHAT)
        deltas = await _generate(model, completions.CHAT, parsed)
        return await _answer(request, "chat", parsed, deltas, include_usage)

    async def _generate(model: Model, verb: str, parsed: Generating) -> AsyncIterator[Delta]:
        """The model's deltas for the request: `n` answers from one call when the model samples
        several, else from `n` calls of one answer each."""
        sampling = parsed.sampling
        if sampling.logprobs is not None and not getattr(model, "gives_logprobs", False):
            raise errors.InvalidInput(
                f"model '{parsed.model}' does not give logprobs; drop logprobs, or serve it with "
                "a backend that does (--backend vllm)"
            )
        if sampling.n == 1 or getattr(model, "samples_n", False):
            deltas: AsyncIterator[Delta] = await dataplane.call(model, verb, parsed)
            return deltas
        single = dataclasses.replace(parsed, sampling=dataclasses.replace(sampling, n=1))
        started: list[AsyncIterator[Delta]] = []
        try:
            for _ in range(sampling.n):
                started.append(await dataplane.call(model, verb, single))
        except BaseException:
            for generation in started:
                if isinstance(generation, completions.Closable):
                    await generation.aclose()
            raise
        return completions.fan_out(started)

    async def _answer(
        request: Request,
        kind: openai_bodies.Kind,
        parsed: Generating,
        deltas: AsyncIterator[Delta],
        include_usage: bool,
    ) -> Response:
        response_id = f"{'chatcmpl' if kind == 'chat' else 'cmpl'}-{uuid.uuid4().hex}"
        created = int(clock())
        n = parsed.sampling.n
        if parsed.stream:
            writer = openai_bodies.ChunkWriter(
                kind, response_id, created, parsed.model, include_usage, n
            )
            return streaming.EventStream(_events(deltas, writer), deltas)
        collected = await streaming.unless_client_leaves(
            request, completions.gather(deltas, n), deltas
        )
        if collected is None:
            return Response(status_code=CLIENT_GONE)
        choices, used = collected
        return _json(
            openai_bodies.completion(kind, response_id, created, parsed.model, choices, used)
        )

    async def embedding(request: Request) -> Response:
        parsed, encoding_format = openai.parse_embedding(await read_body(request))
        model = _model_for(dataplane, parsed.model, completions.EMBEDDING)
        result = await dataplane.call(model, completions.EMBEDDING, parsed)
        return _json(openai_bodies.embeddings(parsed.model, result, encoding_format))

    async def model_list(request: Request) -> Response:
        return _json(openai_bodies.models(_openai_models(dataplane), int(clock())))

    async def model_info(request: Request) -> Response:
        name = request.path_params["model"]
        model = dataplane.repository.get(name)
        if not any(completions.serves(model, verb) for verb in completions.VERBS):
            raise errors.InvalidInput(
                f"model '{name}' serves no OpenAI endpoint; use /v1 or /v2 for it"
            )
        return _json(openai_bodies.models([name], int(clock()))["data"][0])

    table: list[tuple[str, str, Handler]] = [
        ("POST", "/completions", completion),
        ("POST", "/chat/completions", chat),
        ("POST", "/embeddings", embedding),
        ("GET", "/models", model_list),
        ("GET", "/models/{model:path}", model_info),
    ]
    return [
        Route(PREFIX + path, _guard(handler), methods=[method]) for method, path, handler in table
    ]


async def _events(
    deltas: AsyncIterator[Delta], writer: openai_bodies.ChunkWriter
) -> AsyncIterator[bytes]:
    try:
        async for delta in deltas:
            for event in writer.events(delta):
                yield event
    except Exception as exc:
        # The status line has gone out with the first chunk: report the failure in the stream.
        _log(exc)
        _, body = openai_bodies.error(exc)
        yield openai_bodies.sse(body)
        yield openai_bodies.DONE


def _model_for(dataplane: DataPlane, name: str, verb: str) -> Model:
    model = dataplane.repository.get(name)
    if not completions.serves(model, verb):
        others = [n for n in _openai_models(dataplane, verb) if n != name]
        raise errors.InvalidInput(
            f"model '{name}' does not serve {PREFIX}{ENDPOINTS[verb]}; "
            + (f"models that do: {', '.join(others)}" if others else "no model here does")
        )
    return model


def _openai_models(dataplane: DataPlane, verb: str | None = None) -> list[str]:
    """The ready models that serve `verb` (any OpenAI verb when None)."""
    verbs = completions.VERBS if verb is None else (verb,)
    names = []
    for name in dataplane.repository.names():
        try:
            model = dataplane.repository.get(name)
        except errors.ModelplaneError:
            continue
        if any(completions.serves(model, v) for v in verbs):
            names.append(name)
    return names


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(jsoncodec.dumps(body), status_code=status, media_type=JSON)


def _guard(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:
            _log(exc)
            status, body = openai_bodies.error(exc)
            return _json(body, status)

    return guarded


def _log(exc: BaseException) -> None:
    if not isinstance(exc, errors.ModelplaneError):
        log.error("unexpected error", exc_info=exc)
    elif isinstance(exc, errors.InferenceError):
        log.warning("%s", exc)

"""OpenAI's API, requests side: JSON bodies of completions, chat completions and embeddings
checked and turned into `core.completions` requests.

Every check says what to fix, since OpenAI clients pass the user's arguments straight through.
Fields modelplane does not act on (`user`, `seed`, `presence_penalty`, `frequency_penalty`,
`logit_bias`, ...) are accepted and ignored, as most OpenAI-compatible servers do; fields that
would change the shape of the answer (`best_of` other than `n`, `echo`, `suffix`, tools) are
refused, because silently ignoring them would return something other than what was asked. `n`
answers and `logprobs` are taken: completions' `logprobs: K` and chat's `logprobs: true` with
`top_logprobs: K` both become `Sampling.logprobs = K`.
The responses side is `protocol.openai_bodies`.
"""

from __future__ import annotations

from typing import Any

from modelplane.core import completions, errors
from modelplane.protocol import jsoncodec

#: OpenAI accepts at most this many stop sequences.
MAX_STOP = 4
#: The most answers per request, and the most alternatives per token (vLLM's default limit).
MAX_N = 128
MAX_LOGPROBS = 20
ROLES = ("system", "developer", "user", "assistant", "tool")


def parse_completion(body: bytes) -> tuple[completions.CompletionRequest, bool]:
    """A completions request and whether the client wants usage in the stream."""
    payload = jsoncodec.loads_object(body, "the request body")
    _refuse_unsupported(payload, ("echo", "suffix"))
    logprobs = payload.get("logprobs")
    if logprobs is not None and (not _is_int(logprobs) or not 0 <= logprobs <= MAX_LOGPROBS):
        raise errors.InvalidInput(
            f'"logprobs" must be an integer from 0 to {MAX_LOGPROBS} (how many alternatives per '
            f"token), got {logprobs!r}"
        )
    prompt = payload.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise errors.InvalidInput(
            '"prompt" must be a string (one prompt per request; token lists are not accepted, '
            f"since tokenizers differ between models), got {_kind(prompt)}"
        )
    request = completions.CompletionRequest(
        model=_model(payload),
        prompt=prompt,
        sampling=_sampling(payload, "max_tokens", logprobs),
        stream=_stream(payload),
    )
    return request, _include_usage(payload)


def parse_chat(body: bytes) -> tuple[completions.ChatRequest, bool]:
    """A chat completions request and whether the client wants usage in the stream."""
    payload = jsoncodec.loads_object(body, "the request body")
    _refuse_unsupported(payload, ("tools", "functions"))
    wanted = payload.get("logprobs")
    if wanted is not None and not isinstance(wanted, bool):
        raise errors.InvalidInput(f'"logprobs" must be true or false, got {wanted!r}')
    top = payload.get("top_logprobs")
    if top is not None and (not _is_int(top) or not 0 <= top <= MAX_LOGPROBS):
        raise errors.InvalidInput(
            f'"top_logprobs" must be an integer from 0 to {MAX_LOGPROBS}, got {top!r}'
        )
    if top and not wanted:
        raise errors.InvalidInput('"top_logprobs" needs "logprobs": true')
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise errors.InvalidInput(
            '"messages" must be a non-empty list of {"role": ..., "content": ...} objects'
        )
    max_key = "max_completion_tokens" if "max_completion_tokens" in payload else "max_tokens"
    request = completions.ChatRequest(
        model=_model(payload),
        messages=tuple(_message(i, message) for i, message in enumerate(messages)),
        sampling=_sampling(payload, max_key, (top or 0) if wanted else None),
        stream=_stream(payload),
    )
    return request, _include_usage(payload)


def parse_embedding(body: bytes) -> tuple[completions.EmbeddingRequest, str]:
    """An embeddings request and its encoding format (`float` or `base64`)."""
    payload = jsoncodec.loads_object(body, "the request body")
    texts = payload.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(text, str) for text in texts):
        raise errors.InvalidInput(
            '"input" must be a string or a non-empty list of strings (token lists are not '
            f"accepted, since tokenizers differ between models), got {_kind(texts)}"
        )
    encoding = payload.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise errors.InvalidInput(
            f'"encoding_format" must be "float" or "base64", not {encoding!r}'
        )
    if payload.get("dimensions") is not None:
        raise errors.InvalidInput(
            '"dimensions" is not supported: the model gives vectors of its own size; drop it'
        )
    return completions.EmbeddingRequest(model=_model(payload), inputs=tuple(texts)), encoding


def _model(payload: dict[str, Any]) -> str:
    name = payload.get("model")
    if not isinstance(name, str) or not name:
        raise errors.InvalidInput(
            '"model" must name a served model; GET /openai/v1/models lists them'
        )
    return name


def _sampling(payload: dict[str, Any], max_key: str, logprobs: int | None) -> completions.Sampling:
    max_tokens = payload.get(max_key)
    if max_tokens is not None and (not _is_int(max_tokens) or max_tokens < 1):
        raise errors.InvalidInput(f'"{max_key}" must be a positive integer, got {max_tokens!r}')
    temperature = _number(payload, "temperature", 1.0)
    if not 0.0 <= temperature <= 2.0:
        raise errors.InvalidInput(f'"temperature" must be between 0 and 2, got {temperature}')
    top_p = _number(payload, "top_p", 1.0)
    if not 0.0 < top_p <= 1.0:
        raise errors.InvalidInput(f'"top_p" must be greater than 0 and at most 1, got {top_p}')
    n = payload.get("n")
    n = 1 if n is None else n
    if not _is_int(n) or not 1 <= n <= MAX_N:
        raise errors.InvalidInput(f'"n" must be an integer from 1 to {MAX_N}, got {n!r}')
    best_of = payload.get("best_of")
    if best_of is not None and best_of != n:
        raise errors.InvalidInput(
            f'"best_of" must equal "n" ({n}): every answer generated is returned; drop it'
        )
    return completions.Sampling(
        max_tokens, temperature, top_p, _stop(payload.get("stop")), n, logprobs
    )


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOP
        or not all(isinstance(stop, str) and stop for stop in stops)
    ):
        raise errors.InvalidInput(
            f'"stop" must be a non-empty string or a list of at most {MAX_STOP} of them, '
            f"got {value!r}"
        )
    return tuple(stops)


def _message(index: int, message: Any) -> completions.ChatMessage:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise errors.InvalidInput(f'{where} must be an object with "role" and "content"')
    role = message.get("role")
    if role not in ROLES:
        raise errors.InvalidInput(f"{where}.role must be one of {', '.join(ROLES)}, got {role!r}")
    content = message.get("content")
    if content is None:
        content = ""
    if isinstance(content, list):
        content = "".join(
            _text_part(f"{where}.content[{i}]", part) for i, part in enumerate(content)
        )
    if not isinstance(content, str):
        raise errors.InvalidInput(
            f"{where}.content must be a string or a list of text parts, got {_kind(content)}"
        )
    return completions.ChatMessage(role, content)


def _text_part(where: str, part: Any) -> str:
    if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
        text: str = part["text"]
        return text
    kind = part.get("type") if isinstance(part, dict) else _kind(part)
    raise errors.InvalidInput(
        f'{where} is a {kind!r} part; only {{"type": "text", "text": ...}} parts are supported'
    )


def _stream(payload: dict[str, Any]) -> bool:
    stream = payload.get("stream", False)
    if stream is None:
        return False
    if not isinstance(stream, bool):
        raise errors.InvalidInput(f'"stream" must be true or false, got {stream!r}')
    return stream


def _include_usage(payload: dict[str, Any]) -> bool:
    options = payload.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise errors.InvalidInput('"stream_options" must be an object like {"include_usage": true}')
    return bool(options.get("include_usage", False))


def _refuse_unsupported(payload: dict[str, Any], flags: tuple[str, ...]) -> None:
    for key in flags:
        value = payload.get(key)
        if value not in (None, False, [], ""):
            raise errors.InvalidInput(f'"{key}" is not supported by this server; drop it')


def _number(payload: dict[str, Any], key: str, default: float) -> float:
    value = payload.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise errors.InvalidInput(f'"{key}" must be a number, got {value!r}')
    return float(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "an empty list" if not value else f"a list of {type(value[0]).__name__}"
    return type(value).__name__

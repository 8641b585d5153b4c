"""Token throughput of generation: N concurrent streaming completions against modelplane.

modelplane serves a tiny random-weight GPT-2 (`env.build_gpt2`: 2 layers, n_embd 64, CPU, one
thread) pinned to the server's core, on each backend of the Hugging Face runtime: transformers
(`gen-` rows) and vLLM (`vllm-` rows, its engine's threads bound to the same core); this
driver, in the bench's own process on the load core, keeps `concurrency` streaming
`POST /openai/v1/completions` requests in flight (fixed prompt, temperature 0, max_tokens 64,
`stream_options.include_usage`) for the round's duration, each worker starting its next request
as soon as the last one ends (closed loop, like wrk).

Per round it reports:

- tokens/s: completion tokens (from each stream's usage chunk) of the requests that finished in
  the round, over the round's wall time (from the first request sent to the last one finished);
- TTFT p50: request sent -> first chunk with text;
- ITL p50: the gap between consecutive chunks with text of one stream (a chunk is one token here:
  the model's generation config suppresses the lone-byte tokens that would be held back).

There is no peer (no anchor environment here serves generation): these are modelplane's own
figures, to follow from run to run.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

# --only key -> concurrent streams; `gen-` rows run the transformers backend, `vllm-` rows vLLM
# (from .venv-vllm, `make vllm`), on the same model.
KEYS = {
    "gen-c1": 1, "gen-c8": 8, "gen-c32": 32,
    "vllm-c1": 1, "vllm-c8": 8, "vllm-c32": 32,
}  # fmt: skip
BACKENDS = {"gen": "transformers", "vllm": "vllm"}


def backend_of(key: str) -> str:
    return BACKENDS[key.split("-", 1)[0]]


TITLE = "generation (tiny GPT-2, CPU)"
PROMPT = "the quick brown fox"
MAX_TOKENS = 64
PATH = "/openai/v1/completions"


def request(model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "prompt": PROMPT,
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def check_plain(status: int, body: bytes) -> str | None:
    """A non-streaming answer is right when it is 200 and ran to max_tokens."""
    if status != 200:
        return f"HTTP {status}: {body[:300]!r}"
    try:
        doc = json.loads(body)
        got = doc["usage"]["completion_tokens"]
        doc["choices"][0]["text"]
    except (ValueError, KeyError, IndexError, TypeError):
        return f"not a completion: {body[:300]!r}"
    if got != MAX_TOKENS:
        return f"expected {MAX_TOKENS} completion tokens, got {got}"
    return None


@dataclass
class Stream:
    """One streamed completion, as the client saw it."""

    text: str = ""
    tokens: int = 0  # usage.completion_tokens
    chunks: int = 0  # chunks with text
    ttft: float = 0.0
    gaps: list[float] = field(default_factory=list)


async def stream_once(client: httpx.AsyncClient, model: str) -> Stream:
    out = Stream()
    t0 = time.perf_counter()
    last: float | None = None
    async with client.stream("POST", PATH, json=request(model, stream=True)) as response:
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {(await response.aread())[:300]!r}")
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                break
            doc = json.loads(data)
            if "error" in doc:
                raise RuntimeError(f"error event: {doc['error']}")
            now = time.perf_counter()
            if doc.get("usage"):
                out.tokens = int(doc["usage"]["completion_tokens"])
            choices = doc.get("choices") or []
            if choices and choices[0].get("text"):
                out.text += choices[0]["text"]
                out.chunks += 1
                if last is None:
                    out.ttft = now - t0
                else:
                    out.gaps.append(now - last)
                last = now
    if not out.tokens:
        raise RuntimeError("stream ended without a usage chunk")
    return out


def _client(port: int, concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=httpx.Timeout(120.0)
    )


def preflight(port: int, model: str, plain_text: str) -> str | None:
    """One streamed request: None when it runs to max_tokens and says what the plain request
    said (greedy decoding, so the same text), else what is wrong."""

    async def go() -> Stream:
        async with _client(port, 1) as client:
            return await stream_once(client, model)

    try:
        got = asyncio.run(go())
    except (RuntimeError, httpx.HTTPError, ValueError) as exc:
        return str(exc)
    if got.tokens != MAX_TOKENS:
        return f"stream gave {got.tokens} tokens, expected {MAX_TOKENS}"
    if got.text != plain_text:
        return f"streamed text {got.text[:60]!r} differs from the plain answer {plain_text[:60]!r}"
    return None


@dataclass
class Round:
    requests: int
    tokens: int
    seconds: float
    ttft_p50_ms: float
    itl_p50_ms: float
    ttft_p99_ms: float
    itl_p99_ms: float
    errors: int
    gen_cpu: float = 0.0  # share of one core the driver (this process) used
    srv_cpu: float = 0.0  # filled in by the caller

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tokens_per_s": self.tokens_per_s}


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run_round(port: int, model: str, concurrency: int, seconds: float) -> Round:
    """Keep `concurrency` streams in flight for `seconds`; requests started before the deadline
    run to their end and count."""

    async def go() -> tuple[list[Stream], int, float]:
        done: list[Stream] = []
        errors = 0
        async with _client(port, concurrency) as client:
            t0 = time.perf_counter()
            deadline = t0 + seconds

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    try:
                        done.append(await stream_once(client, model))
                    except (RuntimeError, httpx.HTTPError, ValueError):
                        errors += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return done, errors, time.perf_counter() - t0

    cpu0 = time.process_time()
    streams, errors, wall = asyncio.run(go())
    gen_cpu = (time.process_time() - cpu0) / wall if wall else 0.0
    ttfts = [s.ttft for s in streams]
    gaps = [g for s in streams for g in s.gaps]
    return Round(
        requests=len(streams),
        tokens=sum(s.tokens for s in streams),
        seconds=wall,
        ttft_p50_ms=_pct(ttfts, 0.5),
        itl_p50_ms=_pct(gaps, 0.5),
        ttft_p99_ms=_pct(ttfts, 0.99),
        itl_p99_ms=_pct(gaps, 0.99),
        errors=errors,
        gen_cpu=gen_cpu,
    )


def summarize(rounds: list[Round]) -> dict[str, Any]:
    """Medians over rounds; requests, tokens and errors summed."""
    return {
        "tokens_per_s": statistics.median(r.tokens_per_s for r in rounds),
        "ttft_p50_ms": statistics.median(r.ttft_p50_ms for r in rounds),
        "itl_p50_ms": statistics.median(r.itl_p50_ms for r in rounds),
        "ttft_p99_ms": statistics.median(r.ttft_p99_ms for r in rounds),
        "itl_p99_ms": statistics.median(r.itl_p99_ms for r in rounds),
        "requests": sum(r.requests for r in rounds),
        "tokens": sum(r.tokens for r in rounds),
        "errors": sum(r.errors for r in rounds),
        "srv_cpu": statistics.median(r.srv_cpu for r in rounds),
        "gen_cpu": max(r.gen_cpu for r in rounds),
    }

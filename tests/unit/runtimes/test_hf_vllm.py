"""The vLLM backend's delta stream, against a stand-in for vLLM's `AsyncLLM.generate` (vLLM
itself lives in .venv-vllm; tests/e2e/test_vllm_up.py runs the real engine)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from modelplane.runtimes import hf_vllm


@dataclass
class Answer:
    index: int
    text: str
    token_ids: list[int]
    finish_reason: str | None = None
    logprobs: Any = None


@dataclass
class Output:
    outputs: list[Answer]


@dataclass
class Engine:
    """Yields one token per step until it is closed; vLLM aborts a request on that close."""

    closed: list[str] = field(default_factory=list)

    async def generate(self, prompt: Any, params: Any, request_id: str) -> AsyncIterator[Output]:
        try:
            for step in range(params.max_tokens):
                last = step == params.max_tokens - 1
                yield Output([Answer(0, "x", [step], "length" if last else None)])
        except GeneratorExit:
            self.closed.append(request_id)
            raise


@dataclass
class Params:
    max_tokens: int
    n: int = 1
    logprobs: int | None = None


def model() -> hf_vllm.VLLMModel:
    bare: hf_vllm.VLLMModel = object.__new__(hf_vllm.VLLMModel)  # no model directory needed
    bare.generated_tokens = 0
    return bare


async def test_a_stream_closed_while_it_waits_at_yield_closes_vllms_generator() -> None:
    # The client left between two tokens: the server closes the delta stream at its `yield`,
    # and only closing vLLM's own generator aborts the request in the engine.
    engine = Engine()
    stream = model()._stream(engine, [1, 2], Params(max_tokens=1000), "r1")

    first = await stream.__anext__()
    await stream.aclose()

    assert first.text == "x" and first.finish_reason is None
    assert engine.closed == ["r1"]


async def test_a_whole_stream_counts_its_tokens_and_ends_with_usage() -> None:
    engine = Engine()
    deltas = [d async for d in model()._stream(engine, [1, 2, 3], Params(max_tokens=4), "r2")]

    assert "".join(d.text for d in deltas) == "xxxx"
    assert deltas[-1].finish_reason == "length"
    assert deltas[-1].usage is not None
    assert (deltas[-1].usage.prompt_tokens, deltas[-1].usage.completion_tokens) == (3, 4)

"""A client that goes away stops the generation it asked for.

Each test asks for far more tokens than it waits for (1000 tokens take the tiny GPT-2 seconds),
leaves once generation has visibly begun, then waits on the model's own idle signal and checks
that the generation ended as cancelled, well short of its budget. No test sleeps.
"""

from __future__ import annotations

import socket
import time

import openai
import orjson

from modelplane.runtimes import hf_generative
from tests.integration.openai.conftest import GPT2, SCRIPTED
from tests.integration.openai.scripted import ScriptedGenerator
from tests.support.serving import RunningServer

BUDGET = 1000
IDLE_TIMEOUT = 30.0


def gpt2(server: RunningServer) -> hf_generative.GenerativeModel:
    model = server.srv.repository.get(GPT2)
    assert isinstance(model, hf_generative.GenerativeModel)
    return model


def test_closing_a_stream_stops_generating(
    client: openai.OpenAI, openai_server: RunningServer
) -> None:
    model = gpt2(openai_server)
    tokens_before, cancelled_before = model.generated_tokens, model.cancelled_generations

    stream = client.completions.create(
        model=GPT2, prompt="the quick brown fox", max_tokens=BUDGET, temperature=0, stream=True
    )
    first = next(iter(stream))
    stream.close()

    assert first.choices[0].text
    assert model.wait_idle(IDLE_TIMEOUT)
    assert model.cancelled_generations == cancelled_before + 1
    generated = model.generated_tokens - tokens_before
    assert 0 < generated < BUDGET // 2


def test_leaving_a_plain_request_stops_generating(openai_server: RunningServer) -> None:
    model = gpt2(openai_server)
    tokens_before, cancelled_before = model.generated_tokens, model.cancelled_generations
    body = orjson.dumps({"model": GPT2, "prompt": "the quick brown fox", "max_tokens": BUDGET})
    request = (
        b"POST /openai/v1/completions HTTP/1.1\r\nHost: test\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )

    with socket.create_connection(("127.0.0.1", openai_server.srv.http_port or 0)) as sock:
        sock.sendall(request)
        _wait_until(lambda: model.generated_tokens > tokens_before)
    # The socket is closed: the server sees the disconnect while the answer is being generated.

    assert model.wait_idle(IDLE_TIMEOUT)
    assert model.cancelled_generations == cancelled_before + 1
    assert model.generated_tokens - tokens_before < BUDGET // 2


def test_closing_a_custom_models_stream_closes_its_iterator(
    client: openai.OpenAI, openai_server: RunningServer
) -> None:
    model = openai_server.srv.repository.get(SCRIPTED)
    assert isinstance(model, ScriptedGenerator)
    model.closed.clear()

    stream = client.completions.create(model=SCRIPTED, prompt="forever", stream=True)
    next(iter(stream))
    stream.close()

    assert model.closed.wait(IDLE_TIMEOUT)


def _wait_until(condition: object, timeout: float = IDLE_TIMEOUT) -> None:
    """Poll `condition` (a state change in another thread); not a guess at how long it takes."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)

"""The OpenAI endpoints driven by the `openai` Python client, as users drive them.

Generation is greedy (`temperature=0`) wherever answers are compared, so a streamed answer must
equal the plain one token for token. The tiny GPT-2 never emits its end-of-text token, so
`max_tokens` decides its length.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from tests.integration.openai.conftest import EMBED, GPT2, IRIS, SCRIPTED
from tests.support.serving import RunningServer

PROMPT = "the quick brown fox"


def tokens(gpt2_dir: Path, text: str) -> int:
    from transformers import AutoTokenizer

    return len(AutoTokenizer.from_pretrained(str(gpt2_dir))(text)["input_ids"])


def greedy(client: openai.OpenAI, max_tokens: int = 12, **kwargs: Any) -> Any:
    return client.completions.create(
        model=GPT2, prompt=PROMPT, max_tokens=max_tokens, temperature=0, **kwargs
    )


def test_models_lists_the_models_that_serve_openai(client: openai.OpenAI) -> None:
    listed = {model.id: model for model in client.models.list()}

    assert set(listed) == {GPT2, EMBED, SCRIPTED}
    assert listed[GPT2].owned_by == "modelplane"
    assert client.models.retrieve(GPT2).id == GPT2


def test_v1_models_is_still_kserves_list(openai_server: RunningServer) -> None:
    response = httpx.get(f"{openai_server.http_url}/v1/models")

    assert response.json() == {"models": [GPT2, EMBED, IRIS, SCRIPTED]}


def test_completion_has_text_finish_reason_and_usage(client: openai.OpenAI, gpt2_dir: Path) -> None:
    completion = greedy(client, max_tokens=12)

    [choice] = completion.choices
    assert isinstance(choice.text, str) and choice.text
    assert choice.finish_reason == "length"
    assert completion.model == GPT2
    assert completion.object == "text_completion"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 12
    assert completion.usage.prompt_tokens == tokens(gpt2_dir, PROMPT)
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 12


def test_a_streamed_completion_is_the_plain_one_in_pieces(client: openai.OpenAI) -> None:
    plain = greedy(client, max_tokens=12)

    chunks = list(greedy(client, max_tokens=12, stream=True))

    assert "".join(chunk.choices[0].text for chunk in chunks) == plain.choices[0].text
    assert [chunk.choices[0].finish_reason for chunk in chunks][-1] == "length"
    assert all(chunk.choices[0].finish_reason is None for chunk in chunks[:-1])
    assert len({chunk.id for chunk in chunks}) == 1


def test_n_answers_come_indexed_with_their_tokens_summed(client: openai.OpenAI) -> None:
    # The transformers backend samples one answer per call: the server asks n times.
    completion = client.completions.create(model=GPT2, prompt=PROMPT, max_tokens=6, n=3)
    alone = greedy(client, max_tokens=6)

    assert [choice.index for choice in completion.choices] == [0, 1, 2]
    assert all(choice.finish_reason == "length" for choice in completion.choices)
    assert completion.usage is not None and alone.usage is not None
    assert completion.usage.completion_tokens == 18
    assert completion.usage.prompt_tokens == alone.usage.prompt_tokens


def test_n_streamed_answers_interleave_and_end_once(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model=GPT2,
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=5,
            n=2,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    answers: dict[int, list[Any]] = {}
    for chunk in chunks[:-1]:
        [choice] = chunk.choices
        answers.setdefault(choice.index, []).append(choice)
    assert sorted(answers) == [0, 1]
    for parts in answers.values():
        assert parts[0].delta.role == "assistant"
        assert [part.finish_reason for part in parts][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 10


def test_a_stop_sequence_cuts_the_text_and_stops(client: openai.OpenAI) -> None:
    text = greedy(client, max_tokens=30).choices[0].text
    stop = text[1:3]  # two characters spanning two tokens, found after the first character
    expected = text[: text.index(stop)]
    assert expected

    plain = greedy(client, max_tokens=30, stop=[stop])
    streamed = list(greedy(client, max_tokens=30, stop=stop, stream=True))

    assert plain.choices[0].text == expected
    assert plain.choices[0].finish_reason == "stop"
    assert plain.usage is not None and plain.usage.completion_tokens < 30
    assert "".join(chunk.choices[0].text for chunk in streamed) == expected
    assert streamed[-1].choices[0].finish_reason == "stop"


def test_sampling_parameters_are_accepted(client: openai.OpenAI) -> None:
    completion = client.completions.create(
        model=GPT2, prompt=PROMPT, max_tokens=5, temperature=0.7, top_p=0.9
    )

    assert completion.usage is not None and completion.usage.completion_tokens == 5


def test_chat_uses_the_fallback_prompt_without_a_template(
    client: openai.OpenAI, gpt2_dir: Path
) -> None:
    messages: Any = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
    ]

    chat = client.chat.completions.create(
        model=GPT2, messages=messages, max_tokens=6, temperature=0
    )

    assert chat.object == "chat.completion"
    assert chat.choices[0].message.role == "assistant"
    assert chat.choices[0].message.content
    assert chat.choices[0].finish_reason == "length"
    assert chat.usage is not None
    assert chat.usage.prompt_tokens == tokens(gpt2_dir, "system: be brief\nuser: hello\nassistant:")


def test_a_streamed_chat_starts_with_the_role_and_ends_with_usage(client: openai.OpenAI) -> None:
    messages: Any = [{"role": "user", "content": "hello"}]
    plain = client.chat.completions.create(
        model=GPT2, messages=messages, max_tokens=6, temperature=0
    )

    chunks = list(
        client.chat.completions.create(
            model=GPT2,
            messages=messages,
            max_tokens=6,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    assert chunks[0].choices[0].delta.role == "assistant"
    *answer, last = chunks
    assert "".join(c.choices[0].delta.content or "" for c in answer) == (
        plain.choices[0].message.content
    )
    assert answer[-1].choices[0].finish_reason == "length"
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (
        plain.usage.prompt_tokens if plain.usage else None,
        6,
    )


def test_embeddings_are_the_v1_predictions(
    client: openai.OpenAI, openai_server: RunningServer
) -> None:
    texts = ["the quick brown fox", "paris is the capital of france"]

    result = client.embeddings.create(model=EMBED, input=texts)  # base64 on the wire
    as_floats = client.embeddings.create(model=EMBED, input=texts, encoding_format="float")
    v1 = httpx.post(
        f"{openai_server.http_url}/v1/models/{EMBED}:predict", json={"instances": texts}
    ).json()["predictions"]

    assert [item.index for item in result.data] == [0, 1]
    np.testing.assert_allclose([item.embedding for item in result.data], v1, rtol=1e-6)
    np.testing.assert_allclose([item.embedding for item in as_floats.data], v1, rtol=1e-6)
    assert len(result.data[0].embedding) == 32
    assert result.usage.prompt_tokens == 4 + 6 + 4  # words plus [CLS] and [SEP] each


def test_a_prompt_over_the_context_is_a_400_saying_so(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model=GPT2, prompt="fox " * 2000, max_tokens=4)

    assert caught.value.status_code == 400
    assert caught.value.code == "context_length_exceeded"
    assert "shorten the prompt" in caught.value.message


def test_max_tokens_past_the_context_is_a_400_naming_the_room_left(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="at most") as caught:
        client.completions.create(model=GPT2, prompt=PROMPT, max_tokens=5000, stream=True)

    assert caught.value.code == "context_length_exceeded"


def test_an_unknown_model_is_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.completions.create(model="no-such-model", prompt=PROMPT)

    assert caught.value.code == "model_not_found"
    assert "no-such-model" in caught.value.message


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.completions.create(model=EMBED, prompt=PROMPT), "does not serve"),
        (lambda c: c.completions.create(model=IRIS, prompt=PROMPT), "does not serve"),
        (lambda c: c.embeddings.create(model=GPT2, input="x"), "models that do: tiny-embed"),
        (
            lambda c: c.completions.create(model=GPT2, prompt=PROMPT, temperature=3),
            "between 0 and 2",
        ),
        (lambda c: c.completions.create(model=GPT2, prompt=PROMPT, logprobs=2), "--backend vllm"),
        (lambda c: c.completions.create(model=GPT2, prompt=PROMPT, n=0), '"n" must be'),
        (lambda c: c.completions.create(model=GPT2, prompt=[1, 2]), "token lists"),
        (lambda c: c.completions.create(model=SCRIPTED, prompt="refuse"), "refused"),
    ],
)
def test_bad_requests_are_400s_saying_what_to_fix(
    client: openai.OpenAI, call: Any, message: str
) -> None:
    with pytest.raises(openai.BadRequestError, match=message):
        call(client)


def test_a_v1_request_to_a_generator_points_at_the_openai_routes(
    openai_server: RunningServer,
) -> None:
    response = httpx.post(
        f"{openai_server.http_url}/v1/models/{GPT2}:predict", json={"instances": ["x"]}
    )

    assert response.status_code == 400
    assert "/openai/v1/completions" in response.json()["error"]


def test_a_failure_mid_stream_arrives_as_an_error_event(client: openai.OpenAI) -> None:
    stream = client.completions.create(model=SCRIPTED, prompt="fail", stream=True)
    received = []

    with pytest.raises(openai.APIError, match="fails after one delta"):
        for chunk in stream:
            received.append(chunk.choices[0].text)

    assert received == ["first "]


def test_a_custom_models_plain_embedding_method_serves(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model=SCRIPTED, input=["ab", "abc"], encoding_format="float")

    assert [item.embedding for item in result.data] == [[2.0, 0.5], [3.0, 0.5]]
    assert result.usage.prompt_tokens == 3


def test_the_error_body_has_openais_shape(openai_server: RunningServer) -> None:
    response = httpx.post(
        f"{openai_server.http_url}/openai/v1/completions", json={"model": "nope", "prompt": "x"}
    )

    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": response.json()["error"]["message"],
            "type": "not_found_error",
            "param": None,
            "code": "model_not_found",
        }
    }

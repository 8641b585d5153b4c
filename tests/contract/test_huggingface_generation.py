"""The generative side of the Hugging Face runtime, through the model's own verbs (no server).

A causal LM is chosen from its config, answers completions and chat completions as async
streams of deltas ending with the finish reason and usage, checks the context before it starts
generating, uses the tokenizer's chat template when there is one, refuses V1/V2, and stops its
generations when the model is stopped. Concurrent requests share one decoding batch: each gets
the answer it would get alone (greedy), its own budget, stop sequences and sampling, and a
cancelled one leaves the others running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.core import completions, errors
from modelplane.runtimes import hf_generative, selector
from tests.support import hf_models

TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)
GREEDY = completions.Sampling(max_tokens=8, temperature=0)
IDLE = 30.0


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hf_models.gpt2(tmp_path_factory.mktemp("gpt2"))


@pytest.fixture(scope="module")
def generator(gpt2_dir: Path) -> Iterator[hf_generative.GenerativeModel]:
    model = selector.create_model("g", gpt2_dir)
    assert isinstance(model, hf_generative.GenerativeModel)
    model.load()
    yield model
    model.stop()


def completion(
    prompt: str, sampling: completions.Sampling = GREEDY
) -> completions.CompletionRequest:
    return completions.CompletionRequest("g", prompt, sampling)


async def test_a_completion_streams_deltas_ending_with_usage(
    generator: hf_generative.GenerativeModel, gpt2_dir: Path
) -> None:
    from transformers import AutoTokenizer

    prompt_tokens = len(AutoTokenizer.from_pretrained(str(gpt2_dir))("the fox")["input_ids"])

    deltas = [delta async for delta in generator.create_completion(completion("the fox"))]

    *body, last = deltas
    assert all(delta.finish_reason is None and delta.usage is None for delta in body)
    assert last.finish_reason == "length"
    assert last.usage == completions.Usage(prompt_tokens=prompt_tokens, completion_tokens=8)
    assert "".join(delta.text for delta in deltas)


async def test_greedy_answers_repeat(generator: hf_generative.GenerativeModel) -> None:
    first = await completions.collect(generator.create_completion(completion("paris is")))
    second = await completions.collect(generator.create_completion(completion("paris is")))

    assert first == second


async def test_the_completion_default_is_sixteen_tokens(
    generator: hf_generative.GenerativeModel,
) -> None:
    request = completion("the fox", completions.Sampling(temperature=0))

    _, _, usage = await completions.collect(generator.create_completion(request))

    assert usage.completion_tokens == hf_generative.COMPLETION_MAX_TOKENS


async def test_chat_without_a_template_uses_the_fallback(
    generator: hf_generative.GenerativeModel,
) -> None:
    messages = (completions.ChatMessage("user", "hi"),)
    fallback = await completions.collect(
        generator.create_chat_completion(completions.ChatRequest("g", messages, GREEDY))
    )
    plain = await completions.collect(
        generator.create_completion(completion(hf_generative.fallback_chat_prompt(messages)))
    )

    assert fallback == plain


async def test_chat_uses_the_tokenizers_template(tmp_path: Path) -> None:
    model = selector.create_model("g", hf_models.gpt2(tmp_path, chat_template=TEMPLATE))
    model.load()
    assert isinstance(model, hf_generative.GenerativeModel)
    messages = (completions.ChatMessage("user", "hi"),)

    chat = await completions.collect(
        model.create_chat_completion(completions.ChatRequest("g", messages, GREEDY))
    )
    plain = await completions.collect(
        model.create_completion(completion("<user>hi</user><assistant>"))
    )

    assert chat == plain


async def test_a_prompt_over_the_context_fails_before_generating(
    generator: hf_generative.GenerativeModel,
) -> None:
    before = generator.generated_tokens

    with pytest.raises(errors.ContextLengthExceeded, match="shorten the prompt"):
        generator.create_completion(completion("fox " * hf_models.GPT2_CONTEXT))
    with pytest.raises(errors.ContextLengthExceeded, match="ask for at most"):
        generator.create_completion(
            completion("the fox", completions.Sampling(max_tokens=hf_models.GPT2_CONTEXT))
        )

    assert generator.generated_tokens == before
    assert generator.wait_idle(0)


def test_an_empty_prompt_is_invalid_input(generator: hf_generative.GenerativeModel) -> None:
    with pytest.raises(errors.InvalidInput, match="prompt is empty"):
        generator.create_completion(completion(""))


def test_v1_and_v2_point_at_the_openai_routes(generator: hf_generative.GenerativeModel) -> None:
    with pytest.raises(errors.InvalidInput, match="/openai/v1/chat/completions"):
        generator.predict({"instances": ["x"]})


async def test_stop_cancels_running_generations(gpt2_dir: Path) -> None:
    model = selector.create_model("g", gpt2_dir)
    model.load()
    assert isinstance(model, hf_generative.GenerativeModel)
    long = completion("the fox", completions.Sampling(max_tokens=1000, temperature=0))
    stream = model.create_completion(long)
    await anext(stream)

    model.stop()

    assert model.wait_idle(0)
    assert model.cancelled_generations == 1
    assert model.generated_tokens < 500


async def test_concurrent_greedy_streams_each_get_their_own_answer(
    generator: hf_generative.GenerativeModel,
) -> None:
    prompts = ["the fox", "paris is the capital of", "a bad movie makes", "berlin"] * 2
    alone = {
        p: await completions.collect(generator.create_completion(completion(p))) for p in prompts
    }

    together = await asyncio.gather(
        *(completions.collect(generator.create_completion(completion(p))) for p in prompts)
    )

    assert list(together) == [alone[p] for p in prompts]


async def test_a_stream_joining_a_running_batch_gets_its_own_answer(
    generator: hf_generative.GenerativeModel,
) -> None:
    short = completion("berlin", completions.Sampling(max_tokens=12, temperature=0))
    alone = await completions.collect(generator.create_completion(short))
    long = generator.create_completion(
        completion("the quick brown fox jumps", completions.Sampling(max_tokens=60, temperature=0))
    )
    await anext(long)  # the long one is decoding: the short one joins a running batch

    joined = await completions.collect(generator.create_completion(short))
    await long.aclose()

    assert joined == alone
    assert generator.wait_idle(IDLE)


async def test_each_stream_keeps_its_own_budget_stop_and_sampling(
    generator: hf_generative.GenerativeModel,
) -> None:
    greedy = await completions.collect(generator.create_completion(completion("the fox")))
    stop_at = greedy[0][3:6]
    requests = [
        completion("the fox", completions.Sampling(max_tokens=3, temperature=0)),
        completion("the fox", completions.Sampling(max_tokens=8, temperature=0, stop=(stop_at,))),
        completion("the fox", completions.Sampling(max_tokens=20, temperature=1.5, top_p=0.9)),
    ]

    short, stopped, sampled = await asyncio.gather(
        *(completions.collect(generator.create_completion(r)) for r in requests)
    )

    assert short[1:] == ("length", completions.Usage(greedy[2].prompt_tokens, 3))
    assert stopped[0] == greedy[0][: greedy[0].index(stop_at)] and stopped[1] == "stop"
    assert sampled[2].completion_tokens == 20


async def test_cancelling_one_stream_leaves_the_others_running(
    generator: hf_generative.GenerativeModel,
) -> None:
    cancelled_before = generator.cancelled_generations
    alone = await completions.collect(generator.create_completion(completion("paris is")))
    doomed = generator.create_completion(
        completion("the fox", completions.Sampling(max_tokens=1000, temperature=0))
    )
    kept = generator.create_completion(completion("paris is"))
    await anext(doomed)

    await doomed.aclose()
    answer = await completions.collect(kept)

    assert answer == alone
    assert generator.wait_idle(IDLE)
    assert generator.cancelled_generations == cancelled_before + 1


async def test_batched_greedy_answers_match_transformers_generate(
    generator: hf_generative.GenerativeModel, gpt2_dir: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gpt2_dir))
    reference = AutoModelForCausalLM.from_pretrained(str(gpt2_dir), dtype=torch.float32).eval()
    prompts = ["the fox", "paris is the capital of", "a bad movie makes"]
    expected = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            out = reference.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=0)
        expected.append(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))

    answers = await asyncio.gather(
        *(completions.collect(generator.create_completion(completion(p))) for p in prompts)
    )

    assert [text for text, _, _ in answers] == expected

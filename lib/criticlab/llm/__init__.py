"""Models and engines: one :class:`Engine` interface, four backends, an on-disk response cache.

``make_engine`` builds a backend from a model reference; ``engine_for`` builds the generator or
the critic of a profile, wrapped in the profile's response cache so re-runs reuse finished work.
Backends are imported only when used (vLLM and llama.cpp are optional extras).

With the vLLM backend, :func:`choose_engine` decides from the profile which model an engine
loads, its share of the card, and whether a trained critic is a LoRA request on its base model's
engine; one engine per model lives in the process, and a new critic engine first closes the
previous one (the memory plan holds the generator and one critic).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from criticlab.llm.adapters import Adapter, merge_adapter, merged_dir, read_adapter, same_model
from criticlab.llm.base import (
    Completion,
    Conversation,
    Engine,
    EngineError,
    GenerationMeter,
    Message,
    SamplingParams,
)
from criticlab.llm.cache import CachedEngine, ResponseCache
from criticlab.llm.import_order import unsloth_first, wants_unsloth

if TYPE_CHECKING:
    from criticlab.config import ModelsSection, Profile

log = logging.getLogger(__name__)

__all__ = [
    "Adapter",
    "CachedEngine",
    "Completion",
    "Conversation",
    "Engine",
    "EngineChoice",
    "EngineError",
    "GenerationMeter",
    "Message",
    "ResponseCache",
    "SamplingParams",
    "checkpoint_for_llamacpp",
    "choose_engine",
    "engine_for",
    "make_engine",
    "policy_engine",
    "read_adapter",
    "release_engines",
    "sampling_for",
    "to_release",
    "unsloth_first",
    "wants_unsloth",
]


def sampling_for(profile: Profile, role: Literal["solution", "critique", "revision"]) -> SamplingParams:
    """The paper's decoding per role from the profile: solutions and critiques sampled, revisions greedy."""
    s = profile.sampling
    if role == "revision":
        return SamplingParams(temperature=s.revision_temperature, top_p=1.0, max_tokens=s.max_tokens, seed=profile.seed,
                              stop_after_code=s.stop_after_code)
    budget = s.critique_max_tokens if role == "critique" and s.critique_max_tokens else s.max_tokens
    return SamplingParams(temperature=s.temperature, top_p=s.top_p, max_tokens=budget, seed=profile.seed,
                          stop_after_code=s.stop_after_code and role == "solution")


def make_engine(
    reference: str,
    backend: Literal["llamacpp", "hf", "openai", "vllm"],
    *,
    context_length: int = 4096,
    threads: int | None = None,
    openai_base_url: str = "http://127.0.0.1:8000/v1",
    adapter: str | None = None,
    hf_dtype: str = "auto",
    vllm_args: dict[str, Any] | None = None,
    parallel: int = 8,
) -> Engine:
    """A backend for ``reference`` (registry name, local path, Hugging Face id, or server model name)."""
    if backend == "llamacpp":
        from criticlab.llm.llamacpp import LlamaCppEngine

        return LlamaCppEngine(reference, n_ctx=context_length, threads=threads, max_batch=parallel)
    if backend == "hf":
        from criticlab.llm.hf import HFEngine
        from criticlab.llm.precision import resolve_dtype

        return HFEngine(reference, adapter=adapter, dtype=resolve_dtype(hf_dtype))
    if backend == "openai":
        from criticlab.llm.openai_server import OpenAIEngine

        return OpenAIEngine(openai_base_url, reference)
    if backend == "vllm":
        from criticlab.config import GPUSection
        from criticlab.llm.vllm_engine import VLLMEngine, engine_args

        if vllm_args is None:  # never vLLM's default 0.9 of the card
            vllm_args = engine_args(reference, max_model_len=context_length, memory_share=GPUSection().generator_memory,
                                    dtype="auto")
            vllm_args.pop("dtype")
        return VLLMEngine(reference, **{k: v for k, v in vllm_args.items() if k != "model"})
    raise EngineError(f"unknown engine backend {backend!r} (llamacpp, hf, openai, vllm)")


def _profile_engine(models: ModelsSection, reference: str, backend: str) -> Engine:
    """``make_engine`` with the profile's context, threads, server URL and dtype."""
    return make_engine(
        reference, backend, context_length=models.context_length, threads=models.threads,  # type: ignore[arg-type]
        openai_base_url=models.openai_base_url, hf_dtype=models.hf_dtype, parallel=models.parallel,
    )


@dataclass(frozen=True)
class EngineChoice:
    """What engine serves a model reference under a profile (see :func:`choose_engine`)."""

    backend: str
    model: str
    """The model the engine loads (an adapter's base, or its merged copy)."""
    adapter: Adapter | None = None
    """The trained adapter: a LoRA request on the engine of ``model``, or (``merge``) merged into it."""
    slot: Literal["generator", "critic", "policy"] = "generator"
    """Its place in the memory plan: the generator's share, or a critic's (one at a time)."""
    memory_share: float | None = None
    """vLLM: the engine's ``gpu_memory_utilization``."""
    lora_rank: int | None = None
    """vLLM: the largest LoRA rank the engine serves (None: no LoRA)."""
    merge: bool = False
    """vLLM with ``gpu.serve_adapters: merge``: ``model`` is the adapter's merged copy, made on first use."""


def choose_engine(profile: Profile, reference: str, *, policy: bool = False) -> EngineChoice:
    """The engine for ``reference`` under ``profile``: pure, so the CPU suite checks every case.

    llama.cpp reads GGUF files only, so a checkpoint directory is served by transformers (unless
    :func:`engine_for` serves its GGUF conversion, ``models.checkpoint_gguf``). With
    vLLM a LoRA adapter directory is a LoRA request on its base model's engine, or its merged copy
    (``gpu.serve_adapters``); an engine for the generator's model takes ``gpu.generator_memory``,
    any other ``gpu.critic_memory``; engines serve LoRA when the profile trains LoRA critics.
    """
    models, gpu = profile.models, profile.gpu
    backend = models.engine
    if Path(reference).is_dir() and backend == "llamacpp":
        backend = "hf"  # a trained checkpoint directory: transformers loads it
    if backend != "vllm":
        return EngineChoice(backend, reference, slot="policy" if policy else "generator")
    adapter = read_adapter(reference) if Path(reference).is_dir() else None
    serve_lora = gpu.serve_adapters == "lora"
    lora_rank = profile.sft.lora_r if serve_lora and (profile.sft.lora or profile.grpo.lora) else None
    model, merge = reference, False
    if adapter is not None:
        if serve_lora:
            model, lora_rank = adapter.base, max(lora_rank or 0, adapter.rank)
        else:
            model, merge = str(merged_dir(adapter)), True
    generator = same_model(model, models.generator)
    slot: Literal["generator", "critic", "policy"] = "policy" if policy else "generator" if generator else "critic"
    share = gpu.generator_memory if generator else gpu.critic_memory
    return EngineChoice("vllm", model, adapter, slot, share, lora_rank, merge)


def to_release(live: dict[tuple, str], new_slot: str) -> list[tuple]:
    """The live engines (key → slot) to close before an engine of ``new_slot`` starts: the plan
    holds the generator and one critic, so a new critic or policy engine replaces the previous
    critic and policy engines."""
    if new_slot == "generator":
        return []
    return [key for key, slot in live.items() if slot in ("critic", "policy")]


_SHARED: dict[tuple, Engine] = {}
_SLOTS: dict[tuple, str] = {}


def release_engines(slots: tuple[str, ...] = ("critic", "policy")) -> list[str]:
    """Close this process's shared engines of these plan slots (e.g. before TRL's colocated vLLM
    starts); returns the model ids closed."""
    keys = [k for k, slot in _SLOTS.items() if slot in slots]
    closed = [_SHARED[k].model_id for k in keys]
    _close(keys)
    return closed


def _close(keys: list[tuple]) -> None:
    for key in keys:
        engine = _SHARED.pop(key, None)
        _SLOTS.pop(key, None)
        close = getattr(engine, "close", None)
        if callable(close):
            close()


def _vllm_engine(profile: Profile, choice: EngineChoice) -> Engine:
    """The process's one engine for ``choice.model``, started after closing what the plan says."""
    key = ("vllm", str(Path(choice.model).resolve()) if Path(choice.model).exists() else choice.model, choice.lora_rank)
    engine = _SHARED.get(key)
    if engine is None:
        _close(to_release(_SLOTS, choice.slot))
        from criticlab.llm.vllm_engine import engine_args

        if choice.merge and choice.adapter is not None:
            merge_adapter(choice.adapter)
        args = engine_args(choice.model, max_model_len=profile.models.context_length,
                           memory_share=choice.memory_share or profile.gpu.critic_memory, dtype="auto",
                           lora_rank=choice.lora_rank, seed=profile.seed)
        args.pop("dtype")  # the engine picks bf16 or fp16 from the card
        engine = make_engine(choice.model, "vllm", vllm_args=args)
        _SHARED[key], _SLOTS[key] = engine, choice.slot
    return engine


def engine_for(
    profile: Profile, role: Literal["generator", "critic"], *, model: str | None = None, cached: bool = True
) -> Engine:
    """The profile's generator or critic (``model`` overrides the reference, e.g. a checkpoint dir).

    Engines are shared within a process when generator and critic are the same model, so a
    notebook loads the weights once; the response cache lives in ``outputs/<profile>/cache``.
    A trained LoRA critic under vLLM is a LoRA request on its base model's engine
    (:func:`choose_engine`).
    """
    models: ModelsSection = profile.models
    reference = model or getattr(models, role)
    choice = choose_engine(profile, reference)
    if choice.backend == "vllm":
        engine = _vllm_engine(profile, choice)
        if choice.adapter is not None and not choice.merge:
            from criticlab.llm.vllm_engine import LoRAEngine

            engine = LoRAEngine(engine, choice.adapter)
    else:
        backend = choice.backend
        if models.engine == "llamacpp" and Path(reference).is_dir():
            reference, backend = checkpoint_for_llamacpp(models, reference)
        key = (reference, backend, models.context_length, models.threads, models.openai_base_url, models.hf_dtype,
               models.parallel)
        engine = _SHARED.get(key)
        if engine is None:
            engine = _profile_engine(models, reference, backend)
            _SHARED[key] = engine
    if not cached:
        return engine
    return CachedEngine(engine, ResponseCache(profile.paths.cache_dir / "responses.sqlite"))


def checkpoint_for_llamacpp(models: ModelsSection, checkpoint: str) -> tuple[str, str]:
    """How a llama.cpp profile serves a trained checkpoint directory: (reference, backend).

    Its cached GGUF conversion on llama.cpp when ``models.checkpoint_gguf`` is on and the
    checkpoint converts; otherwise the directory itself on transformers (the reason is logged).
    """
    if not models.checkpoint_gguf:
        return checkpoint, "hf"
    from criticlab.llm.gguf_export import ConversionError, gguf_for_checkpoint

    try:
        return str(gguf_for_checkpoint(checkpoint, models.checkpoint_gguf_precision)), "llamacpp"
    except ConversionError as err:
        log.warning("serving %s with transformers: %s", checkpoint, err)
        return checkpoint, "hf"


def policy_engine(profile: Profile, model: str) -> Engine:
    """An engine that samples from a policy being trained (its starting model or a checkpoint).

    The same backend serves the policy before and after training, so the two samples compare the
    weights and nothing else: the profile's engine, except that a llama.cpp profile serves it with
    transformers (llama.cpp reads GGUF files, not training checkpoints, and the policy trains on
    transformers' dequantized weights). Uncached: a checkpoint retrained in place must be sampled
    anew. Under vLLM it takes the plan's critic slot (closed again before TRL's own vLLM starts,
    :func:`release_engines`); a profile that trains with unsloth imports it first.
    """
    models: ModelsSection = profile.models
    unsloth_first(wants_unsloth(profile))
    if models.engine == "vllm":
        choice = choose_engine(profile, model, policy=True)
        engine = _vllm_engine(profile, choice)
        if choice.adapter is not None and not choice.merge:
            from criticlab.llm.vllm_engine import LoRAEngine

            engine = LoRAEngine(engine, choice.adapter)
        return engine
    backend = "hf" if models.engine == "llamacpp" else models.engine
    return _profile_engine(models, model, backend)

"""Models and engines: one :class:`Engine` interface, four backends, an on-disk response cache.

``make_engine`` builds a backend from a model reference; ``engine_for`` builds the generator or
the critic of a profile, wrapped in the profile's response cache so re-runs reuse finished work.
Backends are imported only when used (vLLM and llama.cpp are optional extras).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Literal

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

if TYPE_CHECKING:
    from criticlab.config import ModelsSection, Profile

log = logging.getLogger(__name__)

__all__ = [
    "CachedEngine",
    "Completion",
    "Conversation",
    "Engine",
    "EngineError",
    "GenerationMeter",
    "Message",
    "ResponseCache",
    "SamplingParams",
    "checkpoint_for_llamacpp",
    "engine_for",
    "make_engine",
    "policy_engine",
    "sampling_for",
]


def sampling_for(profile: Profile, role: Literal["solution", "critique", "revision"]) -> SamplingParams:
    """The paper's decoding per role from the profile: solutions and critiques sampled, revisions greedy."""
    s = profile.sampling
    if role == "revision":
        return SamplingParams(temperature=s.revision_temperature, top_p=1.0, max_tokens=s.max_tokens, seed=profile.seed)
    budget = s.critique_max_tokens if role == "critique" and s.critique_max_tokens else s.max_tokens
    return SamplingParams(temperature=s.temperature, top_p=s.top_p, max_tokens=budget, seed=profile.seed)


def make_engine(
    reference: str,
    backend: Literal["llamacpp", "hf", "openai", "vllm"],
    *,
    context_length: int = 4096,
    threads: int | None = None,
    openai_base_url: str = "http://127.0.0.1:8000/v1",
    adapter: str | None = None,
    hf_dtype: str = "auto",
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
        from criticlab.llm.vllm_engine import VLLMEngine

        return VLLMEngine(reference, max_model_len=context_length)
    raise EngineError(f"unknown engine backend {backend!r} (llamacpp, hf, openai, vllm)")


def _profile_engine(models: ModelsSection, reference: str, backend: str) -> Engine:
    """``make_engine`` with the profile's context, threads, server URL and dtype."""
    return make_engine(
        reference, backend, context_length=models.context_length, threads=models.threads,  # type: ignore[arg-type]
        openai_base_url=models.openai_base_url, hf_dtype=models.hf_dtype, parallel=models.parallel,
    )


_SHARED: dict[tuple, Engine] = {}


def engine_for(
    profile: Profile, role: Literal["generator", "critic"], *, model: str | None = None, cached: bool = True
) -> Engine:
    """The profile's generator or critic (``model`` overrides the reference, e.g. a checkpoint dir).

    Engines are shared within a process when generator and critic are the same model, so a
    notebook loads the weights once; the response cache lives in ``outputs/<profile>/cache``.
    """
    models: ModelsSection = profile.models
    reference = model or getattr(models, role)
    backend = models.engine
    if model is not None and Path(model).is_dir() and backend == "llamacpp":
        reference, backend = checkpoint_for_llamacpp(models, model)
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
    anew.
    """
    models: ModelsSection = profile.models
    backend = "hf" if models.engine == "llamacpp" else models.engine
    return _profile_engine(models, model, backend)

"""Models and engines: one :class:`Engine` interface, registered backends, an on-disk response cache.

``make_engine`` builds a backend from a model reference; ``engine_for`` builds the generator or
the critic of a profile, wrapped in the profile's response cache so re-runs reuse finished work.
Backends are declared in :mod:`criticlab.llm.backends` with their capabilities, and imported only
when used (vLLM and llama.cpp are optional extras).

:func:`choose_engine` decides from the profile and the backend's capabilities which backend and
model serve a reference: a checkpoint directory on a backend that cannot load one, a LoRA adapter
as a request on its base model's engine, an in-process GPU engine's share of the card. Engines
live in an :class:`EnginePool` (one per process by default, :data:`POOL`); engines held one per
model take a slot of the memory plan, and a new critic engine first closes the previous one (the
plan holds the generator and one critic).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from criticlab.llm.adapters import Adapter, merge_adapter, merged_dir, read_adapter, same_model
from criticlab.llm.backends import (
    BACKENDS,
    CHECKPOINT_BACKEND,
    BackendSpec,
    EngineOptions,
    get_backend,
    register,
)
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
from criticlab.llm.pool import EnginePool, Slot, to_release

if TYPE_CHECKING:
    from criticlab.config import ModelsSection, Profile

log = logging.getLogger(__name__)

__all__ = [
    "BACKENDS",
    "POOL",
    "Adapter",
    "BackendSpec",
    "CachedEngine",
    "Completion",
    "Conversation",
    "Engine",
    "EngineChoice",
    "EngineError",
    "EngineOptions",
    "EnginePool",
    "GenerationMeter",
    "Message",
    "ResponseCache",
    "SamplingParams",
    "checkpoint_as_gguf",
    "choose_engine",
    "engine_for",
    "follows_card_plan",
    "get_backend",
    "make_engine",
    "policy_engine",
    "read_adapter",
    "register",
    "release_engines",
    "sampling_for",
    "to_release",
    "unsloth_first",
    "wants_unsloth",
]


def sampling_for(profile: Profile, role: Literal["solution", "critique", "revision"]) -> SamplingParams:
    """The paper's decoding per role from the profile: solutions and critiques sampled, revisions
    greedy; the generator's answers (solutions, revisions) with its repetition penalty."""
    s = profile.sampling
    if role == "revision":
        return SamplingParams(
            temperature=s.revision_temperature,
            top_p=1.0,
            max_tokens=s.max_tokens,
            seed=profile.seed,
            stop_after_code=s.stop_after_code,
            repetition_penalty=s.repetition_penalty,
        )
    budget = s.critique_max_tokens if role == "critique" and s.critique_max_tokens else s.max_tokens
    return SamplingParams(
        temperature=s.temperature,
        top_p=s.top_p,
        max_tokens=budget,
        seed=profile.seed,
        stop_after_code=s.stop_after_code and role == "solution",
        repetition_penalty=s.repetition_penalty if role == "solution" else 1.0,
    )


def make_engine(
    reference: str,
    backend: str,
    *,
    context_length: int = 4096,
    threads: int | None = None,
    openai_base_url: str = "http://127.0.0.1:8000/v1",
    adapter: str | None = None,
    hf_dtype: str = "auto",
    vllm_args: dict[str, Any] | None = None,
    parallel: int = 8,
) -> Engine:
    """A ``backend`` engine (a name in :data:`BACKENDS`) for ``reference`` (registry name, local
    path, Hugging Face id, or server model name); an unknown backend is an :class:`EngineError`."""
    options = EngineOptions(
        context_length=context_length,
        threads=threads,
        parallel=parallel,
        openai_base_url=openai_base_url,
        adapter=adapter,
        hf_dtype=hf_dtype,
        vllm_args=vllm_args,
    )
    return get_backend(backend).build(reference, options)


def _profile_engine(models: ModelsSection, reference: str, backend: str) -> Engine:
    """``make_engine`` with the profile's context, threads, server URL and dtype."""
    return make_engine(
        reference,
        backend,
        context_length=models.context_length,
        threads=models.threads,
        openai_base_url=models.openai_base_url,
        hf_dtype=models.hf_dtype,
        parallel=models.parallel,
    )


@dataclass(frozen=True)
class EngineChoice:
    """What engine serves a model reference under a profile (see :func:`choose_engine`)."""

    backend: str
    model: str
    """The model the engine loads (an adapter's base, or its merged copy)."""
    adapter: Adapter | None = None
    """The trained adapter: a LoRA request on the engine of ``model``, or (``merge``) merged into it."""
    slot: Slot = "generator"
    """Its place in the memory plan: the generator's share, or a critic's (one at a time)."""
    memory_share: float | None = None
    """In-process GPU backends: the engine's share of the card (vLLM's ``gpu_memory_utilization``)."""
    lora_rank: int | None = None
    """LoRA-request backends: the largest LoRA rank the engine serves (None: no LoRA)."""
    merge: bool = False
    """With ``gpu.serve_adapters: merge``: ``model`` is the adapter's merged copy, made on first use."""


def choose_engine(profile: Profile, reference: str, *, policy: bool = False) -> EngineChoice:
    """The engine for ``reference`` under ``profile``: pure, so the CPU suite checks every case.

    A backend that cannot serve a checkpoint directory (llama.cpp reads GGUF files only) leaves
    one to :data:`~criticlab.llm.backends.CHECKPOINT_BACKEND` (unless :func:`engine_for` serves its
    GGUF conversion, ``models.checkpoint_gguf``). On a backend with LoRA requests a LoRA adapter
    directory is a request on its base model's engine, or its merged copy (``gpu.serve_adapters``),
    and engines serve LoRA when the profile trains LoRA critics; on an in-process GPU backend an
    engine for the generator's model takes ``gpu.generator_memory``, any other ``gpu.critic_memory``.
    """
    models, gpu = profile.models, profile.gpu
    spec = get_backend(models.engine)
    checkpoint = Path(reference).is_dir()
    if checkpoint and not spec.serves_checkpoints:
        spec = get_backend(CHECKPOINT_BACKEND)
    if not spec.one_per_model:
        return EngineChoice(spec.name, reference, slot="policy" if policy else "generator")
    adapter = read_adapter(reference) if checkpoint and spec.lora_requests else None
    serve_lora = spec.lora_requests and gpu.serve_adapters == "lora"
    # the largest rank either training stage gives its adapters (each section has its own)
    ranks = [section.lora_r for section in (profile.sft, profile.grpo) if section.lora]
    lora_rank = max(ranks) if serve_lora and ranks else None
    model, merge = reference, False
    if adapter is not None:
        if serve_lora:
            model, lora_rank = adapter.base, max(lora_rank or 0, adapter.rank)
        else:
            model, merge = str(merged_dir(adapter)), True
    generator = same_model(model, models.generator)
    slot: Slot = "policy" if policy else "generator" if generator or not spec.in_process_gpu else "critic"
    share = (gpu.generator_memory if generator else gpu.critic_memory) if spec.in_process_gpu else None
    return EngineChoice(spec.name, model, adapter, slot, share, lora_rank, merge)


POOL = EnginePool()
"""This process's engines: a notebook's generator and critic load once (see :class:`EnginePool`)."""


def release_engines(
    slots: tuple[str, ...] = ("critic", "policy"), pool: EnginePool | None = None
) -> list[str]:
    """Close the pool's engines of these plan slots (e.g. before TRL's colocated vLLM starts);
    returns the model ids closed."""
    return (pool or POOL).release(slots)


def choice_options(profile: Profile, choice: EngineChoice) -> EngineOptions:
    """The options an engine of ``choice`` is built with under ``profile`` (held one per model):
    the profile's context, threads and precision, the choice's share and LoRA rank."""
    models = profile.models
    in_process_gpu = get_backend(choice.backend).in_process_gpu
    return EngineOptions(
        context_length=models.context_length,
        threads=models.threads,
        parallel=models.parallel,
        openai_base_url=models.openai_base_url,
        hf_dtype=models.hf_dtype,
        memory_share=(choice.memory_share or profile.gpu.critic_memory) if in_process_gpu else None,
        lora_rank=choice.lora_rank,
        seed=profile.seed,
        kv_cache_gb=models.vllm_kv_cache_gb,
        vllm_compile=models.vllm_compile,
    )


def _served(profile: Profile, choice: EngineChoice, pool: EnginePool) -> Engine | None:
    """A client of the profile's ``vllm serve`` when ``choice`` is the generator's model with no
    adapter and the profile serves it (``models.vllm_server``); else None. A profile that serves
    its generator with no server running is an :class:`EngineError` saying how to start one."""
    from criticlab.llm import vllm_server

    if not vllm_server.serves(profile) or choice.adapter is not None:
        return None
    if not same_model(choice.model, profile.models.generator):
        return None
    state = vllm_server.running(profile)
    if state is None:
        raise EngineError(
            f"{profile.name}: models.vllm_server is on and no vllm serve of {profile.models.generator} "
            f"runs for it; run the notebooks with `python -m criticlab.tools.run --profile {profile.name}`, "
            f"or start one with `python -m criticlab.llm.vllm_server --profile {profile.name}`"
        )
    return pool.get(
        ("vllm-server", state.url),
        lambda: vllm_server.ServedEngine(state, max_concurrency=profile.models.parallel),
    )


def follows_card_plan(backend: str) -> bool:
    """Whether a backend's engines take the one-card memory plan's slots (one critic engine at a
    time beside the generator's): an in-process GPU backend with a CUDA card. vLLM's CPU build
    gives each engine a KV cache in GiB of system memory, so on the CPU its engines are held side
    by side, as llama.cpp's are."""
    if not get_backend(backend).in_process_gpu:
        return False
    from criticlab.llm import vllm_engine

    return not vllm_engine.on_cpu()


def _one_per_model(profile: Profile, choice: EngineChoice, pool: EnginePool) -> Engine:
    """The pool's one engine for ``choice.model``, started (after closing what the plan says) with
    the choice's share and LoRA rank; a LoRA critic is that engine asked with its adapter."""
    spec = get_backend(choice.backend)
    path = Path(choice.model)
    key = (spec.name, str(path.resolve()) if path.exists() else choice.model, choice.lora_rank)

    def start() -> Engine:
        if choice.merge and choice.adapter is not None:
            merge_adapter(choice.adapter)
        return spec.build(choice.model, choice_options(profile, choice))

    engine = pool.get(key, start, slot=choice.slot if follows_card_plan(spec.name) else None)
    if choice.adapter is not None and not choice.merge:
        engine = spec.with_adapter(engine, choice.adapter)
    return engine


def engine_for(
    profile: Profile,
    role: Literal["generator", "critic"],
    *,
    model: str | None = None,
    cached: bool = True,
    pool: EnginePool | None = None,
) -> Engine:
    """The profile's generator or critic (``model`` overrides the reference, e.g. a checkpoint dir).

    Engines are shared within a process (``pool``, by default :data:`POOL`) when generator and
    critic are the same model, so a notebook loads the weights once; the response cache lives in
    ``outputs/<profile>/cache``. A trained LoRA critic on a backend with LoRA requests is a request
    on its base model's engine (:func:`choose_engine`).
    """
    pool = pool or POOL
    models: ModelsSection = profile.models
    reference = model or getattr(models, role)
    choice = choose_engine(profile, reference)
    served = _served(profile, choice, pool)
    if served is not None:
        engine = served
    elif get_backend(choice.backend).one_per_model:
        engine = _one_per_model(profile, choice, pool)
    else:
        backend = choice.backend
        served_by = get_backend(models.engine)
        if Path(reference).is_dir() and served_by.reads_gguf and not served_by.serves_checkpoints:
            reference, backend = checkpoint_as_gguf(models, reference)
        key = (
            reference,
            backend,
            models.context_length,
            models.threads,
            models.openai_base_url,
            models.hf_dtype,
            models.parallel,
        )
        engine = pool.get(key, lambda: _profile_engine(models, reference, backend))
    if not cached:
        return engine
    return CachedEngine(engine, ResponseCache(profile.paths.cache_dir / "responses.sqlite"))


def checkpoint_as_gguf(models: ModelsSection, checkpoint: str) -> tuple[str, str]:
    """How a profile whose backend reads GGUF files but not checkpoints (llama.cpp) serves a
    trained checkpoint directory: (reference, backend).

    Its cached GGUF conversion on the profile's backend when ``models.checkpoint_gguf`` is on and
    the checkpoint converts; otherwise the directory itself on
    :data:`~criticlab.llm.backends.CHECKPOINT_BACKEND` (the reason is logged).
    """
    if not models.checkpoint_gguf:
        return checkpoint, CHECKPOINT_BACKEND
    from criticlab.llm.gguf_export import ConversionError, gguf_for_checkpoint

    try:
        return str(gguf_for_checkpoint(checkpoint, models.checkpoint_gguf_precision)), models.engine
    except ConversionError as err:
        log.warning("serving %s with %s: %s", checkpoint, CHECKPOINT_BACKEND, err)
        return checkpoint, CHECKPOINT_BACKEND


def policy_engine(profile: Profile, model: str, *, pool: EnginePool | None = None) -> Engine:
    """An engine that samples from a policy being trained (its starting model or a checkpoint).

    The same backend serves the policy before and after training, so the two samples compare the
    weights and nothing else: the profile's backend, except that one that cannot serve checkpoint
    directories (llama.cpp, which reads GGUF files, while the policy trains on transformers'
    dequantized weights) leaves it to :data:`~criticlab.llm.backends.CHECKPOINT_BACKEND`.
    Uncached: a checkpoint retrained in place must be sampled anew. On a backend held one engine
    per model it takes the plan's policy slot (closed again before TRL's own vLLM starts,
    :func:`release_engines`); a profile that trains with unsloth imports it first.
    """
    models: ModelsSection = profile.models
    unsloth_first(wants_unsloth(profile))
    spec = get_backend(models.engine)
    if spec.one_per_model:
        return _one_per_model(profile, choose_engine(profile, model, policy=True), pool or POOL)
    backend = spec.name if spec.serves_checkpoints else CHECKPOINT_BACKEND
    return _profile_engine(models, model, backend)

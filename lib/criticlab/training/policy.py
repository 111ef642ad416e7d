"""Loading a trainable policy and its LoRA configuration from any model reference.

A registry name (an embedded GGUF model), a local directory or file, or a Hugging Face id: GGUF
models are dequantized once and cached as safetensors (see :mod:`criticlab.llm.hf`).

Where a run starts is planned first (:func:`plan_start`), on a CPU-testable path: from a LoRA
adapter (04's SFT critic), GRPO either continues that adapter — the model handed to TRL is then
already a ``PeftModel`` and no ``peft_config`` goes with it (TRL refuses both) — or trains on the
adapter merged into its base (cached next to it, :func:`criticlab.llm.adapters.merge_adapter`).
On CUDA the policy loads in bf16 where the card computes it (compute capability 8 or newer,
:func:`criticlab.llm.precision.cuda_bf16`), else fp16; on a CPU in float32 (bf16 runs as mixed
precision there). With unsloth (CUDA only) the same plan is carried out by unsloth's loader,
with ``max_seq_length`` covering prompt plus completion and ``load_in_4bit`` always explicit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from criticlab.config import ConfigError
from criticlab.llm.adapters import Adapter, merge_adapter, merged_dir, read_adapter
from criticlab.llm.import_order import unsloth_first
from criticlab.llm.precision import cuda_bf16

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class StartPlan:
    """What to load and how the trained weights attach to it."""

    load: str
    """The model reference to load (the adapter's base, its merged copy, or the reference itself)."""
    adapter: Adapter | None
    """The adapter the run starts from, if any."""
    attach: Literal["continue", "new", "none"]
    """continue: train the loaded adapter further; new: a fresh LoRA adapter; none: full fine-tuning."""
    merge: bool = False
    """``load`` is the adapter's merged copy (made on first use)."""

    @property
    def peft_config_to_trl(self) -> bool:
        """Whether TRL gets a ``peft_config`` (never with a model that is already a PeftModel)."""
        return self.attach == "new"


def plan_start(
    reference: str, *, lora: bool, from_adapter: Literal["continue", "merge"] = "merge"
) -> StartPlan:
    """Where a run starts: see the module docstring."""
    adapter = read_adapter(reference) if Path(reference).is_dir() else None
    if adapter is None:
        return StartPlan(reference, None, "new" if lora else "none")
    if from_adapter == "continue":
        return StartPlan(adapter.base, adapter, "continue")
    return StartPlan(str(merged_dir(adapter)), adapter, "new" if lora else "none", merge=True)


def policy_dtype(cuda: bool, cuda_bf16: bool) -> str:
    """bf16 on a CUDA card that computes it (fp16 on one that does not), float32 on a CPU.
    ``cuda_bf16``: :func:`criticlab.llm.precision.cuda_bf16`, the rule the trainers' ``bf16`` flag
    and vLLM follow too."""
    if cuda:
        return "bfloat16" if cuda_bf16 else "float16"
    return "float32"


def unsloth_load_args(plan: StartPlan, *, max_seq_length: int, load_in_4bit: bool) -> dict[str, Any]:
    """``FastLanguageModel.from_pretrained`` keywords. A continued adapter is loaded from its own
    directory (unsloth returns it as a PeftModel); ``load_in_4bit`` is always passed (unsloth's
    default is True); full fine-tuning says so. ``use_exact_model_name``: unsloth otherwise swaps
    a hub name for its own mirror (``unsloth/...``, a pre-quantized ``-bnb-4bit`` repo with
    4-bit loading), and the saved adapter's ``base_model_name_or_path`` would then name that
    mirror instead of the profile's model, which 07 and vLLM look the base up by."""
    name = str(plan.adapter.path) if plan.attach == "continue" and plan.adapter else plan.load
    args: dict[str, Any] = {
        "model_name": name,
        "max_seq_length": max_seq_length,
        "load_in_4bit": load_in_4bit,
        "dtype": None,
        "use_exact_model_name": True,
    }
    if plan.attach == "none":
        args["full_finetuning"] = True
    return args


def load_policy(
    reference: str,
    *,
    use_unsloth: bool = False,
    max_length: int = 2048,
    load_in_4bit: bool = False,
    lora: bool = False,
    lora_r: int = 16,
    lora_alpha: int = 32,
    from_adapter: Literal["continue", "merge"] = "merge",
) -> tuple[Any, Any, StartPlan]:
    """A trainable causal LM, its tokenizer and the start plan, from any model reference.

    ``max_length``: the longest sequence trained on (GRPO: prompt plus completion). ``use_unsloth``
    takes unsloth's loader on a CUDA machine; it is never used on CPU.
    """
    plan = plan_start(reference, lora=lora, from_adapter=from_adapter)
    if plan.merge and plan.adapter is not None:
        merge_adapter(plan.adapter)
    if use_unsloth:
        return (*_load_with_unsloth(plan, max_length, load_in_4bit, lora_r, lora_alpha), plan)
    import torch

    from criticlab.llm import models
    from criticlab.llm.hf import gguf_checkpoint, load_model

    load = plan.load
    # TRL rebuilds the KL reference model from the policy's path, so train from a directory:
    if load == models.TINY_RANDOM:
        load = str(models.save_tiny_qwen2(models.cache_dir() / models.TINY_RANDOM))
    source = models.resolve(load) if load in models.REGISTRY or load.endswith(".gguf") else None
    if isinstance(source, Path) and source.is_file():  # a GGUF: its dequantized safetensors copy
        load = str(gguf_checkpoint(source))
    dtype = getattr(torch, policy_dtype(torch.cuda.is_available(), cuda_bf16()))
    model, tokenizer, _, _ = load_model(load, dtype)
    if plan.attach == "continue" and plan.adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(plan.adapter.path), is_trainable=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, plan


def _load_with_unsloth(
    plan: StartPlan, max_length: int, load_in_4bit: bool, r: int, alpha: int
) -> tuple[Any, Any]:
    """GPU only: unsloth's loader (imported before transformers, TRL and peft), its own LoRA."""
    unsloth_first(True)
    import torch

    if not torch.cuda.is_available():
        raise ConfigError("use_unsloth is set but no CUDA device is available; unset it to train on CPU")
    from unsloth import FastLanguageModel

    model, tokenizer = FastLanguageModel.from_pretrained(
        **unsloth_load_args(plan, max_seq_length=max_length, load_in_4bit=load_in_4bit)
    )
    if plan.attach == "new":
        model = FastLanguageModel.get_peft_model(
            model,
            r=r,
            lora_alpha=alpha,
            lora_dropout=0.0,
            target_modules=LORA_TARGETS,
            use_gradient_checkpointing="unsloth",
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def lora_config(r: int, alpha: int) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=0.0, task_type="CAUSAL_LM", target_modules=LORA_TARGETS
    )

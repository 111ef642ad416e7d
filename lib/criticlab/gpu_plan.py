"""The one-GPU memory plan: what each notebook holds on a profile's card, checked before it loads.

On one card the fixed generator (an in-process vLLM engine), TRL's colocated vLLM, the policy
being trained and in 07 a second critic engine share the memory (``gpu`` in the profile). The plan
adds each notebook's peak from the profile alone, so a profile that cannot fit its card fails when
it loads (:func:`criticlab.config.load_profile` runs :func:`check_memory_plan`), before any model
does, with every number in the message.

It reads a profile but is not part of its schema, so it lives beside :mod:`criticlab.config`
rather than in it; it imports the schema for annotations only, which lets the loader call it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from criticlab.config import GRPOSection, Profile, SFTSection

GIB = 2**30
KNOWN_PARAMS_B: dict[str, float] = {
    "qwen2.5-0.5b-instruct": 0.494,
    "qwen2.5-coder-0.5b-instruct": 0.494,
    "qwen2.5-coder-1.5b-instruct": 1.54,
    "qwen2.5-coder-7b-instruct": 7.62,
    "qwen2.5-coder-32b-instruct": 32.76,
}
"""Parameters (billions) of the models the shipped profiles name; their names round them down."""


class PlanError(ValueError):
    """A profile's card cannot hold what it plans, or a model's size is unknown to the plan.

    The profile loader reports it as a :class:`criticlab.config.ConfigError` with the same text.
    """


@dataclass
class GPUSection:
    """One GPU's memory plan: each in-process engine's share of the card, checked at load.

    The fixed generator (an in-process vLLM engine, 03, 05, 07), TRL's colocated vLLM (05,
    ``grpo.vllm_memory``), the policy being trained, and in 07 a trained critic that is not a LoRA
    adapter of the generator's model share one card. With ``memory_gb`` set,
    :func:`criticlab.gpu_plan.memory_plan` checks every notebook's sum at load. Sizes are GiB."""

    memory_gb: float | None = None
    """Memory of the one CUDA card the profile is planned for, in GiB (an 80 GB A100/H100: 80).
    None: no one-card plan (CPU profiles, or a cluster run through the verl export)."""
    generator_memory: float = 0.3
    """Share of the card the in-process vLLM generator takes (its ``gpu_memory_utilization``)."""
    critic_memory: float = 0.3
    """Share a second in-process vLLM engine takes in 07: a critic that is another model than the
    generator, or a trained critic served as a full (or merged) checkpoint."""
    serve_adapters: Literal["lora", "merge"] = "lora"
    """How vLLM serves a trained LoRA critic: ``lora``, as a LoRA request on the engine of its base
    model (one engine for the generator and every adapter of it); ``merge``, merged into its base
    once, cached next to the adapter, and served as a model of its own (``critic_memory``)."""
    reserve_gb: float = 4.0
    """Memory outside every share: CUDA context, activations of the training step, fragmentation."""
    min_kv_cache_gb: float = 1.0
    """Least KV-cache room a vLLM engine's share must leave above the model's weights."""
    weights_gb: dict[str, float] = field(default_factory=dict)
    """Weights in GiB per model reference, for a model whose size neither a local checkpoint, the
    known sizes (:data:`criticlab.gpu_plan.KNOWN_PARAMS_B`) nor a size in its name (``7B``) tells."""


def weights_gb(reference: str, gpu: GPUSection) -> float:
    """The bf16 weights of a model in GiB: ``gpu.weights_gb``, else a local checkpoint's
    safetensors (an adapter directory: its base's), else :data:`KNOWN_PARAMS_B`, else a size in
    the name (``...-7B-...``: 7 billion × 2 bytes)."""
    if reference in gpu.weights_gb:
        return float(gpu.weights_gb[reference])
    path = Path(reference)
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if files and not (path / "adapter_config.json").is_file():
            return sum(f.stat().st_size for f in files) / GIB
        if (path / "adapter_config.json").is_file():
            base = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
            if base:
                return weights_gb(str(base), gpu)
    name = path.name.lower().removesuffix(".gguf")
    params = KNOWN_PARAMS_B.get(name)
    if params is None:
        match = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)b(?![a-z])", name)
        params = float(match.group(1)) if match else None
    if params is None:
        raise PlanError(
            f"cannot tell the size of model {reference!r} for the GPU memory plan: add it to "
            f"gpu.weights_gb (GiB of bf16 weights), e.g. weights_gb: {{{reference!r}: 15.2}}"
        )
    return params * 1e9 * 2 / GIB


def training_gb(
    weights: float, *, lora: bool, load_in_4bit: bool, reference_copy: bool
) -> list[tuple[str, float]]:
    """What training a policy of ``weights`` GiB (bf16) holds on the card, part by part.

    The base in bf16 (about 0.28 of it in 4 bit with its scales); full fine-tuning adds bf16
    gradients and two AdamW moments (three times the weights); a LoRA adapter's own states are
    small and left to the reserve. ``reference_copy``: TRL keeps a frozen copy for the KL term
    when the policy is not a LoRA adapter (with one, it disables the adapter, or, continuing an
    adapter, keeps a frozen copy of the adapter alone: small, left to the reserve too).
    """
    parts = [
        (
            "policy weights" + (" (4 bit)" if load_in_4bit else " (bf16)"),
            weights * (0.28 if load_in_4bit else 1.0),
        )
    ]
    if not lora:
        parts.append(("gradients + AdamW moments", 3 * weights))
        if reference_copy:
            parts.append(("KL reference copy", weights))
    return parts


@dataclass
class PlanLine:
    """What one notebook holds on the card at its peak, part by part (GiB)."""

    notebook: str
    parts: list[tuple[str, float]]

    @property
    def total(self) -> float:
        return sum(gb for _, gb in self.parts)

    def describe(self) -> str:
        terms = " + ".join(f"{label} {gb:.1f}" for label, gb in self.parts)
        return f"notebook {self.notebook}: {terms} = {self.total:.1f} GiB"


def memory_plan(profile: Profile) -> tuple[list[PlanLine], list[str]]:
    """Each notebook's peak on the profile's one card, and each vLLM engine whose share cannot
    hold its model (weights plus ``gpu.min_kv_cache_gb`` of KV cache). Needs ``gpu.memory_gb``."""
    gpu, models = profile.gpu, profile.models
    card = gpu.memory_gb
    if card is None:
        raise PlanError(
            f"{profile.source or profile.name}: gpu.memory_gb is not set; the memory plan needs the card's size"
        )
    gen_w, critic_w = weights_gb(models.generator, gpu), weights_gb(models.critic, gpu)
    policy = profile.crl.policy_model or models.generator
    policy_w = weights_gb(policy, gpu)
    short: list[str] = []

    def engine(label: str, share: float, model: str, weights: float) -> tuple[str, float]:
        if share * card < weights + gpu.min_kv_cache_gb:
            short.append(
                f"{label} share {share:g} × {card:g} = {share * card:.1f} GiB cannot hold {model}'s "
                f"{weights:.1f} GiB of weights plus {gpu.min_kv_cache_gb:g} GiB of KV cache"
            )
        return (f"{label} {share:g}×{card:g}", share * card)

    in_process = models.engine == "vllm"
    generator = (
        [engine("generator vLLM", gpu.generator_memory, models.generator, gen_w)] if in_process else []
    )
    reserve = [("reserve", gpu.reserve_gb)]
    g = profile.grpo
    rollouts = (
        [engine("TRL vLLM", g.vllm_memory, "the policy", max(critic_w, policy_w))]
        if g.use_vllm and g.vllm_mode == "colocate"
        else []
    )

    def train(weights: float, section: SFTSection | GRPOSection, *, kl: bool) -> list[tuple[str, float]]:
        return training_gb(
            weights,
            lora=section.lora,
            load_in_4bit=section.use_unsloth and section.load_in_4bit,
            reference_copy=kl,
        )

    lora_critics = profile.sft.lora and profile.grpo.lora and g.from_adapter == "continue"
    separate_critic = models.critic != models.generator or gpu.serve_adapters == "merge" or not lora_critics
    critic = (
        [engine("critic vLLM", gpu.critic_memory, models.critic, critic_w)]
        if in_process and separate_critic
        else []
    )
    kl = g.kl_coef > 0
    lines = [
        PlanLine("03", generator + reserve),
        PlanLine("04", train(critic_w, profile.sft, kl=False) + reserve),
        PlanLine("05", generator + train(critic_w, g, kl=kl) + rollouts + reserve),
        PlanLine("06", train(policy_w, g, kl=kl) + rollouts + reserve),
        PlanLine("07", generator + critic + reserve),
    ]
    return lines, short


def check_memory_plan(profile: Profile) -> None:
    """Refuse a profile whose declared card (``gpu.memory_gb``) cannot hold a notebook's peak or
    whose vLLM shares cannot hold their models; the message gives every number."""
    if profile.gpu.memory_gb is None:
        return
    card = profile.gpu.memory_gb
    shares = {
        "gpu.generator_memory": profile.gpu.generator_memory,
        "gpu.critic_memory": profile.gpu.critic_memory,
        "grpo.vllm_memory": profile.grpo.vllm_memory,
    }
    for key, share in shares.items():
        if not 0 < share < 1:
            raise PlanError(f"{profile.source}: {key} is a share of the card between 0 and 1, got {share!r}")
    lines, short = memory_plan(profile)
    over = [line.describe() + f" > {card:g} GiB" for line in lines if line.total > card]
    if over or short:
        raise PlanError(
            f"{profile.source}: the one-GPU memory plan does not fit the declared {card:g} GiB card "
            f"(gpu.memory_gb): "
            + "; ".join(over + short)
            + ". Lower the shares (gpu.generator_memory, gpu.critic_memory, grpo.vllm_memory), use LoRA "
            "or 4 bit, a smaller model, or a bigger card."
        )

"""GRPO rollouts through vLLM on the CPU: the policy's LoRA adapter hot-swapped into a vLLM engine.

On a card, ``grpo.use_vllm`` hands the rollouts to TRL's own vLLM, which copies the policy's
weights into its engine after every step. vLLM's CPU build cannot take that copy: its linear
layers are repacked for oneDNN when they load, and TRL's ``load_weights`` call then fails
(``'Parameter' object has no attribute 'weight_loader'``). A LoRA policy needs no weight copy:
its base never changes. So on the CPU, ``use_vllm`` with ``lora: true`` samples every step's
group from one vLLM engine of the base model, with the adapter as it is at that step saved to
disk and sent as a new LoRA request (:class:`LoRARollouts`, TRL's ``rollout_func``). Full
fine-tuning on the CPU keeps TRL's transformers rollouts.

The seeds of a step's samples follow the run's seed, the step and the sample's place in its
group, so a re-run draws the same groups.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from criticlab.config import ConfigError, GRPOSection
from criticlab.llm.adapters import Adapter, read_adapter
from criticlab.llm.base import SamplingParams

STEP_SEED_STRIDE = 100_003
"""Seeds of step s start at ``seed + s * STEP_SEED_STRIDE`` (a prime, larger than any group)."""


def cpu_vllm_rollouts(cfg: GRPOSection, cuda: bool) -> bool:
    """Whether this run samples through :class:`LoRARollouts`: ``use_vllm`` on a machine without
    CUDA. It needs a LoRA policy; full fine-tuning with ``use_vllm`` on the CPU is a
    :class:`ConfigError` that says why and what to set."""
    if not cfg.use_vllm or cuda:
        return False
    if not cfg.lora:
        raise ConfigError(
            "grpo.use_vllm on the CPU samples through vLLM's CPU build with the policy's LoRA adapter "
            "swapped in each step, and needs grpo.lora: true (the CPU build cannot take a full weight "
            "copy from TRL); set lora: true, or use_vllm: false for transformers rollouts"
        )
    return True


def groups(prompts: list[Any]) -> list[tuple[Any, int]]:
    """Runs of equal consecutive prompts as (prompt, count): TRL repeats each prompt of a generation
    batch ``num_generations`` times in a row."""
    out: list[tuple[Any, int]] = []
    for prompt in prompts:
        if out and out[-1][0] == prompt:
            out[-1] = (prompt, out[-1][1] + 1)
        else:
            out.append((prompt, 1))
    return out


class LoRARollouts:
    """TRL's ``rollout_func``: each step's completions sampled by ``engine`` (a vLLM engine of the
    policy's base model, LoRA-enabled) with the policy's adapter as it is at that step.

    ``work_dir`` keeps the latest adapter only (a few MB for the critics trained here)."""

    def __init__(
        self, engine: Any, tokenizer: Any, cfg: GRPOSection, work_dir: Path, *, seed: int = 0
    ) -> None:
        self.engine = engine
        self.tokenizer = tokenizer
        self.sampling = SamplingParams(
            temperature=cfg.temperature, top_p=1.0, max_tokens=cfg.max_completion_length, seed=seed
        )
        self.work_dir = Path(work_dir)
        self.seed = seed
        self._adapter: tuple[int, Adapter] | None = None

    def adapter(self, model: Any, step: int) -> Adapter:
        """The policy's adapter at ``step``, saved once per step."""
        if self._adapter is not None and self._adapter[0] == step:
            return self._adapter[1]
        target = self.work_dir / f"step-{step}"
        model.save_pretrained(str(target))
        adapter = read_adapter(target)
        if adapter is None:
            raise ConfigError(f"{target}: the policy saved no LoRA adapter (is grpo.lora on?)")
        if self._adapter is not None:
            shutil.rmtree(self._adapter[1].path, ignore_errors=True)
        self._adapter = (step, adapter)
        return adapter

    def prompt_ids(self, prompt: Any) -> list[int]:
        """The token ids TRL would build for a prompt: the chat template with the assistant's header."""
        if isinstance(prompt, str):
            return list(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        text = self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, list[Any]]:
        started = time.perf_counter()
        out = self._sample(prompts, trainer)
        seconds = time.perf_counter() - started
        for callback in getattr(getattr(trainer, "callback_handler", None), "callbacks", []):
            if hasattr(callback, "add_sampling"):  # the step timer: this is its sampling time
                callback.add_sampling(seconds)
        return out

    def _sample(self, prompts: list[Any], trainer: Any) -> dict[str, list[Any]]:
        step = int(trainer.state.global_step)
        adapter = self.adapter(trainer.model, step)
        unique = groups(prompts)
        ids = [self.prompt_ids(prompt) for prompt, _ in unique]
        sampling = self.sampling.with_(seed=self.seed + step * STEP_SEED_STRIDE)
        sampled = self.engine.sample_tokens(ids, sampling, [count for _, count in unique], adapter=adapter)
        out: dict[str, list[Any]] = {"prompt_ids": [], "completion_ids": [], "logprobs": []}
        for prompt_ids, samples in zip(ids, sampled):
            for tokens, logprobs in samples:
                out["prompt_ids"].append(prompt_ids)
                out["completion_ids"].append(tokens)
                out["logprobs"].append(logprobs)
        return out


def lora_rollouts(base: str, tokenizer: Any, cfg: GRPOSection, output_dir: Path, seed: int) -> LoRARollouts:
    """The rollouts of a LoRA GRPO run on the CPU: a vLLM engine of ``base`` (the model the adapter
    is trained on) serving adapters up to ``cfg.lora_r``, its context the prompt plus completion
    limits, its adapters kept under ``output_dir/rollout-adapter``."""
    from criticlab.llm.backends import EngineOptions, get_backend

    options = EngineOptions(
        context_length=cfg.max_prompt_length + cfg.max_completion_length,
        lora_rank=cfg.lora_r,
        kv_cache_gb=1.0,
        seed=seed,
    )
    engine = get_backend("vllm").build(base, options)
    return LoRARollouts(engine, tokenizer, cfg, Path(output_dir) / "rollout-adapter", seed=seed)

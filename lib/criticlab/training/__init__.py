"""Training on TRL, shared by SFT (04), GRPO (05) and CRL (06): policy loading, the trainers, the
resume guard, the step timer, and the verl export for multi-node runs.

It knows nothing of CTRL or CRL: the stage packages pass it rows and reward functions (those live
in :mod:`criticlab.rewards`).
"""

from criticlab.training.datasets import (
    drop_long_prompts,
    require_columns,
    sft_dataset,
)
from criticlab.training.policy import (
    StartPlan,
    load_policy,
    lora_config,
    plan_start,
    policy_dtype,
    unsloth_load_args,
)
from criticlab.training.resume import (
    RESUMABLE_CHANGES,
    SETTINGS_FILE,
    WEIGHT_FILES,
    guard_resume,
    last_checkpoint,
    run_settings,
    weights_digest,
)
from criticlab.training.step_timer import (
    PARTS,
    StepTime,
    StepTimer,
    keep_steps_upto,
    summarize,
)
from criticlab.training.trainers import (
    RewardFunc,
    TrainResult,
    check_rewards,
    grpo_args,
    grpo_max_length,
    release_trl_vllm,
    run_record,
    sft_accumulation,
    sft_args,
    train_grpo,
    train_sft,
    validate_grpo,
)
from criticlab.training.verl import (
    ABILITIES,
    DATA_SOURCES,
    verl_row,
    write_verl_parquet,
)

__all__ = [
    "ABILITIES",
    "DATA_SOURCES",
    "PARTS",
    "RESUMABLE_CHANGES",
    "SETTINGS_FILE",
    "WEIGHT_FILES",
    "RewardFunc",
    "StartPlan",
    "StepTime",
    "StepTimer",
    "TrainResult",
    "check_rewards",
    "drop_long_prompts",
    "grpo_args",
    "grpo_max_length",
    "guard_resume",
    "keep_steps_upto",
    "last_checkpoint",
    "load_policy",
    "lora_config",
    "plan_start",
    "policy_dtype",
    "release_trl_vllm",
    "require_columns",
    "run_record",
    "run_settings",
    "sft_accumulation",
    "sft_args",
    "sft_dataset",
    "summarize",
    "train_grpo",
    "train_sft",
    "unsloth_load_args",
    "validate_grpo",
    "verl_row",
    "weights_digest",
    "write_verl_parquet",
]

"""CTRL: synthesis of execution-guided critiques (03), SFT rows (04), GRPO rows, the GRPO loop and
the held-out scoring of critics (05, and the critic and settings choices).

The CTRL reward itself lives in :mod:`criticlab.rewards` (:class:`~criticlab.rewards.CTRLReward`);
:func:`reward_for` configures it from a profile.
"""

from criticlab.ctrl.choice import (
    CHOICE_COLUMNS,
    always_correct,
    choice_table,
    outputs_name,
    score_candidates,
)
from criticlab.ctrl.datasets import (
    balance,
    build_rl_rows,
    build_sft_rows,
    grpo_rows,
    grpo_start,
    mix_rl_rows,
    read_sft_rows,
    write_datasets,
)
from criticlab.ctrl.grpo import (
    CURVES,
    TRAINER_CURVES,
    SeedTraining,
    describe_heldout,
    grpo_metrics,
    heldout_log,
    heldout_score,
    reward_for,
    train_critic,
    train_seed,
    training_curves,
)
from criticlab.ctrl.heldout import (
    SEED_STATISTICS,
    across_seeds,
    heldout_sampling,
    measure_heldout,
    score_heldout,
    seed_table,
    trained_mix,
)
from criticlab.ctrl.records import (
    sft_metrics,
    synthesis_counts,
    synthesis_metrics,
)
from criticlab.ctrl.synthesis import (
    DROP_REASONS,
    SynthesisOptions,
    SynthesisRecord,
    drop_reason,
    load_records,
    synthesize,
)

__all__ = [
    "CHOICE_COLUMNS",
    "CURVES",
    "DROP_REASONS",
    "SEED_STATISTICS",
    "TRAINER_CURVES",
    "SeedTraining",
    "SynthesisOptions",
    "SynthesisRecord",
    "across_seeds",
    "always_correct",
    "balance",
    "build_rl_rows",
    "build_sft_rows",
    "choice_table",
    "describe_heldout",
    "drop_reason",
    "grpo_metrics",
    "grpo_rows",
    "grpo_start",
    "heldout_log",
    "heldout_sampling",
    "heldout_score",
    "load_records",
    "measure_heldout",
    "mix_rl_rows",
    "outputs_name",
    "read_sft_rows",
    "reward_for",
    "score_candidates",
    "score_heldout",
    "seed_table",
    "sft_metrics",
    "synthesis_counts",
    "synthesis_metrics",
    "synthesize",
    "train_critic",
    "train_seed",
    "trained_mix",
    "training_curves",
    "write_datasets",
]

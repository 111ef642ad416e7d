"""CTRL: synthesis of execution-guided critiques (03), SFT rows (04), GRPO rows and reward (05).
"""

from criticlab.ctrl.datasets import (
    balance,
    build_rl_rows,
    build_sft_rows,
    grpo_rows,
    grpo_start,
    mix_rl_rows,
    read_sft_rows,
    round_robin,
    write_datasets,
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
from criticlab.ctrl.reward import (
    CTRLReward,
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
    "DROP_REASONS",
    "SEED_STATISTICS",
    "CTRLReward",
    "SynthesisOptions",
    "SynthesisRecord",
    "across_seeds",
    "balance",
    "build_rl_rows",
    "build_sft_rows",
    "drop_reason",
    "grpo_rows",
    "grpo_start",
    "heldout_sampling",
    "load_records",
    "measure_heldout",
    "mix_rl_rows",
    "read_sft_rows",
    "round_robin",
    "score_heldout",
    "seed_table",
    "sft_metrics",
    "synthesis_counts",
    "synthesis_metrics",
    "synthesize",
    "trained_mix",
    "write_datasets",
]

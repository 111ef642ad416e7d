"""CTRL: synthesis of execution-guided critiques (03), SFT rows (04), GRPO rows and reward (05).
"""

from criticlab.ctrl.datasets import (
    DatasetReport,
    balance,
    build_rl_rows,
    build_sft_rows,
    grpo_rows,
    write_datasets,
)
from criticlab.ctrl.reward import (
    CTRLReward,
)
from criticlab.ctrl.synthesis import (
    DROP_REASONS,
    SynthesisOptions,
    SynthesisRecord,
    load_records,
    synthesize,
)

__all__ = [
    "DROP_REASONS",
    "CTRLReward",
    "DatasetReport",
    "SynthesisOptions",
    "SynthesisRecord",
    "balance",
    "build_rl_rows",
    "build_sft_rows",
    "grpo_rows",
    "load_records",
    "synthesize",
    "write_datasets",
]

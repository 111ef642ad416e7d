"""CRL (Critique-Coder, notebook 06): judge-a-solution rows mixed into code RL, the format
warm-up, the CRL/code/mixed rewards and the conclusion probe.
"""

from criticlab.crl.probe import (
    conclusion_stats,
    ratio_table,
    sample_conclusions,
    summarize_run,
)
from criticlab.crl.rewards import (
    CodeReward,
    CRLReward,
    MixedReward,
)
from criticlab.crl.rows import (
    code_rows,
    crl_rows,
    label_balance,
    load_candidates,
    mix,
)
from criticlab.crl.warmup import (
    format_warmup_rows,
)

__all__ = [
    "CRLReward",
    "CodeReward",
    "MixedReward",
    "code_rows",
    "conclusion_stats",
    "crl_rows",
    "format_warmup_rows",
    "label_balance",
    "load_candidates",
    "mix",
    "ratio_table",
    "sample_conclusions",
    "summarize_run",
]

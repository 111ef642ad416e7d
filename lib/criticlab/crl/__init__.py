"""CRL (Critique-Coder, notebook 06): judge-a-solution rows mixed into code RL, the format
warm-up, the CRL/code/mixed rewards and the judgment probe.
"""

from criticlab.crl.probe import (
    judge,
    judgment_stats,
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
    "crl_rows",
    "format_warmup_rows",
    "judge",
    "judgment_stats",
    "label_balance",
    "mix",
    "summarize_run",
]

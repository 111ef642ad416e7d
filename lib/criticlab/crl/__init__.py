"""CRL (Critique-Coder, notebook 06): judge-a-solution rows mixed into code RL, the format
warm-up, the CRL/code/mixed rewards, the conclusion probe and the comparison of the trained
policies as code generators and as judges.
"""

from criticlab.crl.compare import (
    JUDGE_COLUMNS,
    POOLED,
    START,
    code_outcomes,
    code_scores,
    comparison_table,
    policy_name,
    row_problem_id,
    run_size,
    sample_code,
    split_heldout,
)
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
    "JUDGE_COLUMNS",
    "POOLED",
    "START",
    "CRLReward",
    "CodeReward",
    "MixedReward",
    "code_outcomes",
    "code_rows",
    "code_scores",
    "comparison_table",
    "conclusion_stats",
    "crl_rows",
    "format_warmup_rows",
    "label_balance",
    "load_candidates",
    "mix",
    "policy_name",
    "ratio_table",
    "row_problem_id",
    "run_size",
    "sample_code",
    "sample_conclusions",
    "split_heldout",
    "summarize_run",
]

"""CRL (Critique-Coder, notebook 06): judge-a-solution rows mixed into code RL, the format
warm-up, the conclusion probe, the loop that trains one run per ratio and seed, and the comparison
of the trained policies as code generators and as judges.

The CRL, code and mixed rewards live in :mod:`criticlab.rewards`.
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
    parser_disagreements,
    ratio_table,
    sample_conclusions,
    summarize_run,
)
from criticlab.crl.rows import (
    code_rows,
    crl_rows,
    label_balance,
    load_candidates,
    mix,
)
from criticlab.crl.runs import (
    CRLRun,
    EvaluationPlan,
    RatioTraining,
    WarmUp,
    crl_metrics,
    describe,
    evaluate_policy,
    evaluation_plan,
    format_warmup,
    grpo_section,
    train_ratio,
    training_curves,
)
from criticlab.crl.warmup import (
    format_warmup_rows,
)

__all__ = [
    "JUDGE_COLUMNS",
    "POOLED",
    "START",
    "CRLRun",
    "EvaluationPlan",
    "RatioTraining",
    "WarmUp",
    "code_outcomes",
    "code_rows",
    "code_scores",
    "comparison_table",
    "conclusion_stats",
    "crl_metrics",
    "crl_rows",
    "describe",
    "evaluate_policy",
    "evaluation_plan",
    "format_warmup",
    "format_warmup_rows",
    "grpo_section",
    "label_balance",
    "load_candidates",
    "mix",
    "parser_disagreements",
    "policy_name",
    "ratio_table",
    "row_problem_id",
    "run_size",
    "sample_code",
    "sample_conclusions",
    "split_heldout",
    "summarize_run",
    "train_ratio",
    "training_curves",
]

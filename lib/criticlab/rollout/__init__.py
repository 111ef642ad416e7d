"""Rollouts shared by every stage: prompts and parsers, the trajectory schema, the loop.

- :mod:`~criticlab.rollout.prompts` — the prompts of each role and the parsers of their answers
  (code blocks, the critic's judgment, CRL's conclusion, execution hints);
- :mod:`~criticlab.rollout.trajectory` — :class:`Round` / :class:`Trajectory` and the one loader
  every reader uses;
- :mod:`~criticlab.rollout.loop` — multi-round critique→revision over batches of problems;
- :mod:`~criticlab.rollout.outcomes` — what trajectories show round by round (correctness,
  transitions, the critic's discrimination), read by evaluation (07) and analysis (08) alike;
- :mod:`~criticlab.rollout.chunks` — the resumable chunked JSONL writer of long stages.
"""

from criticlab.rollout.loop import (
    CRITIC_MODES,
    NO_CODE,
    CriticMode,
    LoopConfig,
    critique_conversations,
    execute,
    run_loop,
    zero_shot,
)
from criticlab.rollout.outcomes import (
    TRANSITIONS,
    ClassScores,
    Discrimination,
    Stopped,
    by_method,
    correctness_matrix,
    counts_summary,
    discrimination,
    judged_rounds,
    max_round,
    split_infra,
    transition_counts,
    transitions,
)
from criticlab.rollout.prompts import (
    CRITIQUE_FORMAT,
    FINALIZE,
    VerdictLabel,
    conclusion,
    critique_conversation,
    critique_prompt,
    crl_conversation,
    crl_prompt,
    execution_feedback_message,
    execution_hint,
    extract_code,
    generation_conversation,
    generation_prompt,
    hinted_critique_prompt,
    mentions_hint,
    parse_conclusion,
    parse_verdict,
    revision_conversation,
)
from criticlab.rollout.trajectory import (
    Round,
    Trajectory,
    load_trajectories,
)

__all__ = [
    "CRITIC_MODES",
    "CRITIQUE_FORMAT",
    "FINALIZE",
    "NO_CODE",
    "TRANSITIONS",
    "ClassScores",
    "CriticMode",
    "Discrimination",
    "LoopConfig",
    "Round",
    "Stopped",
    "Trajectory",
    "VerdictLabel",
    "by_method",
    "conclusion",
    "correctness_matrix",
    "counts_summary",
    "critique_conversation",
    "critique_conversations",
    "critique_prompt",
    "crl_conversation",
    "crl_prompt",
    "discrimination",
    "execute",
    "execution_feedback_message",
    "execution_hint",
    "extract_code",
    "generation_conversation",
    "generation_prompt",
    "hinted_critique_prompt",
    "judged_rounds",
    "load_trajectories",
    "max_round",
    "mentions_hint",
    "parse_conclusion",
    "parse_verdict",
    "revision_conversation",
    "run_loop",
    "split_infra",
    "transition_counts",
    "transitions",
    "zero_shot",
]

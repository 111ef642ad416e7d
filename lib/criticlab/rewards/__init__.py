"""Rewards, one file each, below the stage packages (as TRL's ``trl/rewards/`` and verl's ``reward_score/``).

- :mod:`~criticlab.rewards.base` — task names, the per-sample :class:`RewardRecord`, its log and the
  public :class:`LoggedReward` base every reward builds on;
- :mod:`~criticlab.rewards.revision` — CTRL's critique-revision reward (:class:`CTRLReward`);
- :mod:`~criticlab.rewards.conclusion` — CRL's conclusion-match reward (:class:`CRLReward`);
- :mod:`~criticlab.rewards.pass_rate` — code RL's pass-rate reward (:class:`CodeReward`);
- :mod:`~criticlab.rewards.table` — the task → reward table (:data:`REWARDS`) and its one dispatch,
  used by :class:`MixedReward` (TRL) and by verl's ``compute_score``.

The stage packages (``ctrl``, ``crl``) configure these from a profile; they never define a reward.
"""

from criticlab.rewards.base import (
    TASK_CODE,
    TASK_CRITIQUE,
    TASK_CRL,
    LoggedReward,
    RewardRecord,
    completion_text,
    parser_disagreements,
    per_step,
    problem_of,
    unanswered_reward,
)
from criticlab.rewards.conclusion import CRLReward
from criticlab.rewards.pass_rate import CodeReward
from criticlab.rewards.revision import CTRLReward
from criticlab.rewards.table import REWARDS, ROW_COLUMNS, MixedReward, score_by_task

__all__ = [
    "REWARDS",
    "ROW_COLUMNS",
    "TASK_CODE",
    "TASK_CRITIQUE",
    "TASK_CRL",
    "CRLReward",
    "CTRLReward",
    "CodeReward",
    "LoggedReward",
    "MixedReward",
    "RewardRecord",
    "completion_text",
    "parser_disagreements",
    "per_step",
    "problem_of",
    "score_by_task",
    "unanswered_reward",
]

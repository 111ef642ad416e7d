"""Notebook 05's honest numbers: the critic on held-out prompts before and after GRPO, and its seeds.

A reward curve climbs for many reasons (easier problems late in training, a lucky seed, settings
chosen on that very curve). Two measurements do not share those: the CTRL reward and the verdict
accuracy of the critic on **held-out prompts** — (problem, solution) pairs of the validation
problems, passing and failing, that GRPO never trains on — measured on the starting (SFT) critic
and on each trained one, with intervals from a bootstrap over prompts; and **several seeds**,
reported one by one and as a mean with its spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from criticlab.llm.base import Engine, SamplingParams
from criticlab.rewards import CTRLReward, RewardRecord, problem_of
from criticlab.rollout import prompts
from criticlab.stages import GRPOSeedRun, HeldoutScore, JudgmentMix
from criticlab.stats import bootstrap_ratio, over_seeds

if TYPE_CHECKING:
    from criticlab.config import GRPOSection


def heldout_sampling(grpo: GRPOSection, seed: int) -> SamplingParams:
    """How held-out critiques are sampled: as GRPO samples them in training (its temperature, no top-p
    cut, its completion length), so the measurement before and after training scores the policy the
    trainer optimises, not a greedier one."""
    return SamplingParams(
        temperature=grpo.temperature, top_p=1.0, max_tokens=grpo.max_completion_length, seed=seed
    )


def measure_heldout(
    critic: Engine,
    rows: Sequence[dict[str, Any]],
    reward: CTRLReward,
    sampling: SamplingParams,
    critiques: int = 2,
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> HeldoutScore | None:
    """Sample ``critiques`` critiques of each held-out prompt (rows of :func:`criticlab.ctrl.grpo_rows`),
    score them with the CTRL reward, and compare their judgments with execution (None: no rows)."""
    if not rows:
        return None
    sampled = critic.generate([row["prompt"] for row in rows], sampling, n=critiques)
    texts = [c.text for row in sampled for c in row]
    owner = [i for i, row in enumerate(sampled) for _ in row]
    labels = [bool(rows[i]["passed"]) for i in owner]
    rewards = reward.score(
        texts, [problem_of(rows[i]["problem"]) for i in owner], [rows[i]["response"] for i in owner], labels
    )
    judgments = [prompts.parse_judgment(t, reward.parser) for t in texts]
    return score_heldout(owner, labels, judgments, rewards, len(rows), resamples=resamples, seed=seed)


def score_heldout(
    owner: Sequence[int],
    labels: Sequence[bool],
    judgments: Sequence[str | None],
    rewards: Sequence[float | None],
    prompts_count: int,
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> HeldoutScore:
    """The score of critiques ``owner[j]`` (prompt index) with their execution label, parsed judgment
    and reward (None: an infrastructure failure, left out of the reward)."""
    right = [j == ("correct" if y else "incorrect") for j, y in zip(judgments, labels)]
    per_prompt = np.zeros((prompts_count, 4))  # reward sum, scored critiques, right verdicts, critiques
    for i, r, ok in zip(owner, rewards, right):
        per_prompt[i] += (r or 0.0, r is not None, ok, 1)
    lo, hi = bootstrap_ratio(per_prompt[:, [0, 2]], per_prompt[:, [1, 3]], resamples=resamples, seed=seed)

    def share(hits: Sequence[bool]) -> float:
        return sum(hits) / len(hits) if hits else math.nan

    scored = [r for r in rewards if r is not None]
    return HeldoutScore(
        prompts=prompts_count,
        critiques=len(owner),
        reward=share([bool(r) for r in scored]) if scored else math.nan,
        reward_lo=float(lo[0]),
        reward_hi=float(hi[0]),
        accuracy=share(right),
        accuracy_lo=float(lo[1]),
        accuracy_hi=float(hi[1]),
        accuracy_correct=share([ok for ok, y in zip(right, labels) if y]),
        accuracy_incorrect=share([ok for ok, y in zip(right, labels) if not y]),
        unparsed=share([j is None for j in judgments]),
    )


def trained_mix(records: Sequence[dict[str, Any]]) -> JudgmentMix:
    """The Correct/Incorrect mix of the solutions a GRPO run critiqued, from its reward log."""
    return JudgmentMix.of(r.label for r in map(RewardRecord.from_dict, records) if r.label is not None)


SEED_STATISTICS = {
    "reward rise": lambda run: run.learned.difference if run.learned else math.nan,
    "held-out reward after": lambda run: run.after.reward if run.after else math.nan,
    "held-out accuracy after": lambda run: run.after.accuracy if run.after else math.nan,
}
"""What 05 summarizes over seeds: the reward curve's last-minus-first quarter, and the trained
critic's held-out reward and verdict accuracy."""


def across_seeds(runs: Sequence[GRPOSeedRun]) -> dict[str, dict[str, float]]:
    """Mean, sample standard deviation (NaN for one seed), min and max over seeds of each of
    :data:`SEED_STATISTICS` (NaN values, e.g. no held-out prompts, are left out)."""
    out = {}
    for name, get in SEED_STATISTICS.items():
        spread = over_seeds(get(run) for run in runs)
        out[name] = {
            "mean": spread.mean,
            "sd": spread.sd,
            "min": spread.min,
            "max": spread.max,
            "seeds": float(spread.seeds),
        }
    return out


def seed_table(before: HeldoutScore | None, runs: Sequence[GRPOSeedRun]) -> pd.DataFrame:
    """05's table: the starting critic, one row per seed, and the mean and sd over seeds.

    Columns: the reward curve's first and last quarter and their difference (± 1 s.e.), and the
    held-out reward and verdict accuracy with their 95% intervals."""

    def held(score: HeldoutScore | None) -> dict[str, float]:
        if score is None:
            return {}
        return {
            "held-out reward": score.reward,
            "reward lo": score.reward_lo,
            "reward hi": score.reward_hi,
            "held-out accuracy": score.accuracy,
            "accuracy lo": score.accuracy_lo,
            "accuracy hi": score.accuracy_hi,
            "no judgment": score.unparsed,
        }

    rows = [{"critic": "before GRPO (start)", **held(before)}]
    for run in runs:
        curve = run.learned
        rows.append(
            {
                "critic": f"seed {run.seed}",
                "steps": run.run.steps,
                **(
                    {
                        "first quarter": curve.first_quarter,
                        "last quarter": curve.last_quarter,
                        "reward rise": curve.difference,
                        "rise se": curve.se,
                    }
                    if curve
                    else {}
                ),
                **held(run.after),
            }
        )
    summary = across_seeds(runs)
    for stat in ("mean", "sd"):
        rows.append(
            {
                "critic": f"{stat} over {len(runs)} seed{'s' if len(runs) != 1 else ''}",
                "reward rise": summary["reward rise"][stat],
                "held-out reward": summary["held-out reward after"][stat],
                "held-out accuracy": summary["held-out accuracy after"][stat],
            }
        )
    columns = [
        "steps",
        "first quarter",
        "last quarter",
        "reward rise",
        "rise se",
        "held-out reward",
        "reward lo",
        "reward hi",
        "held-out accuracy",
        "accuracy lo",
        "accuracy hi",
        "no judgment",
    ]
    return pd.DataFrame(rows, columns=["critic", *columns]).set_index("critic")

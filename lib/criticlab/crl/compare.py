"""Critique-Coder's main comparison: each CRL policy as a code generator and as a judge.

The paper compares RL-only training with RL + 20% CRL by what the trained policy does as a *coder*
(Pass@1 on code benchmarks). This module gives the pieces of that table:

- :func:`split_heldout` — CRL rows split by problem id into training rows and held-out rows, so the
  policy is judged as a judge on problems it never trained on;
- :func:`run_size` — how many rows one run gets, so the CRL ratio holds exactly even when the
  held-out split leaves few CRL rows (rows then repeat across steps);
- :func:`sample_code`, :func:`code_outcomes` and :func:`code_scores` — executed samples of the evaluation problems and
  their unbiased Pass@k (:func:`criticlab.stats.pass_at_k`) per benchmark (``source``) and pooled;
- :func:`comparison_table` — one row per policy and seed (the start policy first), code Pass@k per
  benchmark beside judge accuracy per label and the always-``T`` base rate, then the mean and the
  sample standard deviation over seeds of each ratio.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from criticlab.data.types import Problem
from criticlab.llm.base import Engine, SamplingParams
from criticlab.rewards.base import TASK_CRL
from criticlab.rollout.loop import zero_shot
from criticlab.rollout.trajectory import Round
from criticlab.sandbox import Executor
from criticlab.stages import CRLRatioRun
from criticlab.stats import POOLED, mean_pass_at_k, over_seeds

START = "start"
"""The policy name of the reference row: the model the CRL runs start from (base or warmed up)."""


def row_problem_id(row: dict[str, Any]) -> str:
    """The problem id of a CRL or code row (its ``problem`` field is the problem as JSON)."""
    return json.loads(row["problem"])["id"]


def split_heldout(
    rows: Sequence[dict[str, Any]], fraction: float, seed: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(train, held_out)``: the CRL rows of a seeded ``fraction`` of the problems are held out.

    The split is by problem id, so the several candidates of one problem land on the same side and
    a held-out judgment never concerns a problem the policy was trained to judge. The distinct ids
    are sorted, shuffled with ``random.Random(seed)`` and the first ``round(fraction × ids)`` are
    held out; with at least two problems and ``0 < fraction < 1`` each side keeps at least one.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"crl.heldout_fraction must be within [0, 1), got {fraction}")
    ids = sorted({row_problem_id(r) for r in rows if r["task"] == TASK_CRL})
    random.Random(seed).shuffle(ids)
    n_held = round(fraction * len(ids))
    if fraction > 0 and len(ids) >= 2:
        n_held = min(max(n_held, 1), len(ids) - 1)
    held = set(ids[:n_held])
    crl = [r for r in rows if r["task"] == TASK_CRL]
    return [r for r in crl if row_problem_id(r) not in held], [r for r in crl if row_problem_id(r) in held]


def run_size(code_rows: int, crl_rows: int, ratio: float, budget: int) -> int:
    """Rows of one run: the step budget (prompts per step × steps), at most the code rows, and at most
    what the CRL rows allow at ``ratio`` (``round(ratio × size) ≤ crl_rows``), so that
    :func:`criticlab.crl.mix` keeps the ratio exactly; with fewer rows than the budget the trainer
    visits them again."""
    size = min(code_rows, budget)
    if ratio > 0:
        size = min(size, math.floor(crl_rows / ratio + 1e-9))
    return max(size, 0)


def code_outcomes(executed: Sequence[tuple[Problem, int, Round]]) -> list[dict[str, Any]]:
    """One record per executed sample (from :func:`criticlab.rollout.loop.zero_shot`): problem id,
    benchmark, sample index, verdict, whether it passed, and whether the sandbox failed (such a
    sample is left out of Pass@k, as 07 leaves it out)."""
    return [
        {
            "problem_id": p.id,
            "source": p.source,
            "sample": i,
            "verdict": rnd.result.verdict.value,
            "correct": bool(rnd.correct),
            "pass_rate": rnd.result.pass_rate,
            "infra_error": rnd.result.is_infra_error,
        }
        for p, i, rnd in executed
    ]


def code_scores(outcomes: Sequence[dict[str, Any]], max_k: int) -> list[dict[str, Any]]:
    """Unbiased Pass@k for k = 1..``max_k``, per benchmark and pooled (``source`` ``pooled``, only when
    there are several benchmarks): the mean over problems of :func:`criticlab.stats.pass_at_k`;
    beside it ``reward``, the mean test pass rate of the scored samples (what code RL rewards, the
    same for every k).

    A problem with fewer than k scored samples has no unbiased estimate for that k and is left out
    (``problems`` counts the ones used); samples hit by a sandbox failure are not scored
    (``excluded``).
    """
    by_source: dict[str, dict[str, list[bool]]] = {}
    rates: dict[str, list[float]] = {}
    excluded: dict[str, int] = {}
    for o in outcomes:
        if o["infra_error"]:
            excluded[o["source"]] = excluded.get(o["source"], 0) + 1
            continue
        by_source.setdefault(o["source"], {}).setdefault(o["problem_id"], []).append(bool(o["correct"]))
        rates.setdefault(o["source"], []).append(float(o.get("pass_rate", o["correct"])))
    groups = {s: by_source[s] for s in sorted(by_source)}
    if len(groups) > 1:
        groups[POOLED] = {f"{s}/{pid}": v for s, per in by_source.items() for pid, v in per.items()}
        excluded[POOLED] = sum(excluded.values())
        rates[POOLED] = [r for s in sorted(by_source) for r in rates[s]]
    rows = []
    for source, per_problem in groups.items():
        for k in range(1, max_k + 1):
            mean, problems = mean_pass_at_k(per_problem, k)
            rows.append(
                {
                    "source": source,
                    "k": k,
                    "pass@k": mean,
                    "reward": float(np.mean(rates[source])),
                    "problems": problems,
                    "excluded": excluded.get(source, 0),
                }
            )
    return rows


JUDGE_COLUMNS = {
    "judge acc": "crl_accuracy",
    "judge acc lo": "crl_accuracy_lo",
    "judge acc hi": "crl_accuracy_hi",
    "acc on T": "crl_accuracy_on_correct",
    "acc on T lo": "crl_accuracy_on_correct_lo",
    "acc on T hi": "crl_accuracy_on_correct_hi",
    "acc on F": "crl_accuracy_on_incorrect",
    "acc on F lo": "crl_accuracy_on_incorrect_lo",
    "acc on F hi": "crl_accuracy_on_incorrect_hi",
    "always-T": "crl_always_T_accuracy",
    "no conclusion": "crl_no_conclusion",
    "judged": "crl_samples",
}
"""Table column → key of :func:`criticlab.crl.conclusion_stats` (held-out judge accuracy, Wilson bounds)."""


def _row(policy: str, seed: str, code: Sequence[dict[str, Any]], judge: dict[str, float]) -> dict[str, Any]:
    row: dict[str, Any] = {"policy": policy, "seed": seed}
    for c in code:
        if c["k"] == 1 and "reward" in c:
            row[f"{c['source']} reward"] = c["reward"]
        row[f"{c['source']} pass@{c['k']}"] = c["pass@k"]
    for column, key in JUDGE_COLUMNS.items():
        row[column] = judge.get(key, math.nan)
    return row


def policy_name(ratio: float) -> str:
    """How a run is named in the table: ``ratio 0`` (RL only), ``ratio 0.2``..."""
    return f"ratio {ratio:g}"


def comparison_table(
    start_code: Sequence[dict[str, Any]], start_judge: dict[str, float], runs: Sequence[CRLRatioRun]
) -> pd.DataFrame:
    """Critique-Coder's main table, ratios side by side.

    One row for the start policy (``policy`` ``start``), one per run (``seed`` the run's seed, or
    ``-`` when ``crl.seeds`` is 1), and for every ratio run on two seeds or more a
    ``mean`` row and an ``sd`` row (sample standard deviation, ddof 1) over its seeds. Columns:
    ``<source> reward`` (mean test pass rate) and ``<source> pass@<k>`` per benchmark and k, then the judge's held-out accuracy overall and per
    label with Wilson bounds, the always-``T`` base rate, the share without a conclusion and the
    number of judged samples. Interval bounds and counts are per seed; the mean and sd rows leave them
    empty, because a mean of bounds is no interval.
    """
    rows = [_row(START, "-", start_code, start_judge)]
    by_ratio: dict[float, list[dict[str, Any]]] = {}
    for run in runs:
        row = _row(policy_name(run.ratio), "-" if run.seed is None else str(run.seed), run.code, run.after)
        rows.append(row)
        by_ratio.setdefault(run.ratio, []).append(row)
    columns = list(dict.fromkeys(c for r in rows for c in r))
    spread_of = [
        c for c in columns if c not in ("policy", "seed") and not c.endswith((" lo", " hi")) and c != "judged"
    ]
    out = [rows[0]]
    for ratio, group in by_ratio.items():
        out.extend(group)
        if len(group) >= 2:
            spread = {c: over_seeds((g.get(c, math.nan) for g in group), skip_nan=False) for c in spread_of}
            out.append(
                {"policy": policy_name(ratio), "seed": "mean", **{c: v.mean for c, v in spread.items()}}
            )
            out.append({"policy": policy_name(ratio), "seed": "sd", **{c: v.sd for c, v in spread.items()}})
    return pd.DataFrame(out, columns=columns)


def sample_code(
    engine: Engine, problems: Sequence[Problem], executor: Executor, sampling: SamplingParams, n: int
) -> list[dict[str, Any]]:
    """``n`` solutions per evaluation problem from ``engine`` (one batched request), executed in the
    sandbox as 07 executes zero-shot solutions; the :func:`code_outcomes` records."""
    return code_outcomes(zero_shot(problems, engine, executor, sampling, n))

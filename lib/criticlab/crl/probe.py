"""The judgment probe: sampled CRL judgments scored like the reward, before and after training.

The per-step reward curve of CRL sees one prompt per step and is noisy; judging the same rows
with the same sampling before and after a run measures what training changed. Notebook 06 judges
the held-out rows (:func:`criticlab.crl.split_heldout`), never the rows a run trained on. Because a judge
that always says ``T`` scores the share of correct candidates, every summary carries that base
rate and the accuracy on each label.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from criticlab.llm.base import Engine, SamplingParams
from criticlab.rewards.base import TASK_CODE, TASK_CRL, RewardRecord, per_step
from criticlab.rollout import prompts
from criticlab.stages import CRLRatioRun
from criticlab.stats import learning_check, wilson_interval


def conclusion_stats(records: Sequence[RewardRecord]) -> dict[str, float]:
    """Accuracy of CRL conclusions, on each label, the always-``T`` base rate and the share without
    a conclusion (counted as wrong).

    Each accuracy comes with its 95% Wilson bounds (``_lo``/``_hi``, :func:`criticlab.stats.wilson_interval`)
    over the judged samples, and ``crl_samples_T``/``crl_samples_F`` count the samples of each label.
    Several samples of one row are correlated, so with ``n`` > 1 per row the bounds are narrower than
    an interval over rows would be.
    """
    judged = [r for r in records if r.task == TASK_CRL and r.label is not None]
    on_t = [r for r in judged if r.label]
    on_f = [r for r in judged if not r.label]
    out: dict[str, float] = {
        "crl_samples": len(judged),
        "crl_samples_T": len(on_t),
        "crl_samples_F": len(on_f),
    }
    for key, rows in (
        ("crl_accuracy", judged),
        ("crl_accuracy_on_correct", on_t),
        ("crl_accuracy_on_incorrect", on_f),
    ):
        right = sum(bool(r.judged_right) for r in rows)
        out[key] = right / len(rows) if rows else float("nan")
        out[f"{key}_lo"], out[f"{key}_hi"] = wilson_interval(right, len(rows))
    n = len(judged)
    out["crl_always_T_accuracy"] = len(on_t) / n if n else float("nan")
    out["crl_no_conclusion"] = sum(r.conclusion is None for r in judged) / n if n else float("nan")
    out["crl_parser_disagreements"] = sum(r.parsers_disagree for r in judged)
    return out


def parser_disagreements(before: dict[str, float], runs: Sequence[CRLRatioRun]) -> int:
    """06's count of CRL answers whose conclusion the workbook's rule and Critique-Coder's read
    differently: the start policy's held-out answers, and every run's training samples and held-out
    answers after it (the ``crl_parser_disagreements`` of :func:`conclusion_stats`)."""
    key = "crl_parser_disagreements"
    stats = [before, *(d for run in runs for d in (run.summary, run.after))]
    return int(sum(d.get(key, 0) for d in stats))


def summarize_run(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """One CRL run's numbers from its reward log: code reward, conclusion accuracy and its rise.

    Because a judge that always says ``T`` scores the share of correct candidates, the summary
    also gives that base rate and the accuracy on each label (:func:`conclusion_stats`), so a rise
    can be told apart from learning the base rate.
    """
    logged = [RewardRecord.from_dict(r) for r in records]
    code = [r.reward for r in logged if r.task == TASK_CODE and r.reward is not None]
    curve = [s["accuracy"] for s in per_step([r for r in records if r["task"] == TASK_CRL])]
    check = learning_check(curve)
    nan = float("nan")
    return {
        "code_reward": sum(code) / len(code) if code else nan,
        **conclusion_stats(logged),
        "crl_accuracy_first_quarter": check.first_quarter if check else nan,
        "crl_accuracy_last_quarter": check.last_quarter if check else nan,
        "crl_accuracy_se": check.se if check else nan,
    }


def sample_conclusions(
    engine: Engine,
    rows: Sequence[dict[str, Any]],
    sampling: SamplingParams,
    n: int,
    parser: prompts.ParserRule = "workbook",
) -> list[RewardRecord]:
    """``n`` sampled answers to every CRL row by ``engine``, their conclusions read by ``parser`` and
    scored like the CRL reward (each record says whether the other rule reads it otherwise).

    Run on the same rows before and after CRL training (with the same sampling) it measures what
    training changed, free of the per-step noise of the reward curve, where each step sees
    one prompt.
    """
    crl = [r for r in rows if r["task"] == TASK_CRL]
    outputs = engine.generate([r["prompt"] for r in crl], sampling, n=n)
    records = []
    for row, completions in zip(crl, outputs):
        problem_id = json.loads(row["problem"])["id"]
        for completion in completions:
            concluded = prompts.parse_conclusion(completion.text, parser)
            label = bool(row["label"])
            records.append(
                RewardRecord(
                    TASK_CRL,
                    problem_id,
                    float(concluded == prompts.conclusion_of(label)),
                    conclusion=concluded,
                    label=label,
                    parsers_disagree=prompts.parsers_disagree(completion.text, "conclusion"),
                )
            )
    return records


def ratio_table(runs: Sequence[CRLRatioRun]) -> pd.DataFrame:
    """One row per CRL run (ratio, seed): the run's summary and the held-out probe before and after it."""
    return pd.DataFrame(
        [
            {
                "ratio": run.ratio,
                "seed": run.seed,
                **run.summary,
                **{f"before_{k}": v for k, v in run.before.items() if k != "crl_samples"},
                **{f"after_{k}": v for k, v in run.after.items() if k != "crl_samples"},
            }
            for run in runs
        ]
    )

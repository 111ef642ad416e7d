"""Critique-Coder's CRL data: judge-a-solution rows mixed into ordinary code-RL rows.

A CRL row asks the policy whether a candidate solution is correct; its label comes from running
the candidate (True when its pass rate exceeds ``label_threshold``, 0.8 in the paper). A code-RL
row asks the policy to solve the problem; its reward is the pass rate. :func:`mix` substitutes a
share of the code rows with CRL rows (20% in the paper), so the number of rows stays the same.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from criticlab import prompts
from criticlab.data.types import Problem
from criticlab.llm.base import Engine, SamplingParams
from criticlab.rewards import TASK_CODE, TASK_CRL, RewardRecord, per_step
from criticlab.train import quarter_means


def crl_rows(
    candidates: Sequence[tuple[Problem, str, float]], label_threshold: float = 0.8
) -> list[dict[str, Any]]:
    """Rows from executed candidates ``(problem, code, pass_rate)``: prompt, label, task ``crl``."""
    return [
        {
            "prompt": prompts.crl_conversation(problem, code),
            "task": TASK_CRL,
            "label": pass_rate > label_threshold,
            "problem": json.dumps(problem.to_dict()),
        }
        for problem, code, pass_rate in candidates
    ]


def code_rows(problems: Sequence[Problem]) -> list[dict[str, Any]]:
    """Ordinary code-RL rows: the generation prompt; the reward is the pass rate of the answer."""
    return [
        {
            "prompt": prompts.generation_conversation(p),
            "task": TASK_CODE,
            "label": None,
            "problem": json.dumps(p.to_dict()),
        }
        for p in problems
    ]


def mix(code: Sequence[dict[str, Any]], crl: Sequence[dict[str, Any]], ratio: float, seed: int = 0) -> list[dict[str, Any]]:
    """Replace ``round(ratio × len(code))`` code rows by CRL rows (sampled with ``seed``), then shuffle.

    ``ratio`` 0 is pure code RL, 1 pure CRL. Asking for more CRL rows than exist is an error rather
    than a silent change of the ratio.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"crl.ratio must be within [0, 1], got {ratio}")
    n_crl = round(ratio * len(code))
    if n_crl > len(crl):
        raise ValueError(
            f"a CRL ratio of {ratio} over {len(code)} code rows needs {n_crl} CRL rows, only {len(crl)} exist"
        )
    rng = random.Random(seed)
    rows = rng.sample(list(code), len(code) - n_crl) + rng.sample(list(crl), n_crl)
    rng.shuffle(rows)
    return rows


def format_warmup_rows(crl: Sequence[dict[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """SFT rows that teach the CRL answer format and nothing about correctness.

    A small instruct model asked to judge a solution rarely ends with ``\\conclusion{T|F}``
    (SmolLM2-135M: 0 of 32, Qwen2.5-Coder-0.5B: 3 of 16 within 256 tokens), so every CRL reward
    is 0 and GRPO has no signal. This warm-up answers each CRL prompt with the bare conclusion,
    ``T`` for a random half of the rows and ``F`` for the other half (independent of the
    labels): after it the policy writes the format, judges at chance, and any rise in verdict
    accuracy during CRL comes from the CRL reward.
    """
    rows = [r for r in crl if r["task"] == TASK_CRL]
    answers = [i % 2 == 0 for i in range(len(rows))]
    random.Random(seed).shuffle(answers)
    return [
        {"prompt": row["prompt"],
         "completion": [{"role": "assistant", "content": prompts.conclusion(answer)}]}
        for row, answer in zip(rows, answers)
    ]


def label_balance(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many CRL rows are labelled correct / incorrect (a judge that always says T scores this)."""
    crl = [r for r in rows if r["task"] == TASK_CRL]
    return {"crl_true": sum(bool(r["label"]) for r in crl), "crl_false": sum(not r["label"] for r in crl)}


def judgment_stats(records: Sequence[RewardRecord]) -> dict[str, float]:
    """Accuracy of CRL judgments, on each label, the always-``T`` base rate and the share without
    a conclusion (counted as wrong)."""
    judged = [r for r in records if r.task == TASK_CRL and r.label is not None]

    def share(rows: list[RewardRecord]) -> float:
        return sum(bool(r.verdict_right) for r in rows) / len(rows) if rows else float("nan")

    n = len(judged)
    return {
        "crl_judgments": n,
        "crl_accuracy": share(judged),
        "crl_accuracy_on_correct": share([r for r in judged if r.label]),
        "crl_accuracy_on_incorrect": share([r for r in judged if not r.label]),
        "crl_always_T_accuracy": sum(bool(r.label) for r in judged) / n if n else float("nan"),
        "crl_no_conclusion": sum(r.verdict is None for r in judged) / n if n else float("nan"),
    }


def summarize_run(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """One CRL run's numbers from its reward log: code reward, judgment accuracy and its rise.

    Because a judge that always says ``T`` scores the share of correct candidates, the summary
    also gives that base rate and the accuracy on each label (:func:`judgment_stats`), so a rise
    can be told apart from learning the base rate.
    """
    logged = [RewardRecord(**r) for r in records]
    code = [r.reward for r in logged if r.task == TASK_CODE and r.reward is not None]
    curve = [s["verdict_accuracy"] for s in per_step([r for r in records if r["task"] == TASK_CRL])]
    first, last, se = quarter_means(curve) if curve else (float("nan"),) * 3
    return {
        "code_reward": sum(code) / len(code) if code else float("nan"),
        **judgment_stats(logged),
        "crl_accuracy_first_quarter": first,
        "crl_accuracy_last_quarter": last,
        "crl_accuracy_se": se,
    }


def judge(engine: Engine, rows: Sequence[dict[str, Any]], sampling: SamplingParams, n: int) -> list[RewardRecord]:
    """``n`` sampled judgments of every CRL row by ``engine``, scored like the CRL reward.

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
            verdict = prompts.parse_conclusion(completion.text)
            right = verdict is not None and verdict == bool(row["label"])
            records.append(RewardRecord(TASK_CRL, problem_id, float(right),
                                        verdict=None if verdict is None else ("T" if verdict else "F"),
                                        label=bool(row["label"])))
    return records

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
from pathlib import Path
from typing import Any

from criticlab.data.types import Problem
from criticlab.io import iter_jsonl
from criticlab.rewards.base import TASK_CODE, TASK_CRL
from criticlab.rollout import prompts
from criticlab.sandbox.types import ExecResult


def load_candidates(
    samples_path: str | Path, problems: Sequence[Problem]
) -> list[tuple[Problem, str, float]]:
    """The executed zero-shot solutions of 03 (``samples.jsonl``) as CRL candidates ``(problem, code,
    pass_rate)``: solutions with code, of ``problems``, not hit by an infrastructure error.

    Reads only the fields every synthesis record has (``problem_id``, ``code``, ``result``), so CRL
    depends on 03's file, not on its code. A missing file gives no candidates.
    """
    path = Path(samples_path)
    if not path.is_file():
        return []
    by_id = {p.id: p for p in problems}
    out = []
    for row in iter_jsonl(path, skip_truncated_tail=True):
        result = ExecResult.from_dict(row["result"])
        if row.get("code") is not None and not result.is_infra_error and row["problem_id"] in by_id:
            out.append((by_id[row["problem_id"]], row["code"], result.pass_rate))
    return out


def crl_rows(
    candidates: Sequence[tuple[Problem, str, float]], label_threshold: float = 0.8
) -> list[dict[str, Any]]:
    """Rows from executed candidates ``(problem, code, pass_rate)``: prompt, label, task ``crl``.

    The label is ``pass_rate > label_threshold``. Source of the threshold: Critique-Coder §2.2
    labels a candidate correct when it passes more than 80% of the problem's tests (its reward
    manager, ``verl_tool/workers/reward_manager/crl.py`` in TIGER-AI-Lab/Critique-Coder, compares
    the conclusion with that precomputed boolean correctness per row). It is the profile key
    ``crl.label_threshold``; a value just under 1 (say 0.999) labels correct only what passes every
    test, the CTRL notion of correct.
    """
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


def mix(
    code: Sequence[dict[str, Any]], crl: Sequence[dict[str, Any]], ratio: float, seed: int = 0
) -> list[dict[str, Any]]:
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


def label_balance(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many CRL rows are labelled correct / incorrect (a judge that always says T scores this)."""
    crl = [r for r in rows if r["task"] == TASK_CRL]
    return {"crl_true": sum(bool(r["label"]) for r in crl), "crl_false": sum(not r["label"] for r in crl)}

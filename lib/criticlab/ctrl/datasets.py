"""CTRL's datasets: SFT rows from synthesized critiques (04) and critique prompts for GRPO (05).

The SFT set pairs the critique prompt *without* the hint with the hinted critique, so the critic
learns to critique without execution; options keep only critiques whose revision passed and
balance Correct/Incorrect judgments. The RL set holds (problem, solution) pairs, which
:func:`grpo_rows` turns into critique prompts carrying what the CTRL reward needs.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from criticlab import stages
from criticlab.ctrl.synthesis import SynthesisRecord
from criticlab.data.types import Problem
from criticlab.io import read_jsonl, write_jsonl
from criticlab.rollout import prompts
from criticlab.stages import DatasetReport
from criticlab.training.datasets import require_columns


def read_sft_rows(path: str | Path) -> list[dict[str, Any]]:
    """The SFT rows 03 wrote (``[]`` when synthesis kept no critique, or has not run)."""
    path = Path(path)
    return read_jsonl(path) if path.is_file() else []


def grpo_rows(rl_rows: Sequence[dict[str, Any]], source: str = stages.RL_ROWS) -> list[dict[str, Any]]:
    """Critique prompts for GRPO, with the problem (as JSON) and solution the reward needs."""
    require_columns(rl_rows, ("problem", "response"), source)
    out = []
    for row in rl_rows:
        problem = Problem.from_dict(row["problem"]) if isinstance(row["problem"], dict) else row["problem"]
        code = row.get("code") or row["response"]
        out.append({
            "prompt": prompts.critique_conversation(problem, code),
            "problem": json.dumps(problem.to_dict()),
            "response": row["response"],
            "passed": bool(row.get("passed", False)),
        })
    return out


def build_sft_rows(
    records: Sequence[SynthesisRecord],
    problems: dict[str, Problem],
    *,
    keep_only_successful_revisions: bool = False,
    balance_judgments: bool = True,
    seed: int = 0,
    report: DatasetReport | None = None,
) -> list[dict[str, Any]]:
    """Chat-format SFT rows: the critique prompt *without* the hint → the hinted critique."""
    report = report if report is not None else DatasetReport()
    report.samples = len(records)
    report.zero_shot_passed = sum(r.passed for r in records)
    report.dropped = dict(Counter(r.dropped for r in records if r.dropped))
    kept = [r for r in records if not r.dropped]
    report.kept_after_filters = len(kept)
    report.revision_pass_rate = sum(r.revision_passed for r in kept) / len(kept) if kept else 0.0
    if keep_only_successful_revisions:
        before = len(kept)
        kept = [r for r in kept if r.revision_passed]
        report.dropped_revision_failed = before - len(kept)
    if balance_judgments:
        before = len(kept)
        kept = balance(kept, key=lambda r: r.judgment or "", seed=seed)
        report.dropped_for_balance = before - len(kept)
    rows = []
    for r in kept:
        problem = problems[r.problem_id]
        code = r.code if r.code is not None else r.response
        rows.append({
            "prompt": prompts.critique_conversation(problem, code),
            "completion": [{"role": "assistant", "content": r.critique}],
            "problem_id": r.problem_id,
            "sample": r.sample,
            "judgment": r.judgment,
            "solution_passed": r.passed,
            "revision_passed": r.revision_passed,
        })
    report.sft_rows = len(rows)
    report.sft_judgments = dict(Counter(row["judgment"] for row in rows))
    return rows


def balance(items: Sequence[Any], key: Callable[[Any], str], seed: int = 0) -> list[Any]:
    """Downsample every class to the size of the smallest (deterministic for a seed, order kept).

    With a single class present there is nothing to balance against, and everything is kept.
    """
    groups: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        groups.setdefault(key(item), []).append(i)
    if len(groups) < 2:
        return list(items)
    size = min(len(g) for g in groups.values())
    rng = random.Random(seed)
    chosen = sorted(i for g in groups.values() for i in rng.sample(g, size))
    return [items[i] for i in chosen]


def build_rl_rows(
    records: Sequence[SynthesisRecord], problems: dict[str, Problem], report: DatasetReport | None = None
) -> list[dict[str, Any]]:
    """(problem, solution) rows for GRPO: the critic critiques ``response``; tests come with the problem."""
    rows = [
        {
            "problem_id": r.problem_id,
            "sample": r.sample,
            "problem": problems[r.problem_id].to_dict(),
            "response": r.response,
            "code": r.code,
            "passed": r.passed,
            "pass_rate": r.result.pass_rate,
        }
        for r in records
        if r.code is not None and not r.result.is_infra_error
    ]
    if report is not None:
        report.rl_rows = len(rows)
    return rows


def write_datasets(
    records: Sequence[SynthesisRecord],
    problems: dict[str, Problem],
    out_dir: str | Path,
    *,
    keep_only_successful_revisions: bool = False,
    balance_judgments: bool = True,
    seed: int = 0,
) -> DatasetReport:
    """Write ``sft.jsonl`` and ``rl.jsonl`` (atomically) and return the counts."""
    report = DatasetReport()
    sft = build_sft_rows(
        records, problems, keep_only_successful_revisions=keep_only_successful_revisions,
        balance_judgments=balance_judgments, seed=seed, report=report,
    )
    rl = build_rl_rows(records, problems, report=report)
    out_dir = Path(out_dir)
    write_jsonl(out_dir / stages.SFT_ROWS, sft)
    write_jsonl(out_dir / stages.RL_ROWS, rl)
    return report

"""CTRL's datasets: SFT rows from synthesized critiques (04) and critique prompts for GRPO (05).

The SFT set pairs the critique prompt *without* the hint with the hinted critique, so the critic
learns to critique without execution; options keep only critiques whose revision passed and
balance Correct/Incorrect judgments (:func:`balance`). The RL set holds (problem, solution) pairs
of the generator's own samples, passing and failing, mixed to a target share of failing ones
(:func:`mix_rl_rows`); :func:`grpo_rows` turns them into critique prompts carrying what the CTRL
reward needs. The held-out RL set is the same for the validation problems. The Correct/Incorrect
mix of every step is reported (:class:`criticlab.stages.JudgmentMix`).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from criticlab import stages
from criticlab.ctrl.synthesis import SynthesisRecord
from criticlab.data.types import Problem
from criticlab.io import read_jsonl, write_jsonl
from criticlab.rollout import prompts
from criticlab.stages import DatasetReport, JudgmentMix
from criticlab.stats import round_robin
from criticlab.training.datasets import require_columns

if TYPE_CHECKING:
    from criticlab.config import Profile


def grpo_start(profile: Profile) -> str:
    """Where GRPO starts: notebook 04's SFT checkpoint of the critic, or the base critic when 04
    has not trained one (no SFT rows)."""
    sft_final = profile.paths.checkpoints_dir / stages.SFT_CHECKPOINTS / stages.FINAL
    return str(sft_final) if sft_final.is_dir() else profile.models.critic


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
        out.append(
            {
                "prompt": prompts.critique_conversation(problem, code),
                "problem": json.dumps(problem.to_dict()),
                "response": row["response"],
                "passed": bool(row.get("passed", False)),
            }
        )
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
    report.cut_after_judgment = sum(r.cut_chars > 0 for r in records)
    kept = [r for r in records if not r.dropped]
    report.kept_after_filters = len(kept)
    report.judgments["samples"] = JudgmentMix.of(r.passed for r in records)
    report.judgments["sft_critiques"] = JudgmentMix.of(r.judgment for r in kept)
    report.revision_pass_rate = sum(r.revision_passed for r in kept) / len(kept) if kept else 0.0
    if keep_only_successful_revisions:
        before = len(kept)
        kept = [r for r in kept if r.revision_passed]
        report.dropped_revision_failed = before - len(kept)
    if balance_judgments:
        before = len(kept)
        kept = balance(kept, key=lambda r: r.judgment or "", seed=seed, group=lambda r: r.problem_id)
        report.dropped_for_balance = before - len(kept)
    rows = []
    for r in kept:
        problem = problems[r.problem_id]
        code = r.code if r.code is not None else r.response
        rows.append(
            {
                "prompt": prompts.critique_conversation(problem, code),
                "completion": [{"role": "assistant", "content": r.critique}],
                "problem_id": r.problem_id,
                "sample": r.sample,
                "judgment": r.judgment,
                "solution_passed": r.passed,
                "revision_passed": r.revision_passed,
            }
        )
    report.sft_rows = len(rows)
    report.sft_judgments = dict(Counter(row["judgment"] for row in rows))
    report.judgments["sft_rows"] = JudgmentMix.of(row["judgment"] for row in rows)
    return rows


def balance(
    items: Sequence[Any], key: Callable[[Any], str], seed: int = 0, group: Callable[[Any], str] | None = None
) -> list[Any]:
    """Downsample every class to the size of the smallest (deterministic for a seed, order kept).

    What is dropped: only items of the larger classes, until each has as many as the smallest.
    Which are kept is a seeded draw; with ``group`` (the problem id) the draw goes round the groups
    — one item of every group, in a seeded order, then a second of every group that has one, and
    so on — so the kept items cover as many problems as possible and a problem the generator
    always solves cannot crowd out the rest. With a single class present there is nothing to
    balance against, and everything is kept.
    """
    classes: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        classes.setdefault(key(item), []).append(i)
    if len(classes) < 2:
        return list(items)
    size = min(len(g) for g in classes.values())
    rng = random.Random(seed)
    chosen: list[int] = []
    for name in sorted(classes):
        members = classes[name]
        if group is None:
            chosen.extend(rng.sample(members, size))
        else:
            chosen.extend(round_robin(members, lambda i: group(items[i]), rng)[:size])
    return [items[i] for i in sorted(chosen)]


def mix_rl_rows(
    rows: Sequence[dict[str, Any]], incorrect_share: float | None, seed: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """GRPO's prompts with ``incorrect_share`` of them critiquing a failing solution; ``(rows, dropped)``.

    ``None`` keeps every row in its order (the generator's own mix, as in the paper). Otherwise the
    larger side is cut to reach the share with as many rows as possible (both sides are shuffled
    round the problems first, so what is dropped spreads over the problems), and the rows are
    interleaved so that *every prefix* holds the share too: ``grpo.max_prompts`` takes a prefix.
    When one side is empty the share cannot be reached; every row of the other side is kept (the
    reported mix says so) rather than leaving GRPO without prompts.
    """
    if incorrect_share is None:
        return list(rows), 0
    if not 0.0 <= incorrect_share <= 1.0:
        raise ValueError(f"synthesis.rl_incorrect_share must be within [0, 1] or null, got {incorrect_share}")
    rng = random.Random(seed)
    failing = round_robin([r for r in rows if not r["passed"]], lambda r: r["problem_id"], rng)
    passing = round_robin([r for r in rows if r["passed"]], lambda r: r["problem_id"], rng)
    if not failing or not passing:
        return failing + passing, 0
    limits = []
    if incorrect_share > 0:
        limits.append(len(failing) / incorrect_share)
    if incorrect_share < 1:
        limits.append(len(passing) / (1.0 - incorrect_share))
    total = int(min(limits) + 1e-9)
    n_fail = min(len(failing), round(total * incorrect_share))
    n_pass = min(len(passing), total - n_fail)
    total = n_fail + n_pass
    out, taken = [], 0
    for k in range(1, total + 1):  # prefix k holds floor(k * n_fail / total) failing rows
        if k * n_fail // total > taken:
            out.append(failing[taken])
            taken += 1
        else:
            out.append(passing[k - 1 - taken])
    return out, len(rows) - total


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
    rl_incorrect_share: float | None = None,
    heldout_records: Sequence[SynthesisRecord] = (),
    seed: int = 0,
) -> DatasetReport:
    """Write ``sft.jsonl``, ``rl.jsonl`` and ``rl_heldout.jsonl`` (atomically) and return the counts.

    ``problems`` must hold the problems of ``records`` and of ``heldout_records`` (the validation
    problems' samples, which become held-out GRPO prompts mixed to the same share)."""
    report = DatasetReport()
    sft = build_sft_rows(
        records,
        problems,
        keep_only_successful_revisions=keep_only_successful_revisions,
        balance_judgments=balance_judgments,
        seed=seed,
        report=report,
    )
    rl, report.dropped_for_rl_mix = mix_rl_rows(build_rl_rows(records, problems), rl_incorrect_share, seed)
    heldout, _ = mix_rl_rows(build_rl_rows(heldout_records, problems), rl_incorrect_share, seed)
    report.rl_rows, report.rl_heldout_rows = len(rl), len(heldout)
    report.judgments["grpo_prompts"] = JudgmentMix.of(row["passed"] for row in rl)
    report.judgments["grpo_heldout"] = JudgmentMix.of(row["passed"] for row in heldout)
    out_dir = Path(out_dir)
    write_jsonl(out_dir / stages.SFT_ROWS, sft)
    write_jsonl(out_dir / stages.RL_ROWS, rl)
    write_jsonl(out_dir / stages.RL_HELDOUT, heldout)
    return report

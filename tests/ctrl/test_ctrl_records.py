"""03's labelled counts and the records of 03 and 04, built by the stage package."""

from __future__ import annotations

from pathlib import Path

import pytest

from criticlab import ctrl, stages
from criticlab.ctrl.synthesis import SynthesisRecord
from criticlab.sandbox.types import ExecResult, Verdict
from criticlab.training import TrainResult

OK = ExecResult(Verdict.ACCEPTED, 1, 1)
BAD = ExecResult(Verdict.WRONG_ANSWER, 0, 1)


def test_synthesis_counts_label_every_step_in_pipeline_order() -> None:
    report = stages.DatasetReport(
        samples=10,
        zero_shot_passed=4,
        dropped={"no_judgment": 1, "mentions_hint": 2},
        kept_after_filters=7,
        dropped_revision_failed=1,
        dropped_for_balance=2,
        sft_rows=4,
        dropped_for_rl_mix=3,
        rl_rows=7,
        rl_heldout_rows=5,
    )
    counts = ctrl.synthesis_counts(report)
    assert counts.name == "count"
    assert list(counts.items()) == [
        ("zero-shot samples", 10),
        ("  of which passed", 4),
        ("dropped: mentions_hint", 2),
        ("dropped: no_judgment", 1),
        ("kept after filters", 7),
        ("dropped: revision failed", 1),
        ("dropped: balancing", 2),
        ("SFT rows", 4),
        ("dropped: RL mix", 3),
        ("RL rows", 7),
        ("held-out RL rows", 5),
    ]


def test_synthesis_metrics_count_critiques_and_passing_revisions() -> None:
    def record(critique: str, revised: ExecResult | None) -> SynthesisRecord:
        return SynthesisRecord(
            problem_id="p",
            sample=0,
            response="",
            code="x",
            result=BAD,
            critique=critique,
            revision_result=revised,
        )

    records = [record("fix it", OK), record("fix it", BAD), record("", None), record("fine", None)]
    report = stages.DatasetReport(samples=8, zero_shot_passed=2)
    metrics = ctrl.synthesis_metrics(3, report, records)
    assert metrics == stages.SynthesisMetrics(
        problems=3, datasets=report, zero_shot_pass_rate=0.25, critiques=3, revisions_passed=1
    )
    assert metrics.throughput is None  # the stage's watch fills it
    assert ctrl.synthesis_metrics(0, stages.DatasetReport(), []).zero_shot_pass_rate == 0.0


def test_sft_metrics_with_and_without_a_run(tmp_path: Path) -> None:
    none = ctrl.sft_metrics(0, None)
    assert none == stages.SFTMetrics(rows=0, run=stages.TrainingRun(trained=False), loss=None)
    history = [
        {"step": step, "loss": loss} for step, loss in enumerate([2.0, 1.9, 1.8, 1.7, 0.6, 0.5, 0.4, 0.3], 1)
    ]
    result = TrainResult(output_dir=tmp_path, final_dir=tmp_path / "final", history=history, global_step=8)
    metrics = ctrl.sft_metrics(5, result)
    assert metrics.rows == 5 and metrics.run.trained and metrics.run.steps == 8
    assert metrics.loss.first_quarter == pytest.approx(1.95) and metrics.loss.last_quarter == pytest.approx(
        0.35
    )

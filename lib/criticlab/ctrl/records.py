"""What 03 and 04 report: the synthesis counts under readable labels, and each stage's metrics record.

The notebooks call these instead of building the table and the records by hand, so the labels
and the conversions are written once and tested. (05's record, :func:`criticlab.ctrl.grpo_metrics`, is
built with the GRPO code.)
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from criticlab import stages, stats
from criticlab.ctrl.synthesis import SynthesisRecord
from criticlab.stages import DatasetReport
from criticlab.training.trainers import TrainResult, run_record


def synthesis_counts(report: DatasetReport) -> pd.Series:
    """How many records each synthesis step kept or dropped, labelled for a reader, in pipeline
    order: samples, drops by reason, the filters' survivors, revision and balancing drops, SFT
    rows, the RL mix and rows. The counts figure of 03 draws this series."""
    return pd.Series(
        {
            "zero-shot samples": report.samples,
            "  of which passed": report.zero_shot_passed,
            **{f"dropped: {k}": v for k, v in sorted(report.dropped.items())},
            "kept after filters": report.kept_after_filters,
            "dropped: revision failed": report.dropped_revision_failed,
            "dropped: balancing": report.dropped_for_balance,
            "SFT rows": report.sft_rows,
            "dropped: RL mix": report.dropped_for_rl_mix,
            "RL rows": report.rl_rows,
            "held-out RL rows": report.rl_heldout_rows,
        },
        name="count",
    )


def synthesis_metrics(
    problems: int, report: DatasetReport, records: Sequence[SynthesisRecord]
) -> stages.SynthesisMetrics:
    """03's record: the dataset report, the zero-shot pass rate, and what the hinted critiques did
    (critiques written, revisions that passed). The throughput is left to the stage's watch."""
    critiqued = [r for r in records if r.critique]
    return stages.SynthesisMetrics(
        problems=problems,
        datasets=report,
        zero_shot_pass_rate=report.zero_shot_passed / report.samples if report.samples else 0.0,
        critiques=len(critiqued),
        revisions_passed=sum(r.revision_passed for r in critiqued),
    )


def sft_metrics(rows: int, result: TrainResult | None) -> stages.SFTMetrics:
    """04's record: the rows trained on, the run (or that none ran: no rows), and whether the loss
    fell beyond noise (first vs last quarter of its logged steps; None without enough steps)."""
    loss = stats.learning_check([value for _, value in result.series("loss")]) if result is not None else None
    return stages.SFTMetrics(rows=rows, run=run_record(result), loss=loss)

"""Stage contracts: metrics records round-trip, and a file that does not match says where."""

from __future__ import annotations

import pytest

from criticlab import stages
from criticlab.io import write_json
from criticlab.stats import LearningCheck


def test_metrics_records_round_trip_and_name_what_does_not_match(tmp_path) -> None:
    record = stages.GRPOMetrics(
        rl_rows=4,
        start="sft",
        run=stages.TrainingRun(trained=True, steps=2),
        reward_per_step=[0.25, 1.0],
        learned=LearningCheck(0.25, 1.0, 0.75, 0.0, True),
    )
    path = stages.write_metrics(tmp_path, record)
    assert path == tmp_path / stages.GRPO / stages.METRICS_FILE
    assert stages.read_metrics(tmp_path, stages.GRPO) == record
    assert stages.read_metrics(tmp_path, stages.SFT) is None  # not run yet
    write_json(path, {"stage": stages.GRPO, "rl_rows": "four", "start": "sft", "run": {"trained": True}})
    with pytest.raises(stages.MetricsError, match=r"metrics.json: field 'rl_rows' should be an integer"):
        stages.read_metrics(tmp_path, stages.GRPO)
    write_json(
        path, {"stage": stages.GRPO, "rl_rows": 4, "start": "sft", "run": {"trained": True, "step": 3}}
    )
    with pytest.raises(stages.MetricsError, match=r"unknown field\(s\) \['step'\] in run"):
        stages.read_metrics(tmp_path, stages.GRPO)
    write_json(path, {"stage": stages.GRPO, "start": "sft", "run": {"trained": True}})
    with pytest.raises(stages.MetricsError, match="field 'rl_rows' is missing"):
        stages.read_metrics(tmp_path, stages.GRPO)


def test_grpo_records_written_when_the_gate_was_a_boolean_still_read(tmp_path) -> None:
    path = stages.write_metrics(
        tmp_path, stages.GRPOMetrics(rl_rows=1, start="sft", run=stages.TrainingRun(trained=True))
    )
    from criticlab.io import read_json

    raw = read_json(path)
    raw["judgment_gate"] = True  # docs/results/*/05_grpo/metrics.json
    del raw["parser_disagreements"]
    write_json(path, raw)
    record = stages.read_metrics(tmp_path, stages.GRPO)
    assert record.judgment_gate is True and record.parser_disagreements == 0

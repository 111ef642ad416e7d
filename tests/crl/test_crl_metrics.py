"""06's record, built by the stage package from the rows, the runs, the plan and the comparison."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
from scripted import ADD, ECHO, RIGHT

from criticlab import config, crl, stages
from criticlab.llm.base import SamplingParams

ROLLOUTS = stages.Throughput(
    tokens=40,
    sequences=8,
    generation_seconds=4.0,
    tokens_per_second=10.0,
    parts={"engines": {"tokens": 0.0}, "rollouts": {"tokens": 40.0}},
)
START_CODE = [{"source": "humaneval", "k": 1, "pass@k": 0.5, "reward": 0.5}]
START_JUDGE = {"crl_accuracy": 0.5, "crl_always_T_accuracy": 0.5}


@pytest.fixture
def profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> config.Profile:
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    cfg = config.load_profile("smoke")
    return dataclasses.replace(cfg, crl=dataclasses.replace(cfg.crl, format_warmup_epochs=2))


def ratio_run(ratio: float, seed: int | None) -> stages.CRLRatioRun:
    return stages.CRLRatioRun(
        ratio=ratio,
        run=stages.TrainingRun(trained=True, steps=2),
        summary={"reward": 0.5},
        seed=seed,
        before=START_JUDGE,
        after={"crl_accuracy": 0.75},
        code=START_CODE,
    )


def record(profile: config.Profile, runs: list[stages.CRLRatioRun], **changes) -> stages.CRLMetrics:
    heldout = crl.crl_rows([(ECHO, RIGHT["echo"], 1.0), (ADD, RIGHT["add"], 0.0), (ADD, RIGHT["add"], 1.0)])
    plan = crl.EvaluationPlan(
        heldout=heldout,
        judgments=2,
        judge_sampling=SamplingParams(),
        problems=[ADD, ECHO],
        samples=3,
        code_sampling=SamplingParams(),
        stage_dir=profile.paths.root / stages.CRL,
    )
    table = crl.comparison_table(START_CODE, START_JUDGE, runs)
    args = dict(
        code_rows=10,
        crl_rows=7,
        policy="tiny-policy",
        runs=runs,
        seeds=[1, 2],
        train_crl_rows=4,
        plan=plan,
        start_code=START_CODE,
        start_judge=START_JUDGE,
        comparison=table,
    )
    return crl.crl_metrics(profile, **{**args, **changes})


def test_the_record_holds_what_06_reports(profile) -> None:
    runs = [ratio_run(0.5, 1), ratio_run(0.5, 2)]
    made = record(profile, runs, throughput=ROLLOUTS)
    assert (made.code_rows, made.crl_rows, made.train_crl_rows, made.policy) == (10, 7, 4, "tiny-policy")
    assert made.format_warmup_epochs == 2  # the profile's
    assert made.ratios == runs and made.seeds == [1, 2]
    assert made.heldout_crl_rows == 3  # the plan's held-out rows
    assert made.heldout_problems == sorted({ADD.id, ECHO.id})  # their problems, each once, sorted
    assert (made.eval_problems, made.eval_samples) == (2, 3)
    assert made.start_code == START_CODE and made.start_judge == START_JUDGE
    table = crl.comparison_table(START_CODE, START_JUDGE, runs)
    pd.testing.assert_frame_equal(pd.DataFrame(made.comparison), table)  # its rows (NaN: no judged rows)
    assert [row["seed"] for row in made.comparison] == ["-", "1", "2", "mean", "sd"]
    assert made.throughput == ROLLOUTS  # the notebook's, with the rollouts part


def test_without_runs_the_comparison_is_the_start_row_and_the_watch_fills_throughput(profile) -> None:
    made = record(profile, [], seeds=[1])
    assert made.ratios == [] and len(made.comparison) == 1 and made.comparison[0]["policy"] == crl.START
    assert made.throughput is None


def test_the_writer_keeps_the_rollouts_and_the_record_reads_back(profile) -> None:
    written = profile.paths.stage(stages.CRL).finish(
        record(profile, [ratio_run(0.2, None)], throughput=ROLLOUTS)
    )
    assert written.throughput == ROLLOUTS
    read = stages.read_metrics(profile.paths.root, stages.CRL)
    pd.testing.assert_frame_equal(
        pd.DataFrame(read.comparison), pd.DataFrame(written.comparison), check_like=True
    )
    assert dataclasses.replace(read, comparison=[]) == dataclasses.replace(written, comparison=[])

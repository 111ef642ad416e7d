"""05's record, built by the stage package: the first seed at the top level, every seed below."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from criticlab import config, ctrl, stages
from criticlab.stats import LearningCheck

BEFORE = stages.HeldoutScore(
    prompts=2,
    critiques=4,
    reward=0.25,
    reward_lo=0.0,
    reward_hi=0.5,
    accuracy=0.5,
    accuracy_lo=0.25,
    accuracy_hi=0.75,
    accuracy_correct=1.0,
    accuracy_incorrect=0.0,
    unparsed=0.25,
)
ROLLOUTS = stages.Throughput(
    tokens=40,
    sequences=8,
    generation_seconds=4.0,
    tokens_per_second=10.0,
    parts={"engines": {"tokens": 0.0}, "rollouts": {"tokens": 40.0}},
)


@pytest.fixture
def profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> config.Profile:
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    cfg = config.load_profile("smoke")
    return dataclasses.replace(cfg, grpo=dataclasses.replace(cfg.grpo, judgment_gate=True))


def seed_run(seed: int, rise: float) -> stages.GRPOSeedRun:
    return stages.GRPOSeedRun(
        seed=seed,
        run=stages.TrainingRun(trained=True, steps=4, checkpoint=f"grpo_{seed}/final"),
        reward_per_step=[0.0, 0.5, 0.5, rise],
        learned=LearningCheck(0.0, rise, rise, 0.1, rise > 0.2),
        unparsed_per_step=[0.5, 0.0, 0.0, 0.0],
        seconds_per_step={"sampling": 1.5},
        after=dataclasses.replace(BEFORE, reward=BEFORE.reward + rise),
    )


def metrics(profile: config.Profile, runs: list[stages.GRPOSeedRun], **changes) -> stages.GRPOMetrics:
    args = dict(
        rl_rows=6,
        start="checkpoints/sft/final",
        runs=runs,
        unparsed_critiques=3,
        unparsed_reward=0.0,
        prompts_mix=stages.JudgmentMix.of([True, False, False]),
        heldout_rows=2,
        heldout_mix=stages.JudgmentMix.of([True, False]),
        heldout_before=BEFORE,
    )
    return ctrl.grpo_metrics(profile, **{**args, **changes})


def test_the_first_seed_fills_the_top_level_and_every_seed_is_kept(profile) -> None:
    runs = [seed_run(profile.seed, 0.25), seed_run(profile.seed + 1, 0.75)]
    record = metrics(profile, runs, throughput=ROLLOUTS)
    first = runs[0]
    assert (record.rl_rows, record.start, record.heldout_rows) == (6, "checkpoints/sft/final", 2)
    assert record.run == first.run and record.reward_per_step == first.reward_per_step
    assert record.learned == first.learned and record.unparsed_per_step == first.unparsed_per_step
    assert record.seconds_per_step == first.seconds_per_step
    assert record.judgment_gate is True  # the profile's
    assert (record.unparsed_critiques, record.unparsed_reward) == (3, 0.0)
    assert record.prompts_mix == stages.JudgmentMix(
        correct=1, incorrect=2, correct_share=1 / 3, incorrect_share=2 / 3
    )
    assert record.heldout_mix == stages.JudgmentMix(
        correct=1, incorrect=1, correct_share=0.5, incorrect_share=0.5
    )
    assert record.heldout_before == BEFORE
    assert record.seeds == runs
    assert record.across_seeds == ctrl.across_seeds(runs)
    assert record.across_seeds["reward rise"]["mean"] == pytest.approx(0.5)
    assert record.throughput == ROLLOUTS  # the notebook's, with the rollouts part


def test_without_a_run_the_top_level_says_nothing_trained(profile) -> None:
    record = metrics(profile, [], heldout_before=None, heldout_rows=0, heldout_mix=stages.JudgmentMix())
    assert record.run == stages.TrainingRun(trained=False)
    assert (record.reward_per_step, record.learned, record.unparsed_per_step, record.seconds_per_step) == (
        [],
        None,
        [],
        None,
    )
    assert record.seeds == [] and record.heldout_before is None
    assert math.isnan(record.across_seeds["reward rise"]["mean"])
    assert record.throughput is None  # left to the stage's watch


def test_the_writer_keeps_the_rollouts_and_the_record_reads_back(profile) -> None:
    out = profile.paths.stage(stages.GRPO)
    runs = [seed_run(profile.seed, 0.25), seed_run(profile.seed + 1, 0.75)]  # two: no NaN sd, so == compares
    written = out.finish(metrics(profile, runs, throughput=ROLLOUTS))
    assert written.throughput == ROLLOUTS
    assert stages.read_metrics(profile.paths.root, stages.GRPO) == written

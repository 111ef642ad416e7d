"""05's held-out measurement and its summaries over seeds (scripted critic and generator, real sandbox)."""

from __future__ import annotations

import math

from scripted import ADD, RIGHT, WRONG, ScriptedEngine, fenced

from criticlab import config, ctrl, stages
from criticlab.llm.base import SamplingParams
from criticlab.rewards import CTRLReward
from criticlab.stats import LearningCheck


def test_score_heldout_counts_rewards_and_verdicts_by_hand() -> None:
    # prompt 0 (passing solution): a right verdict rewarded 1, then no judgment rewarded 0;
    # prompt 1 (failing solution): a wrong verdict whose revision broke the sandbox, then a right one
    score = ctrl.score_heldout(
        [0, 0, 1, 1],
        [True, True, False, False],
        ["correct", None, "correct", "incorrect"],
        [1.0, 0.0, None, 1.0],
        2,
        resamples=200,
    )
    assert (score.prompts, score.critiques) == (2, 4)
    assert score.reward == 2 / 3 and score.accuracy == 0.5 and score.unparsed == 0.25
    assert score.accuracy_correct == 0.5 and score.accuracy_incorrect == 0.5
    assert (
        score.reward_lo <= score.reward <= score.reward_hi and score.accuracy_lo <= 0.5 <= score.accuracy_hi
    )
    # resampling the two prompts: prompt 0 alone gives accuracy 1/2, prompt 1 alone 1/2 → no spread
    assert score.accuracy_lo == score.accuracy_hi == 0.5
    assert math.isnan(ctrl.score_heldout([0], [True], ["correct"], [1.0], 1).accuracy_incorrect)


def test_heldout_sampling_is_grpo_training_sampling() -> None:
    # the held-out critiques are drawn as the trainer draws them, whatever the profile's generation settings
    grpo = config.load_profile(
        "cpu", overrides={"grpo": {"temperature": 0.9, "max_completion_length": 123}}
    ).grpo
    sampling = ctrl.heldout_sampling(grpo, 7)
    assert (sampling.temperature, sampling.top_p, sampling.max_tokens, sampling.seed) == (0.9, 1.0, 123, 7)


def test_measure_heldout_samples_critiques_and_scores_them(executor) -> None:
    rows = ctrl.grpo_rows(
        [
            {
                "problem_id": "add",
                "problem": ADD.to_dict(),
                "response": fenced(WRONG["add"]),
                "passed": False,
            },
            {"problem_id": "add", "problem": ADD.to_dict(), "response": fenced(RIGHT["add"]), "passed": True},
        ]
    )
    critic, generator = ScriptedEngine(), ScriptedEngine()
    score = ctrl.measure_heldout(critic, rows, CTRLReward(generator, executor), SamplingParams(), critiques=3)
    # the scripted critic is honest and the scripted generator's revisions pass
    assert (score.prompts, score.critiques, critic.samples, generator.samples) == (2, 6, 6, 6)
    assert score.reward == 1.0 and score.accuracy == 1.0 and score.unparsed == 0.0
    assert ctrl.measure_heldout(critic, [], CTRLReward(generator, executor), SamplingParams()) is None


def seed_run(seed: int, rise: float, reward: float, accuracy: float) -> stages.GRPOSeedRun:
    after = stages.HeldoutScore(4, 8, reward, 0.0, 1.0, accuracy, 0.0, 1.0, accuracy, accuracy, 0.0)
    return stages.GRPOSeedRun(
        seed=seed,
        run=stages.TrainingRun(trained=True, steps=8),
        learned=LearningCheck(0.2, 0.2 + rise, rise, 0.05, rise > 0.1),
        after=after,
    )


def test_seeds_are_reported_one_by_one_and_as_mean_and_spread() -> None:
    runs = [seed_run(0, 0.1, 0.5, 0.6), seed_run(1, 0.3, 0.7, 0.8)]
    summary = ctrl.across_seeds(runs)
    # sample sd of (0.1, 0.3) = sqrt(((0.1)^2 + (0.1)^2) / 1) = sqrt(0.02)
    assert math.isclose(summary["reward rise"]["mean"], 0.2) and math.isclose(
        summary["reward rise"]["sd"], math.sqrt(0.02)
    )
    accuracy = summary["held-out accuracy after"]
    assert (accuracy["min"], accuracy["max"], accuracy["seeds"]) == (0.6, 0.8, 2.0)
    assert math.isclose(accuracy["mean"], 0.7) and math.isclose(accuracy["sd"], math.sqrt(0.02))
    table = ctrl.seed_table(None, runs)
    assert list(table.index) == [
        "before GRPO (start)",
        "seed 0",
        "seed 1",
        "mean over 2 seeds",
        "sd over 2 seeds",
    ]
    assert math.isclose(table.loc["mean over 2 seeds", "held-out reward"], 0.6)
    assert table.loc["seed 1", "steps"] == 8
    one = ctrl.across_seeds(runs[:1])
    assert one["reward rise"]["mean"] == 0.1 and math.isnan(one["reward rise"]["sd"])


def test_trained_mix_reads_the_labels_of_the_reward_log() -> None:
    log = [
        {"task": "critique", "problem_id": "a", "reward": 1.0, "label": True},
        {"task": "critique", "problem_id": "a", "reward": 0.0, "label": False},
        {"task": "critique", "problem_id": "b", "reward": 0.0, "label": False},
    ]
    assert ctrl.trained_mix(log) == stages.JudgmentMix(1, 2, 1 / 3, 2 / 3)

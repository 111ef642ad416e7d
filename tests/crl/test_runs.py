"""06's loop as library calls: GRPO settings, the warm-up, a policy's evaluation, one ratio's runs, curves.

The trained policy is the tiny random Qwen2 (seconds on a CPU); evaluation engines are scripted,
the sandbox is real.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
from scripted import ADD, ECHO, RIGHT, ScriptedEngine

from criticlab import config, crl, stages
from criticlab.crl import runs as crl_runs
from criticlab.data import write_problems
from criticlab.io import read_jsonl
from criticlab.llm.base import SamplingParams
from criticlab.llm.models import TINY_RANDOM


@pytest.fixture
def profile(tmp_path, monkeypatch) -> config.Profile:
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path / "outputs"))
    monkeypatch.setattr(crl_runs, "policy_engine", lambda cfg, model: ScriptedEngine())
    cfg = config.load_profile("smoke")
    grpo = dataclasses.replace(
        cfg.grpo,
        max_steps=5,
        group_size=2,
        prompts_per_step=1,
        max_completion_length=8,
        max_prompt_length=1024,
        max_prompts=3,
    )
    return dataclasses.replace(
        cfg, grpo=grpo, crl=dataclasses.replace(cfg.crl, max_steps=2, seeds=2, format_warmup_epochs=0)
    )


def plan(profile: config.Profile, heldout: list[dict]) -> crl.EvaluationPlan:
    return crl.EvaluationPlan(
        heldout=heldout,
        judgments=2,
        judge_sampling=SamplingParams(),
        problems=[ADD, ECHO],
        samples=2,
        code_sampling=SamplingParams(),
        stage_dir=profile.paths.stage_dir(stages.CRL),
    )


def test_crl_trains_with_its_own_steps_on_every_row(profile) -> None:
    grpo = crl.grpo_section(profile)
    assert (grpo.max_steps, grpo.max_prompts, grpo.group_size) == (2, None, 2)
    unset = dataclasses.replace(profile, crl=dataclasses.replace(profile.crl, max_steps=None))
    assert crl.grpo_section(unset).max_steps == 5
    assert crl.format_warmup(profile, TINY_RANDOM, []) is None  # no warm-up asked for


def test_the_evaluation_plan_reads_07s_problems(profile) -> None:
    write_problems(profile.paths.eval_jsonl, [ADD, ECHO, dataclasses.replace(ADD, id="add2")])
    limited = dataclasses.replace(
        profile,
        crl=dataclasses.replace(profile.crl, eval_problems=2, eval_samples=3),
        evaluation=dataclasses.replace(profile.evaluation, problem_ids=[]),
    )
    made = crl.evaluation_plan(limited, crl.grpo_section(limited), [{"task": "crl"}])
    assert len(made.problems) == 2 and made.samples == 3 and made.judgments == limited.grpo.group_size
    assert made.judge_sampling.temperature == limited.grpo.temperature and made.judge_sampling.top_p == 1.0
    assert made.judge_sampling.max_tokens == limited.grpo.max_completion_length


def test_a_policy_is_evaluated_as_judge_and_as_coder(profile, executor) -> None:
    heldout = crl.crl_rows([(ADD, RIGHT["add"], 1.0), (ECHO, RIGHT["echo"], 0.0)])
    judge, code = crl.evaluate_policy(profile, "any", plan(profile, heldout), "code_test.jsonl", executor)
    # the scripted engine writes code and no conclusion: every judgment is wrong, every first solution fails
    assert judge["crl_samples"] == 4 and judge["crl_accuracy"] == 0.0 and judge["crl_no_conclusion"] == 1.0
    assert {(c["source"], c["k"]) for c in code} == {("t", 1), ("t", 2)} and all(
        c["pass@k"] == 0.0 for c in code
    )
    assert len(read_jsonl(profile.paths.stage_dir(stages.CRL) / "code_test.jsonl")) == 2 * 2
    line = crl.describe(judge, code)
    assert line.startswith("judge accuracy 0.000") and "t pass@2 0.000" in line
    assert crl.describe({}, []).startswith("judge accuracy nan")


def test_one_ratio_trains_each_seed_and_evaluates_it(profile, executor) -> None:
    code_pool = crl.code_rows([ADD, ECHO, ADD, ECHO])
    crl_pool = crl.crl_rows([(ADD, RIGHT["add"], 1.0), (ECHO, RIGHT["echo"], 0.0)])
    seeds = [profile.seed, profile.seed + 1]
    before = {"crl_accuracy": 0.5}
    trained = crl.train_ratio(
        profile, TINY_RANDOM, 0.5, code_pool, crl_pool, seeds, plan(profile, crl_pool[:1]), executor, before
    )
    assert trained.skipped is None and sum(trained.balance.values()) == 1
    stage_dir = profile.paths.stage_dir(stages.CRL)
    mixed = read_jsonl(stage_dir / stages.for_ratio(stages.CRL_MIX, 0.5))
    # run_size: the step budget (1 prompt × 2 steps) rows, half of them CRL rows
    assert len(mixed) == 2 and sum(r["task"] == "crl" for r in mixed) == 1
    assert (stage_dir / stages.for_ratio(stages.CRL_VERL_MIX, 0.5)).is_file()
    assert [r.name for r in trained.runs] == [f"ratio 0.5 · seed {s}" for s in seeds]
    for run, seed in zip(trained.runs, seeds):
        assert run.run.seed == seed and run.run.run.steps == 2 and run.run.before is before
        assert {r["step"] for r in run.log} == {0, 1} and len(run.log) == 2 * 2  # steps × group
        assert run.run.after["crl_samples"] == 2 and run.run.code[0]["source"] == "t"
        assert (stage_dir / stages.for_ratio(stages.CRL_CODE, 0.5, seed)).is_file()
        assert run.rollout.sequences == 2 * 2
    rewards, accuracy = crl.training_curves({r.name: r.log for r in trained.runs})
    assert all(len(curve) == 2 for curve in rewards.values())
    assert set(accuracy) <= set(rewards)
    skipped = crl.train_ratio(
        profile, TINY_RANDOM, 1.5, code_pool, crl_pool, seeds, plan(profile, []), executor, {}
    )
    assert skipped.runs == [] and "within [0, 1]" in skipped.skipped


def test_training_curves_keep_only_runs_with_crl_rows() -> None:
    logs = {
        "code only": [{"task": "code", "problem_id": "p", "reward": 0.5, "step": 0}],
        "mixed": [
            {"task": "crl", "problem_id": "p", "reward": 1.0, "conclusion": "T", "label": True, "step": 0},
            {"task": "code", "problem_id": "p", "reward": 0.0, "step": 0},
        ],
    }
    rewards, accuracy = crl.training_curves(logs)
    assert rewards == {"code only": [(1, 0.5)], "mixed": [(1, 0.5)]}
    assert accuracy == {"mixed": [(1, 1.0)]}
    assert not math.isnan(accuracy["mixed"][0][1])

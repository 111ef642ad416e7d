"""05's loop as library calls: the reward a profile sets, one seed's run, held-out scores, the curves.

The critic is the tiny random Qwen2 (seconds on a CPU); critic engines for the held-out prompts and
the generator are scripted, the sandbox is real.
"""

from __future__ import annotations

import json
import math
import shutil

import pytest
from scripted import ADD, ECHO, RIGHT, WRONG, ScriptedEngine, fenced

from criticlab import config, ctrl, stages
from criticlab.ctrl import grpo as ctrl_grpo
from criticlab.io import read_jsonl
from criticlab.llm import sampling_for
from criticlab.llm.models import TINY_RANDOM


@pytest.fixture
def profile(tmp_path, monkeypatch) -> config.Profile:
    """smoke with the tiny random critic, two GRPO seeds of 2 steps, LoRA of rank 4 for GRPO only."""
    params = tmp_path / "params"
    params.mkdir()
    for name in ("cpu.yaml", "smoke.yaml"):
        shutil.copy(config.project_root() / "params" / name, params / name)
    (params / "tiny.yaml").write_text(
        f"extends: smoke.yaml\nmodels:\n  critic: {TINY_RANDOM}\n"
        "grpo:\n  max_steps: 2\n  group_size: 2\n  prompts_per_step: 1\n  max_completion_length: 8\n"
        "  max_prompt_length: 1024\n  heldout_prompts: 2\n  heldout_critiques: 2\n  seeds: 2\n  judgment_gate: last_line\n"
        "  lora: true\n  lora_r: 4\n  lora_alpha: 8\n"
    )
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path / "outputs"))
    monkeypatch.setattr(ctrl_grpo, "policy_engine", lambda cfg, model: ScriptedEngine())
    return config.load_profile(str(params / "tiny.yaml"))


def rows() -> list[dict]:
    return ctrl.grpo_rows(
        [{"problem": p.to_dict(), "response": fenced(WRONG[p.id]), "passed": False} for p in (ADD, ECHO)]
    )


def heldout() -> list[dict]:
    return ctrl.grpo_rows(
        [
            {"problem": ADD.to_dict(), "response": fenced(code), "passed": passed}
            for code, passed in ((RIGHT["add"], True), (WRONG["add"], False))
        ]
    )


def test_the_reward_follows_the_profile(profile, executor, tmp_path) -> None:
    reward = ctrl.reward_for(profile, ScriptedEngine(), executor, tmp_path / "r.jsonl")
    assert reward.judgment_gate == "last_line" and reward.sampling == sampling_for(profile, "revision")
    assert reward.log_path == tmp_path / "r.jsonl"
    assert (reward.revision_input, reward.revision_request, reward.parser) == (
        "response",
        "workbook",
        "workbook",
    )
    import dataclasses

    ungated = dataclasses.replace(profile.grpo, judgment_gate="none", revision_input="sanitized")
    as_reference = dataclasses.replace(
        profile,
        prompts=dataclasses.replace(profile.prompts, parser="reference", revision_request="reference"),
    )
    other = ctrl.reward_for(as_reference, ScriptedEngine(), executor, grpo=ungated)
    assert (other.judgment_gate, other.revision_input, other.revision_request, other.parser) == (
        "none",
        "sanitized",
        "reference",
        "reference",
    )


def test_heldout_score_samples_as_grpo_and_rewrites_its_log(profile, executor, tmp_path) -> None:
    log = tmp_path / "heldout.jsonl"
    log.write_text('{"stale": true}\n')
    score = ctrl.heldout_score(profile, "any critic", heldout(), ScriptedEngine(), executor, log)
    assert (score.prompts, score.critiques) == (2, 2 * profile.grpo.heldout_critiques)
    assert score.accuracy == 1.0 and score.reward == 1.0  # the scripted critic is honest, its revisions pass
    assert len(read_jsonl(log)) == score.critiques and all("stale" not in r for r in read_jsonl(log))
    assert ctrl.heldout_score(profile, "any critic", [], ScriptedEngine(), executor, log) is None
    line = ctrl.describe_heldout(score, "before")
    assert line.startswith("held-out (before): reward 1.000") and "4 critiques of 2 prompts" in line


def test_a_seed_trains_logs_and_is_measured_on_the_heldout_prompts(profile, executor) -> None:
    generator = ScriptedEngine()
    first, second = (
        ctrl.train_seed(profile, TINY_RANDOM, rows(), generator, executor, seed, heldout())
        for seed in (profile.seed, profile.seed + 1)
    )
    stage_dir = profile.paths.stage_dir(stages.GRPO)
    for seeded, suffix in ((first, ""), (second, f"_seed{profile.seed + 1}")):
        run = seeded.run
        assert run.run.trained and run.run.steps == 2 and len(run.reward_per_step) == 2
        assert run.trained_mix.incorrect == 2 * 2  # every critiqued solution fails: 2 steps × group 2
        # random weights write no judgment, and the profile's gate scores such a critique 0 unrevised
        assert run.reward_per_step == [0.0, 0.0] and run.unparsed_per_step == [1.0, 1.0]
        assert run.after is not None and run.after.accuracy == 1.0  # measured with the scripted critic
        assert (stage_dir / f"rewards{suffix}.jsonl").is_file()
        adapter = json.loads((seeded.result.final_dir / "adapter_config.json").read_text())
        assert (adapter["r"], adapter["lora_alpha"]) == (4, 8)  # GRPO's own LoRA keys, not sft's 16/32
        assert seeded.rollout.sequences == 2 * 2
    assert str(second.result.final_dir).endswith(f"grpo_seed{profile.seed + 1}/{stages.FINAL}")
    curves = ctrl.training_curves(profile, [first, second])
    assert set(curves) == {*ctrl.CURVES, *ctrl.TRAINER_CURVES}
    assert curves["reward"] == {f"seed {s}": [(1, 0.0), (2, 0.0)] for s in (profile.seed, profile.seed + 1)}
    assert [step for step, _ in curves["KL"][f"seed {profile.seed}"]] == [1, 2]
    assert ctrl.training_curves(profile, []) == {title: {} for title in ctrl.CURVES}
    summary = ctrl.across_seeds([first.run, second.run])
    assert (
        summary["held-out accuracy after"]["mean"] == 1.0 and summary["held-out accuracy after"]["sd"] == 0.0
    )
    assert math.isclose(summary["reward rise"]["seeds"], 2.0)

"""The GRPO-settings tool trains each setting (tiny random critic, scripted generator, real sandbox),
scores it on the held-out prompts beside the start and always-Correct, and picks on those alone."""

from __future__ import annotations

import math
import shutil

import pytest
from scripted import ADD, ECHO, RIGHT, WRONG, ScriptedEngine, fenced
from test_critic_choice import AlwaysCorrect

from criticlab import config, stages, training
from criticlab.ctrl import choice
from criticlab.ctrl import grpo as ctrl_grpo
from criticlab.io import read_json, write_jsonl
from criticlab.llm.models import TINY_RANDOM
from criticlab.rollout.outcomes import ALWAYS_CORRECT
from criticlab.tools import grpo_settings


def test_parse_grid_takes_every_combination_with_typed_values() -> None:
    grid = grpo_settings.parse_grid(
        ["grpo.learning_rate=1e-5,5e-5", "grpo.max_steps=8,16", "grpo.lr_scheduler=constant"]
    )
    assert len(grid) == 4 and grid[0] == {"learning_rate": 1e-5, "max_steps": 8, "lr_scheduler": "constant"}
    assert grid[-1]["learning_rate"] == 5e-5 and grid[-1]["max_steps"] == 16
    assert grpo_settings.setting_name(grid[0]) == "learning_rate=1e-05_max_steps=8_lr_scheduler=constant"
    for bad in ("learning_rate=1e-5", "sft.learning_rate=1e-5", "grpo.max_steps", "grpo.max_steps="):
        with pytest.raises(ValueError, match="grpo"):
            grpo_settings.parse_grid([bad])
    with pytest.raises(ValueError, match="twice"):
        grpo_settings.parse_grid(["grpo.max_steps=8", "grpo.max_steps=16"])


def test_pick_maximises_the_criterion_and_ignores_context_rows() -> None:
    rows = [
        {"candidate": "always-Correct", "accuracy": 0.9, "reward": math.nan},
        {"candidate": "start", "accuracy": 0.8, "reward": 0.9},
        {"setting": "a", "accuracy": 0.5, "reward": 0.7},
        {"setting": "b", "accuracy": 0.6, "reward": 0.4},
        {"setting": "c", "accuracy": 0.6, "reward": 0.5},
        {"setting": "d", "accuracy": math.nan, "reward": 1.0},
    ]
    assert grpo_settings.pick(rows)["setting"] == "c"  # accuracy ties broken by reward
    assert grpo_settings.pick(rows, by="reward")["setting"] == "d"  # by reward, d (no accuracy) counts
    assert grpo_settings.pick(rows[:5], by="reward")["setting"] == "a"
    assert grpo_settings.pick(rows[:2]) is None
    with pytest.raises(ValueError, match="by must be"):
        grpo_settings.pick(rows, by="loss")


@pytest.fixture
def profile_ref(tmp_path, monkeypatch):
    """A profile that extends smoke with the tiny random critic, 03's prompts on disk, scripted engines."""
    params = tmp_path / "params"
    params.mkdir()
    for name in ("cpu.yaml", "smoke.yaml"):
        shutil.copy(config.project_root() / "params" / name, params / name)
    (params / "tiny.yaml").write_text(
        f"extends: smoke.yaml\nmodels:\n  critic: {TINY_RANDOM}\n"
        "grpo:\n  max_steps: 1\n  max_completion_length: 8\n  heldout_prompts: 3\n"
    )
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path / "outputs"))
    ref = str(params / "tiny.yaml")
    synthesis = config.load_profile(ref).paths.stage_dir(stages.SYNTHESIS)
    write_jsonl(
        synthesis / stages.RL_ROWS,
        [{"problem": p.to_dict(), "response": fenced(WRONG[p.id]), "passed": False} for p in (ADD, ECHO)],
    )
    write_jsonl(
        synthesis / stages.RL_HELDOUT,
        [
            {"problem": ADD.to_dict(), "response": fenced(code), "passed": passed}
            for code, passed in ((RIGHT["add"], True), (WRONG["add"], False), (WRONG["add"], False))
        ],
    )
    monkeypatch.setattr(grpo_settings, "engine_for", lambda cfg, role: ScriptedEngine())
    monkeypatch.setattr(choice, "engine_for", lambda cfg, role: ScriptedEngine())
    # the setting with the larger learning rate stands for a critic that learned to discriminate
    monkeypatch.setattr(
        ctrl_grpo,
        "policy_engine",
        lambda cfg, model: ScriptedEngine() if "learning_rate=0.001" in model else AlwaysCorrect(),
    )
    return ref


def test_settings_are_trained_scored_and_picked_on_the_heldout_prompts(
    profile_ref, tmp_path, monkeypatch
) -> None:
    settings = grpo_settings.parse_grid(["grpo.learning_rate=1e-4,1e-3"])
    result = grpo_settings.choose(profile_ref, settings, critiques=2)
    rows = {row["candidate"]: row for row in result["rows"]}
    assert list(rows)[:2] == [ALWAYS_CORRECT, f"start ({TINY_RANDOM})"]
    assert rows[ALWAYS_CORRECT]["accuracy"] == pytest.approx(1 / 3)
    assert rows["learning_rate=0.001"]["accuracy"] == 1.0 and rows["learning_rate=0.0001"]["critiques"] == 6
    assert result["pick"] == "learning_rate=0.001"
    assert {row.get("max_tokens") for row in result["rows"][1:]} == {8}  # sampled as each setting trained
    checkpoints = config.load_profile(profile_ref).paths.checkpoints_dir / grpo_settings.SETTINGS_DIR
    for name in ("learning_rate=0.0001", "learning_rate=0.001"):
        assert (checkpoints / name / stages.FINAL / "config.json").is_file()
        assert (checkpoints / name / stages.REWARDS).is_file()  # the trainer's reward log, per setting

    def no_training(*args, **kwargs):
        raise AssertionError("a trained setting was trained again")

    monkeypatch.setattr(training, "train_grpo", no_training)
    out = tmp_path / "report"
    assert (
        grpo_settings.main(
            [
                "--profile",
                profile_ref,
                "--grid",
                "grpo.learning_rate=1e-4,1e-3",
                "--by",
                "reward",
                "--heldout",
                "2",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    saved = read_json(out / "scores.json")
    assert saved["heldout_prompts"] == 2 and {row["prompts"] for row in saved["rows"]} == {2}  # 2 of the 3
    assert saved["by"] == "reward" and saved["settings"]["learning_rate=0.001"] == {"learning_rate": 0.001}
    assert "Pick (held-out reward): learning_rate=" in (out / "table.md").read_text()


def test_without_notebook_03_it_says_what_to_run(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="run notebook 03"):
        grpo_settings.train_settings("smoke", [{}])


def test_a_bad_grid_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit):
        grpo_settings.main(["--profile", "smoke", "--grid", "sft.learning_rate=1e-5"])
    assert "expected grpo.<key>" in capsys.readouterr().err

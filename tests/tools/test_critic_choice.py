"""The critic-choice tool scores each candidate on the held-out prompts, beside always-Correct."""

from __future__ import annotations

import dataclasses
import math

import pytest
from scripted import ADD, RIGHT, WRONG, ScriptedEngine

from criticlab import config, ctrl, stages
from criticlab.ctrl import choice
from criticlab.ctrl import grpo as ctrl_grpo
from criticlab.io import write_jsonl
from criticlab.rollout.outcomes import ALWAYS_CORRECT
from criticlab.tools import critic_choice


class AlwaysCorrect(ScriptedEngine):
    """A critic that approves everything (scripted revisions otherwise)."""

    def generate(self, conversations, sampling, n=1):
        return [
            [
                type(row[0])(
                    text="Analysis:\nfine.\nImprovement suggestions:\nnone\nOverall judgment: Correct"
                )
                for _ in range(n)
            ]
            for row in super().generate(conversations, sampling, n=1)
        ]


@pytest.fixture
def profile(tmp_path, monkeypatch):
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    cfg = config.load_profile("smoke")
    cfg = dataclasses.replace(cfg, grpo=dataclasses.replace(cfg.grpo, heldout_prompts=3))
    rows = [
        {"problem": ADD.to_dict(), "response": f"```python\n{code}```", "passed": passed}
        for code, passed in ((RIGHT["add"], True), (WRONG["add"], False), (WRONG["add"], False))
    ]
    write_jsonl(cfg.paths.stage_dir(stages.SYNTHESIS) / stages.RL_HELDOUT, rows)
    engines = {"honest": ScriptedEngine(), "yes-man": AlwaysCorrect()}
    monkeypatch.setattr(choice, "engine_for", lambda cfg, role: ScriptedEngine())
    monkeypatch.setattr(ctrl_grpo, "policy_engine", lambda cfg, model: engines[model])
    return cfg


def test_candidates_beside_the_base_rate(profile, tmp_path) -> None:
    rows = ctrl.score_candidates(profile, ["honest", "yes-man"], critiques=2, log_dir=tmp_path / "logs")
    base, honest, yes_man = rows
    assert base["candidate"] == ALWAYS_CORRECT and base["accuracy"] == pytest.approx(1 / 3)
    assert honest["accuracy"] == 1.0 and honest["critiques"] == 6 and honest["unparsed"] == 0.0
    assert yes_man["accuracy"] == pytest.approx(base["accuracy"])  # approving everything is the base rate
    assert yes_man["accuracy_correct"] == 1.0 and yes_man["accuracy_incorrect"] == 0.0
    assert (
        math.isfinite(honest["reward"])
        and honest["accuracy_lo"] <= honest["accuracy"] <= honest["accuracy_hi"]
    )
    text = ctrl.choice_table(rows)
    assert f"| {ALWAYS_CORRECT} | 3 |" in text and "| honest | 3 | 6 | 32 | 1.000 [1.000, 1.000]" in text


def test_without_notebook_03_it_says_what_to_run(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="run notebook 03"):
        ctrl.score_candidates(config.load_profile("smoke"), ["x"], 1, tmp_path)


def test_sft_candidates_are_fine_tuned_once_then_scored(tmp_path, monkeypatch, capsys) -> None:
    """``NAME+sft`` trains every weight, ``NAME+sft-lora`` an adapter, on 03's critiques; kept ones are not retrained."""
    from criticlab import training
    from criticlab.io import read_json
    from criticlab.llm.models import TINY_RANDOM

    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path / "outputs"))
    cfg = config.load_profile("smoke")
    synthesis = cfg.paths.stage_dir(stages.SYNTHESIS)
    critique = "Analysis:\nwrong sign.\nImprovement suggestions:\nadd.\nOverall judgment: Incorrect"
    write_jsonl(
        synthesis / stages.SFT_ROWS,
        [
            {
                "prompt": [{"role": "user", "content": f"Critique {i}: return a - b"}],
                "completion": [{"role": "assistant", "content": critique}],
            }
            for i in range(2)
        ],
    )
    write_jsonl(
        synthesis / stages.RL_HELDOUT,
        [{"problem": ADD.to_dict(), "response": f"```python\n{WRONG['add']}```", "passed": False}],
    )
    seen = []
    monkeypatch.setattr(choice, "engine_for", lambda cfg, role: ScriptedEngine())
    monkeypatch.setattr(ctrl_grpo, "policy_engine", lambda cfg, model: seen.append(model) or ScriptedEngine())
    assert critic_choice.sft_spec("m+sft-lora") == ("m", True) and critic_choice.sft_spec("m+sft") == (
        "m",
        False,
    )
    assert critic_choice.sft_spec("m") is None and critic_choice.sft_spec("+sft") is None
    full, lora = f"{TINY_RANDOM}+sft", f"{TINY_RANDOM}+sft-lora"
    out = tmp_path / "choice"
    assert (
        critic_choice.main(
            [
                "--profile",
                "smoke",
                "--candidates",
                full,
                lora,
                "honest",
                "--critiques",
                "1",
                "--sft",
                "max_steps=1",
                "learning_rate=1e-3",
                "--heldout",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    trained = cfg.paths.checkpoints_dir / critic_choice.TRAINED_DIR
    assert (trained / full / stages.FINAL / "config.json").is_file()  # every weight
    assert (trained / lora / stages.FINAL / "adapter_config.json").is_file()  # an adapter
    assert seen == [str(trained / full / stages.FINAL), str(trained / lora / stages.FINAL), "honest"]
    saved = read_json(out / "scores.json")
    rows = {row["candidate"]: row for row in saved["rows"]}
    assert saved["sft"] == {"max_steps": 1, "learning_rate": 0.001} and saved["heldout_prompts"] == 1
    assert rows[full]["sft_seconds"] > 0 and "sft_seconds" not in rows["honest"]
    assert rows[lora]["checkpoint"] == f"checkpoints/{critic_choice.TRAINED_DIR}/{lora}/{stages.FINAL}"
    assert f"| {lora} | 1 | 1 | 32 |" in (out / "table.md").read_text()

    def no_training(*args, **kwargs):
        raise AssertionError("a fine-tuned candidate was trained again")

    monkeypatch.setattr(training, "train_sft", no_training)
    again = critic_choice.compare(cfg, [full], critiques=1)
    assert again[1]["sft_seconds"] == 0.0
    with pytest.raises(SystemExit):
        critic_choice.main(["--profile", "smoke", "--candidates", full, "--sft", "no_such_key=1"])
    assert "no_such_key" in capsys.readouterr().err


def test_each_candidate_can_be_sampled_with_its_own_grpo_section(profile, tmp_path) -> None:
    short, long = (dataclasses.replace(profile.grpo, max_completion_length=n) for n in (64, 256))
    rows = ctrl.score_candidates(profile, ["honest", "yes-man"], 1, tmp_path / "logs", grpo=[short, long])
    assert [row.get("max_tokens") for row in rows] == [None, 64, 256]
    default = ctrl.score_candidates(profile, ["honest"], 1, tmp_path / "logs")
    assert default[1]["max_tokens"] == profile.grpo.max_completion_length
    assert ctrl.outputs_name(profile, str(profile.paths.root / "checkpoints" / "x")) == "checkpoints/x"
    assert ctrl.outputs_name(profile, "smollm2-135m-instruct") == "smollm2-135m-instruct"
    with pytest.raises(ValueError, match="1 GRPO sections for 2 candidates"):
        ctrl.score_candidates(profile, ["honest", "yes-man"], 1, tmp_path / "logs", grpo=[short])

"""The critic-choice tool scores each candidate on the held-out prompts, beside always-Correct."""

from __future__ import annotations

import dataclasses
import math

import pytest
from scripted import ADD, RIGHT, WRONG, ScriptedEngine

from criticlab import config, stages
from criticlab.io import write_jsonl
from criticlab.tools import critic_choice


class AlwaysCorrect(ScriptedEngine):
    """A critic that approves everything (scripted revisions otherwise)."""

    def generate(self, conversations, sampling, n=1):
        return [[type(row[0])(text="Analysis:\nfine.\nImprovement suggestions:\nnone\nOverall judgment: Correct")
                 for _ in range(n)] for row in super().generate(conversations, sampling, n=1)]


@pytest.fixture
def profile(tmp_path, monkeypatch):
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    cfg = config.load_profile("smoke")
    cfg = dataclasses.replace(cfg, grpo=dataclasses.replace(cfg.grpo, heldout_prompts=3))
    rows = [{"problem": ADD.to_dict(), "response": f"```python\n{code}```", "passed": passed}
            for code, passed in ((RIGHT["add"], True), (WRONG["add"], False), (WRONG["add"], False))]
    write_jsonl(cfg.paths.stage_dir(stages.SYNTHESIS) / stages.RL_HELDOUT, rows)
    engines = {"honest": ScriptedEngine(), "yes-man": AlwaysCorrect()}
    monkeypatch.setattr(critic_choice, "engine_for", lambda cfg, role: ScriptedEngine())
    monkeypatch.setattr(critic_choice, "policy_engine", lambda cfg, model: engines[model])
    return cfg


def test_candidates_beside_the_base_rate(profile, tmp_path) -> None:
    rows = critic_choice.score_candidates(profile, ["honest", "yes-man"], critiques=2, log_dir=tmp_path / "logs")
    base, honest, yes_man = rows
    assert base["candidate"] == critic_choice.ALWAYS_CORRECT and base["accuracy"] == pytest.approx(1 / 3)
    assert honest["accuracy"] == 1.0 and honest["critiques"] == 6 and honest["unparsed"] == 0.0
    assert yes_man["accuracy"] == pytest.approx(base["accuracy"])  # approving everything is the base rate
    assert yes_man["accuracy_correct"] == 1.0 and yes_man["accuracy_incorrect"] == 0.0
    assert math.isfinite(honest["reward"]) and honest["accuracy_lo"] <= honest["accuracy"] <= honest["accuracy_hi"]
    text = critic_choice.table(rows)
    assert f"| {critic_choice.ALWAYS_CORRECT} | 3 |" in text and "| honest | 3 | 6 | 1.000 [1.000, 1.000]" in text


def test_without_notebook_03_it_says_what_to_run(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="run notebook 03"):
        critic_choice.score_candidates(config.load_profile("smoke"), ["x"], 1, tmp_path)

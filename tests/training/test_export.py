"""verl export: parquet layout and the custom reward function on the real sandbox."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from scripted import ADD, RIGHT, WRONG, ScriptedEngine, fenced

from criticlab import crl, ctrl
from criticlab.tools import verl_reward
from criticlab.training import verl as export


def rows() -> list[dict]:
    critique = ctrl.grpo_rows([{"problem": ADD.to_dict(), "response": fenced(WRONG["add"]), "passed": False}])
    judge = crl.crl_rows([(ADD, WRONG["add"], 0.0)])
    code = crl.code_rows([ADD])
    return critique + judge + code


def test_parquet_has_verls_columns(tmp_path) -> None:
    path = export.write_verl_parquet(rows(), tmp_path / "train.parquet")
    frame = pd.read_parquet(path)
    assert list(frame.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    assert list(frame["data_source"]) == ["criticlab/ctrl", "criticlab/crl", "criticlab/code"]
    assert frame["prompt"][0][0]["role"] == "user"
    truth = json.loads(frame["reward_model"][1]["ground_truth"])
    assert truth["task"] == "crl" and truth["label"] is False
    assert [e["index"] for e in frame["extra_info"]] == [0, 1, 2]


def test_compute_score_for_each_task(tmp_path, monkeypatch) -> None:
    frame = pd.read_parquet(export.write_verl_parquet(rows(), tmp_path / "t.parquet"))
    truth = [r["ground_truth"] for r in frame["reward_model"]]
    verl_reward.set_generator(ScriptedEngine())
    try:
        assert verl_reward.compute_score("criticlab/ctrl", "Overall judgment: Incorrect", truth[0]) == 1.0
        # a critique without a judgment is revised too: the scripted generator then fixes the code
        assert verl_reward.compute_score("criticlab/ctrl", "no judgment here", truth[0]) == 1.0
        assert verl_reward.compute_score("criticlab/crl", "\\conclusion{F}", truth[1]) == 1.0
        assert verl_reward.compute_score("criticlab/code", fenced(RIGHT["add"]), truth[2]) == 1.0
    finally:
        verl_reward.set_generator(None)
    monkeypatch.delenv("CRITICLAB_GENERATOR_URL", raising=False)
    with pytest.raises(verl_reward.RewardUnavailable, match="CRITICLAB_GENERATOR_URL"):
        verl_reward.compute_score("criticlab/ctrl", "Overall judgment: Correct", truth[0])


def test_compute_score_takes_the_keywords_verl_adds(tmp_path) -> None:
    """verl passes more keywords than the four it documents: the entries of
    custom_reward_function.reward_kwargs, and with a reward model its router and tokenizer."""
    truth = pd.read_parquet(export.write_verl_parquet(rows(), tmp_path / "t.parquet"))["reward_model"][1]
    score = verl_reward.compute_score(
        data_source="criticlab/crl",
        solution_str="\\conclusion{F}",
        ground_truth=truth["ground_truth"],
        extra_info={"index": 1},
        reward_router_address=None,
        reward_model_tokenizer=None,
        format_penalty=0.5,
    )
    assert score == 1.0


def test_unknown_task_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown task"):
        export.verl_row({"task": "chat", "problem": "{}", "prompt": []}, 0)

"""The hand-labelled strategy validation set: loading it, and the rules' scores on it."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from criticlab import analysis
from criticlab.analysis.strategy_validation import CRITIQUES_FILE, LABELS_FILE
from criticlab.data import shipped
from criticlab.llm.base import Completion, SamplingParams

PROJECT = Path(__file__).resolve().parents[2]
RESULTS = PROJECT / "docs" / "results" / "strategies" / "scores.csv"


class FakeJudge:
    """An Engine that answers from a script."""

    backend, model_id = "fake", "judge"

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers

    def generate(self, conversations: list, sampling: SamplingParams, n: int = 1) -> list[list[Completion]]:
        return [[Completion(text=a)] for a in self.answers[: len(conversations)]]


def write_set(directory: Path, critiques: dict[str, str], labels: dict[str, str]) -> Path:
    rows = [
        {
            "id": i,
            "critic": "m",
            "problem_id": "p",
            "solution_passed": True,
            "judgment": None,
            "critique": text,
        }
        for i, text in critiques.items()
    ]
    (directory / CRITIQUES_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines = ["id,labels,note"] + [f"{i},{value}," for i, value in labels.items()]
    (directory / LABELS_FILE).write_text("\n".join(lines) + "\n")
    return directory


def test_load_and_score_a_small_set(tmp_path: Path) -> None:
    critiques = {
        "a": "For the input [1, 2] the function returns 3, as expected. The loop is never wrong.",
        "b": "Looks good.",
        "c": "There is an off-by-one error in the loop bound.",
    }
    labels = {"a": "dynamic_testing;static_analysis", "b": "other", "c": "static_analysis"}
    items = analysis.load_validation_set(write_set(tmp_path, critiques, labels))
    assert [i.labels for i in items] == [
        (analysis.STATIC, analysis.TESTING),
        (analysis.OTHER,),
        (analysis.STATIC,),
    ]
    judge = FakeJudge(["Strategies: dynamic_testing", "Strategies: other", "Strategies: static_analysis"])
    scores = analysis.validation_scores(
        items, {"llm": analysis.label_strategies_with_llm(items_text(items), judge)}
    )
    llm = scores[scores["mode"] == "llm"].set_index("label")
    # the judge missed static analysis on "a": static TP 1, FN 1; testing TP 1; other TP 1
    assert llm.loc[analysis.STATIC, ["tp", "fp", "fn"]].tolist() == [1, 0, 1]
    assert llm.loc["micro", "recall"] == pytest.approx(3 / 4) and llm.loc["micro", "precision"] == 1.0
    assert set(scores["mode"]) == {"rules", "llm"}


def items_text(items: list[analysis.LabelledCritique]) -> list[str]:
    return [i.critique for i in items]


def test_bad_labels_name_the_file_line_and_id(tmp_path: Path) -> None:
    write_set(tmp_path, {"a": "x"}, {"a": "static_analysis;guessing"})
    with pytest.raises(ValueError, match=r"labels\.csv:2: id 'a'.*guessing"):
        analysis.load_validation_set(tmp_path)
    write_set(tmp_path, {"a": "x", "b": "y"}, {"a": "other"})
    with pytest.raises(ValueError, match=r"unlabelled \['b'\]"):
        analysis.load_validation_set(tmp_path)


def test_the_committed_set_is_real_sized_and_the_rules_scores_match_the_results_file() -> None:
    items = analysis.load_validation_set(analysis.shipped_validation_set())
    assert len(items) >= 40
    assert any(i.critic.startswith("qwen2.5-coder-0.5b") for i in items)
    assert any(i.critic.startswith("smollm2-135m") for i in items)
    assert {i.solution_passed for i in items} == {True, False}
    rules = analysis.validation_scores(items)
    committed = pd.read_csv(RESULTS)
    committed = committed[committed["mode"] == "rules"].reset_index(drop=True)
    assert rules["label"].tolist() == committed["label"].tolist()
    for column in ("tp", "fp", "fn", "support"):
        assert rules[column].tolist() == committed[column].tolist(), column
    for column in ("precision", "recall", "f1"):
        for got, want in zip(rules[column], committed[column]):
            assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, abs=5e-5), column


def test_the_shipped_set_is_checksummed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "shipped"
    shutil.copytree(shipped.HERE, copy)
    with (copy / shipped.STRATEGY_LABELS).open("a") as handle:
        handle.write("extra,other,\n")
    monkeypatch.setattr(shipped, "HERE", copy)
    with pytest.raises(shipped.ShippedDataError, match=r"labels\.csv: SHA-256 .* does not match"):
        analysis.shipped_validation_set()

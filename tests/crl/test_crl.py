"""CRL rows, labels from execution, and the mixer."""

from __future__ import annotations

import pytest
from scripted import ADD, ECHO

from criticlab import crl


def test_labels_use_the_threshold() -> None:
    rows = crl.crl_rows([(ADD, "a", 1.0), (ADD, "b", 0.8), (ECHO, "c", 0.81), (ECHO, "d", 0.0)])
    assert [r["label"] for r in rows] == [True, False, True, False]
    assert all(r["task"] == "crl" and "\\conclusion{T}" in r["prompt"][0]["content"] for r in rows)


def test_mix_substitutes_the_share_and_keeps_the_size() -> None:
    code = crl.code_rows([ADD] * 10)
    judge = crl.crl_rows([(ADD, str(i), 1.0) for i in range(5)])
    for ratio, expected in ((0.0, 0), (0.2, 2), (0.5, 5)):
        rows = crl.mix(code, judge, ratio, seed=1)
        assert len(rows) == 10 and sum(r["task"] == "crl" for r in rows) == expected
    assert crl.mix(code, judge, 0.2, seed=1) == crl.mix(code, judge, 0.2, seed=1)
    with pytest.raises(ValueError, match="needs 10 CRL rows, only 5 exist"):
        crl.mix(code, judge, 1.0)
    with pytest.raises(ValueError, match="within"):
        crl.mix(code, judge, 1.5)


def test_label_balance() -> None:
    rows = crl.crl_rows([(ADD, "a", 1.0), (ADD, "b", 0.0), (ADD, "c", 0.0)])
    assert crl.label_balance(rows) == {"crl_true": 1, "crl_false": 2}


def test_format_warmup_answers_are_balanced_and_independent_of_the_labels() -> None:
    from criticlab.rollout.prompts import parse_conclusion

    pool = crl.crl_rows([(ADD, str(i), 1.0) for i in range(9)])  # every label True
    rows = crl.format_warmup_rows(pool + crl.code_rows([ADD]), seed=3)
    assert len(rows) == 9  # code rows have nothing to warm up
    answers = [parse_conclusion(r["completion"][0]["content"]) for r in rows]
    assert answers.count("T") == 5 and answers.count("F") == 4
    assert [r["prompt"] for r in rows] == [r["prompt"] for r in pool]
    assert crl.format_warmup_rows(pool, seed=3) == crl.format_warmup_rows(pool, seed=3)
    assert crl.format_warmup_rows(pool, seed=3) != crl.format_warmup_rows(pool, seed=4)


def test_summarize_run_separates_a_rise_from_the_base_rate() -> None:
    def record(step: int, label: bool, conclusion: str | None) -> dict:
        right = conclusion == ("T" if label else "F")
        return {
            "task": "crl",
            "problem_id": "p",
            "reward": float(right),
            "conclusion": conclusion,
            "label": label,
            "step": step,
        }

    # 4 steps × 4 conclusions, 3 of 4 labels True; the policy drifts from F to always-T
    records = []
    for step, conclusions in enumerate(
        [["F", "F", "F", None], ["F", "T", "F", "F"], ["T", "T", "F", "T"], ["T", "T", "T", "T"]]
    ):
        records += [record(step, label, v) for label, v in zip([True, True, True, False], conclusions)]
    records.append({"task": "code", "problem_id": "q", "reward": 0.5, "step": 0})
    summary = crl.summarize_run(records)
    assert summary["code_reward"] == 0.5
    assert summary["crl_samples"] == 16
    assert summary["crl_accuracy_first_quarter"] == 0.0  # one step per quarter; the None counts as wrong
    assert summary["crl_accuracy_last_quarter"] == 0.75
    assert summary["crl_always_T_accuracy"] == 0.75
    assert summary["crl_accuracy_on_correct"] == 6 / 12 and summary["crl_accuracy_on_incorrect"] == 1 / 4
    assert summary["crl_no_conclusion"] == 1 / 16


def test_sampled_conclusions_are_scored_against_the_labels() -> None:
    from criticlab.llm.base import Completion, SamplingParams

    class Policy:
        """Says T for the add problem (whatever the code), F otherwise, and nothing for 'ramble'."""

        def generate(self, conversations, sampling, n=1):
            def answer(text: str) -> str:
                if "ramble" in text:
                    return "Let me think about it"
                return "ok \\conclusion{F} no, \\conclusion{T}" if "def add" in text else "\\conclusion{F}"

            return [[Completion(text=answer(c[0]["content"]))] * n for c in conversations]

    rows = crl.crl_rows(
        [
            (ADD, "def add(a, b):\n    return a - b\n", 0.0),
            (ADD, "right", 1.0),
            (ECHO, "print(1)", 0.0),
            (ECHO, "# ramble", 1.0),
        ]
    )
    records = crl.sample_conclusions(Policy(), rows + crl.code_rows([ADD]), SamplingParams(), n=3)
    assert len(records) == 12 and [r.problem_id for r in records[::3]] == ["add", "add", "echo", "echo"]
    assert [r.conclusion for r in records[::3]] == ["T", "T", "F", None]  # the last conclusion wins
    stats = crl.conclusion_stats(records)
    assert stats["crl_accuracy"] == 6 / 12 and stats["crl_no_conclusion"] == 3 / 12
    assert stats["crl_accuracy_on_correct"] == 3 / 6 and stats["crl_accuracy_on_incorrect"] == 3 / 6


def test_the_probe_reads_by_the_chosen_rule_and_06_counts_where_the_rules_part() -> None:
    from criticlab.llm.base import Completion, SamplingParams
    from criticlab.stages import CRLRatioRun, TrainingRun

    class Policy:
        """Concludes in words Critique-Coder's rule reads ('T' in the match) and the workbook's does not."""

        def generate(self, conversations, sampling, n=1):
            return [[Completion(text="It is right. \\conclusion{True}")] * n for _ in conversations]

    rows = crl.crl_rows([(ADD, "right", 1.0), (ECHO, "print(1)", 0.0)])
    workbook = crl.sample_conclusions(Policy(), rows, SamplingParams(), n=2)
    reference = crl.sample_conclusions(Policy(), rows, SamplingParams(), n=2, parser="reference")
    assert [r.conclusion for r in workbook] == [None] * 4 and [r.conclusion for r in reference] == ["T"] * 4
    before = crl.conclusion_stats(reference)
    assert before["crl_accuracy"] == 0.5 and before["crl_parser_disagreements"] == 4
    run = CRLRatioRun(
        ratio=0.2,
        run=TrainingRun(trained=True),
        summary={"crl_parser_disagreements": 3},
        after={"crl_parser_disagreements": 1},
    )
    assert crl.parser_disagreements(before, [run]) == 8

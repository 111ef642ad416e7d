"""Critique-Coder's comparison: held-out split, run sizes, code Pass@k, judge intervals, the table."""

from __future__ import annotations

import math

import pytest
from scripted import ADD, ECHO, ScriptedEngine

from criticlab import crl, evaluation, stats
from criticlab.data.types import Problem
from criticlab.llm.base import SamplingParams
from criticlab.rewards.base import RewardRecord
from criticlab.stages import CRLRatioRun, TrainingRun


def problem(pid: str) -> Problem:
    return Problem(id=pid, source="t", question=f"q {pid}", kind="stdio")


def candidates(n_problems: int, per_problem: int) -> list[tuple[Problem, str, float]]:
    return [
        (problem(f"p{i}"), f"code {i}.{j}", float(j % 2))
        for i in range(n_problems)
        for j in range(per_problem)
    ]


def test_heldout_split_is_by_problem_disjoint_seeded_and_complete() -> None:
    rows = crl.crl_rows(candidates(10, 3)) + crl.code_rows([problem("c")])
    train, held = crl.split_heldout(rows, 0.3, seed=7)
    train_ids = {crl.row_problem_id(r) for r in train}
    held_ids = {crl.row_problem_id(r) for r in held}
    assert not train_ids & held_ids  # never judged on a problem it trained on
    assert len(held_ids) == 3 and len(train_ids) == 7  # round(0.3 × 10) problems held out
    assert (
        len(held) == 9 and len(train) == 21
    )  # all three candidates of a problem go together; code rows dropped
    assert crl.split_heldout(rows, 0.3, seed=7) == (train, held)
    assert {
        crl.row_problem_id(r) for r in crl.split_heldout(rows, 0.3, seed=8)[1]
    } != held_ids  # the seed matters
    assert crl.split_heldout(rows, 0.0, seed=7) == (crl.crl_rows(candidates(10, 3)), [])


def test_heldout_split_keeps_both_sides_on_few_problems() -> None:
    rows = crl.crl_rows(candidates(2, 1))
    train, held = crl.split_heldout(rows, 0.1, seed=0)  # round(0.2) = 0, but a held-out side must exist
    assert len(train) == 1 and len(held) == 1
    train, held = crl.split_heldout(rows, 0.9, seed=0)  # round(1.8) = 2 would leave nothing to train on
    assert len(train) == 1 and len(held) == 1
    with pytest.raises(ValueError, match="crl.heldout_fraction"):
        crl.split_heldout(rows, 1.0)


def test_run_size_keeps_the_ratio_with_few_crl_rows() -> None:
    assert crl.run_size(82, 12, 1.0, 16) == 12  # pure CRL: as many rows as there are CRL rows
    assert crl.run_size(82, 12, 0.0, 16) == 16  # RL only: the step budget
    assert crl.run_size(82, 3, 0.2, 16) == 15  # round(0.2 × 15) = 3 CRL rows
    assert crl.run_size(4, 2, 0.5, 2) == 2
    assert crl.run_size(82, 3, 0.3, 40) == 10  # 3 / 0.3 is 9.999…8 in floats
    code = crl.code_rows([ADD] * 82)
    judge = crl.crl_rows([(ADD, str(i), 1.0) for i in range(3)])
    rows = crl.mix(code[: crl.run_size(82, 3, 0.2, 16)], judge, 0.2)
    assert len(rows) == 15 and sum(r["task"] == "crl" for r in rows) == 3


def outcome(pid: str, source: str, correct: bool, infra: bool = False) -> dict:
    return {
        "problem_id": pid,
        "source": source,
        "sample": 0,
        "verdict": "x",
        "correct": correct,
        "infra_error": infra,
    }


def test_code_scores_are_unbiased_pass_at_k_per_benchmark_and_pooled() -> None:
    outcomes = [outcome("p1", "a", c) for c in (True, False, False)] + [outcome("p2", "a", False)] * 3
    outcomes += [outcome("p3", "b", c) for c in (True, True, False)] + [outcome("p3", "b", True, infra=True)]
    scores = {(r["source"], r["k"]): r for r in crl.code_scores(outcomes, max_k=2)}
    assert scores["a", 1]["pass@k"] == pytest.approx((1 / 3 + 0) / 2)
    assert scores["a", 2]["pass@k"] == pytest.approx((2 / 3 + 0) / 2)  # p1: 1 − C(2,2)/C(3,2)
    assert scores["b", 1]["pass@k"] == pytest.approx(2 / 3) and scores["b", 2]["pass@k"] == 1.0
    assert scores["pooled", 1]["pass@k"] == pytest.approx(1 / 3) and scores["pooled", 2][
        "pass@k"
    ] == pytest.approx(5 / 9)
    assert scores["b", 1]["excluded"] == 1 and scores["pooled", 1]["problems"] == 3
    assert (
        scores["a", 1]["reward"] == 1 / 6 and scores["pooled", 2]["reward"] == 3 / 9
    )  # no pass_rate: 0 or 1
    partial = crl.code_scores(
        [{**outcome("p1", "a", False), "pass_rate": 0.5}, outcome("p2", "a", True)], max_k=1
    )
    assert (
        partial[0]["reward"] == 0.75 and partial[0]["pass@k"] == 0.5
    )  # the reward counts partly passing code
    one = crl.code_scores([outcome("p1", "a", True)], max_k=2)  # one benchmark: no pooled row
    assert [(r["source"], r["k"], r["problems"]) for r in one] == [("a", 1, 1), ("a", 2, 0)]
    assert math.isnan(one[1]["pass@k"])  # one sample has no unbiased pass@2


def test_pass_at_k_lives_in_stats_and_evaluation_reexports_it() -> None:
    assert evaluation.pass_at_k is stats.pass_at_k
    assert stats.pass_at_k(3, 1, 2) == pytest.approx(2 / 3) and stats.pass_at_k(5, 0, 3) == 0.0


def test_sample_code_executes_each_sample(executor) -> None:
    outcomes = crl.sample_code(ScriptedEngine(), [ADD, ECHO], executor, SamplingParams(), n=2)
    assert [(o["problem_id"], o["sample"]) for o in outcomes] == [
        ("add", 0),
        ("add", 1),
        ("echo", 0),
        ("echo", 1),
    ]
    assert not any(o["correct"] or o["infra_error"] for o in outcomes)  # the scripted first answers are wrong
    assert {o["verdict"] for o in outcomes} == {"WrongAnswer"}


def judged(pairs: list[tuple[bool, str | None]]) -> list[RewardRecord]:
    return [
        RewardRecord("crl", "p", float(c == ("T" if y else "F")), conclusion=c, label=y) for y, c in pairs
    ]


def test_conclusion_stats_carry_wilson_bounds_per_label() -> None:
    s = crl.conclusion_stats(judged([(True, "T"), (True, "T"), (True, "F"), (False, "T"), (False, None)]))
    assert s["crl_accuracy"] == 2 / 5 and (
        s["crl_accuracy_lo"],
        s["crl_accuracy_hi"],
    ) == stats.wilson_interval(2, 5)
    assert s["crl_accuracy_on_correct"] == 2 / 3 and s["crl_samples_T"] == 3
    assert (s["crl_accuracy_on_incorrect_lo"], s["crl_accuracy_on_incorrect_hi"]) == stats.wilson_interval(
        0, 2
    )
    assert s["crl_always_T_accuracy"] == 3 / 5 and s["crl_no_conclusion"] == 1 / 5


def run(ratio: float, seed: int | None, pass1: float, acc: float) -> CRLRatioRun:
    code = [{"source": "humaneval", "k": 1, "pass@k": pass1, "reward": pass1, "problems": 2, "excluded": 0}]
    return CRLRatioRun(
        ratio,
        TrainingRun(True, 2),
        {},
        after={"crl_accuracy": acc, "crl_accuracy_lo": 0.1, "crl_accuracy_hi": 0.9, "crl_samples": 4},
        seed=seed,
        code=code,
    )


def test_comparison_table_puts_ratios_side_by_side_with_mean_and_sd_over_seeds() -> None:
    start = [{"source": "humaneval", "k": 1, "pass@k": 0.1, "problems": 2, "excluded": 0}]
    table = crl.comparison_table(
        start,
        {"crl_accuracy": 0.25},
        [
            run(0.0, 0, 0.5, 0.5),
            run(0.2, 0, 0.2, 0.5),
            run(0.2, 1, 0.4, 1.0),
        ],
    )
    assert list(table["policy"]) == ["start", "ratio 0", "ratio 0.2", "ratio 0.2", "ratio 0.2", "ratio 0.2"]
    assert list(table["seed"]) == ["-", "0", "0", "1", "mean", "sd"]  # one seed of ratio 0: no spread rows
    mean, sd = table.iloc[4], table.iloc[5]
    assert mean["humaneval pass@1"] == pytest.approx(0.3) and sd["humaneval pass@1"] == pytest.approx(
        math.sqrt(0.02)
    )
    assert mean["humaneval reward"] == pytest.approx(0.3) and math.isnan(table.iloc[0]["humaneval reward"])
    assert mean["judge acc"] == pytest.approx(0.75) and sd["judge acc"] == pytest.approx(math.sqrt(0.125))
    assert math.isnan(mean["judge acc lo"]) and math.isnan(mean["judged"])  # no mean of interval bounds
    assert table.iloc[0]["judge acc"] == 0.25 and table.iloc[2]["judge acc hi"] == 0.9
    assert list(crl.comparison_table(start, {}, [run(0.2, None, 0.2, 0.5)])["seed"]) == ["-", "-"]

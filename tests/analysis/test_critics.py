"""Per-critic compounding error: each critic's own rates, intervals, simulation and observed chain."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from criticlab import analysis, stages, stats
from criticlab.analysis.compounding import CriticModel
from criticlab.rollout.trajectory import Round, Trajectory
from criticlab.sandbox.types import ExecResult, Verdict

OK = ExecResult(Verdict.ACCEPTED, 1, 1)
BAD = ExecResult(Verdict.WRONG_ANSWER, 0, 1)
INFRA = ExecResult.sandbox_error("sandbox died", problem_id="p9", total=1)


def revised(
    problem: str,
    sample: int,
    method: str,
    before: bool,
    after: bool,
    judgment: str | None,
    stop: bool = False,
) -> Trajectory:
    """A one-revision trajectory whose round-0 solution was critiqued with ``judgment``."""
    first = Round("", "x = 0", OK if before else BAD, critique="...", judgment=judgment)
    if stop:
        return Trajectory(problem, sample, method, [first], stopped="critic_correct")
    return Trajectory(problem, sample, method, [first, Round("", "x = 1", OK if after else BAD)])


def four_samples(method: str = "self_critique") -> list[Trajectory]:
    # two problems × two samples: c→c judged correct, c→i judged incorrect,
    # i→c judged incorrect, i→i with an unparseable judgment
    return [
        revised("p0", 0, method, True, True, "correct"),
        revised("p0", 1, method, True, False, "incorrect"),
        revised("p1", 0, method, False, True, "incorrect"),
        revised("p1", 1, method, False, False, None),
    ]


# Wilson 95% by hand (z = 1.959964): for 1/2, centre = (0.5 + z²/4)/(1 + z²/2) = 0.5 and
# half = z·sqrt(0.25/2 + z²/16)/(1 + z²/2) = 1.959964 · 0.604227 / 2.920729 = 0.405469;
# for 2/2, lo = (1 + z²/4 − z·sqrt(z²/16))/(1 + z²/2) = (1 + 0.960365 − 0.960365)/2.920729 = 0.342380.
HALF = (0.5 - 0.405469, 0.5 + 0.405469)
TWO_OF_FOUR = stats.wilson_interval(2, 4)


def test_rates_and_wilson_intervals_hand_computed() -> None:
    trajectories = four_samples()
    trajectories.append(Trajectory("p9", 0, "self_critique", [Round("", "x", INFRA)]))  # left out
    trajectories.append(Trajectory("p0", 0, "zero_shot", [Round("", "x", OK)]))  # not a critic
    table = analysis.critic_rate_table(analysis.critic_counts(trajectories)).set_index("rate")
    assert set(table["critic"]) == {"self_critique"}
    expected = {  # rate: (successes, n)
        "p_init": (2, 4),
        "p_cc": (1, 2),
        "p_wc": (1, 2),
        "tpr": (1, 2),  # of the two passing solutions, one judged Correct
        "tnr": (2, 2),  # "incorrect" and the unparseable one both revise
    }
    for rate, (s, n) in expected.items():
        row = table.loc[rate]
        assert (row["successes"], row["n"], row["status"]) == (s, n, "estimated"), rate
        assert row["value"] == pytest.approx(s / n)
    for rate in ("p_cc", "p_wc", "tpr"):
        assert (table.loc[rate, "lo"], table.loc[rate, "hi"]) == pytest.approx(HALF, abs=1e-5)
    assert (table.loc["tnr", "lo"], table.loc["tnr", "hi"]) == pytest.approx((0.342380, 1.0), abs=1e-5)
    assert (table.loc["p_init", "lo"], table.loc["p_init", "hi"]) == pytest.approx(TWO_OF_FOUR)


def test_each_critic_is_simulated_from_its_own_rates_with_its_observed_chain() -> None:
    stop = [
        revised("p0", 0, "self_critique+stop", True, True, "correct", stop=True),
        revised("p0", 1, "self_critique+stop", True, False, "incorrect"),
        revised("p1", 0, "self_critique+stop", False, False, "incorrect"),
        revised("p1", 1, "self_critique+stop", False, False, "incorrect"),
    ]
    # a second critic that never fixes anything and breaks every correct solution
    other = [
        revised(f"q{i}", 0, "critic:x", i < 2, False, "incorrect" if i < 2 else "correct") for i in range(4)
    ]
    result = analysis.compounding_by_critic(four_samples() + stop + other, attempts=3, resamples=200)
    assert result.skipped == {}
    curves = result.curves.set_index(["critic", "loop", "attempt"]).sort_index()
    # self_critique, revising: p* = 0.5 / (1 − 0.5 + 0.5) = 0.5 from p_init 0.5: flat at 0.5
    revise = curves.loc[("self_critique", analysis.REVISE)]
    assert revise["simulated"].tolist() == pytest.approx([0.5] * 4)
    assert revise["limit"].iloc[0] == pytest.approx(0.5)
    # stopping at Correct (tpr 1/2, tnr 1): attempt 1 keeps 0.25, revises 0.25 correct and 0.5
    # incorrect into 0.125 + 0.25 correct → 0.625; attempt 2: 0.4375 kept + 0.28125 → 0.71875
    stopping = curves.loc[("self_critique", analysis.STOP)]
    assert stopping["simulated"].tolist()[:3] == pytest.approx([0.5, 0.625, 0.71875])
    # its observed chain is the +stop method's: round 0 2/4, round 1 (stopped sample kept) 1/4
    assert stopping["observed"].tolist()[:2] == pytest.approx([0.5, 0.25])
    assert stopping["observed method"].iloc[0] == "self_critique+stop"
    assert math.isnan(stopping["observed"].iloc[2])
    assert revise["observed"].tolist()[:2] == pytest.approx([0.5, 0.5])
    # the other critic: p_cc 0, p_wc 0 → its own chain drops to 0 after one revision
    assert curves.loc[("critic:x", analysis.REVISE)]["simulated"].tolist() == pytest.approx([0.5, 0, 0, 0])
    assert (result.curves["lo"] <= result.curves["hi"] + 1e-12).all()
    # with two problems only resamples drawing both estimate every rate (p0 alone has no incorrect
    # solution, p1 alone no correct one): about half of them, and each gives the point estimate
    assert 60 < stopping["resamples"].iloc[0] < 140
    assert stopping["lo"].iloc[1] == stopping["hi"].iloc[1] == pytest.approx(0.625)


def test_a_critic_with_no_incorrect_solutions_is_not_estimable_and_not_simulated() -> None:
    all_correct = [revised(f"p{i}", 0, "critic:perfect_world", True, True, "correct") for i in range(3)]
    result = analysis.compounding_by_critic(all_correct + four_samples(), attempts=2, resamples=50)
    rows = result.rates[result.rates["critic"] == "critic:perfect_world"].set_index("rate")
    assert rows.loc["p_wc", "status"] == "not estimable: 0 incorrect solutions at round 0"
    assert rows.loc["tnr", "status"] == "not estimable: 0 critiqued solutions that fail"
    assert math.isnan(rows.loc["p_wc", "value"]) and rows.loc["p_wc", "n"] == 0
    assert rows.loc["p_cc", "status"] == "estimated" and rows.loc["p_cc", "value"] == 1.0
    assert result.skipped == {
        "critic:perfect_world · revise every round": "p_wc not estimable: 0 incorrect solutions at round 0",
        "critic:perfect_world · stop at Correct": (
            "p_wc not estimable: 0 incorrect solutions at round 0; "
            "tnr not estimable: 0 critiqued solutions that fail"
        ),
    }
    assert "critic:perfect_world" not in set(result.curves["critic"])
    assert set(result.curves["critic"]) == {"self_critique"}


def test_not_estimable_messages_name_the_rounds() -> None:
    counts = analysis.CriticCounts("c", 3, np.array([0]), np.zeros((1, 5), int), np.zeros((1, 5), int))
    assert counts.status("p_cc") == "not estimable: 0 correct solutions at rounds 0–2"
    assert counts.status("p_init") == "not estimable: no scored samples"
    assert analysis.CriticCounts("c", 0, *([np.zeros((1, 5), int)] * 3)).status("p_wc") == (
        "not estimable: no revision rounds"
    )


def test_vectorised_loop_matches_the_exact_curve() -> None:
    critic = CriticModel("c", 0.7, 0.6)
    exact = analysis.critic_loop_curve(0.3, 0.8, 0.2, critic, 6)["pass@1"].to_numpy()
    many = analysis.loop_pass_curves(np.array([0.3, 0.3]), 0.8, 0.2, 0.7, 0.6, 6)
    assert many.shape == (2, 7) and many[1] == pytest.approx(exact)


def test_bootstrap_ratio_replicates() -> None:
    # one problem: every resample is that problem, so every replicate is its ratio; 0/0 is NaN
    reps = stats.bootstrap_ratio_replicates(np.array([[3.0, 0.0]]), np.array([[4.0, 0.0]]), resamples=5)
    assert reps.shape == (5, 2) and (reps[:, 0] == 0.75).all() and np.isnan(reps[:, 1]).all()
    assert stats.bootstrap_ratio_replicates(np.zeros((0, 2)), np.zeros((0, 2))).shape == (0, 2)
    lo, hi = stats.bootstrap_ratio(np.array([1.0, 0.0, 1.0]), np.ones(3), resamples=500, seed=1)
    assert 0.0 <= lo[0] <= 2 / 3 <= hi[0] <= 1.0


def test_the_analysis_record_keeps_the_tables_as_rows() -> None:
    curves = pd.DataFrame(
        {"critic": ["a", "a", "b"], "loop": ["revise", "revise", "stop"], "attempt": [0, 1, 0]}
    )
    compounding = analysis.Compounding(
        rates=pd.DataFrame({"critic": ["a"], "rate": ["p_cc"], "value": [0.9]}),
        curves=curves,
        skipped={"c · stop": "tnr"},
    )
    similarity = pd.DataFrame({"method": ["a", "a", "b"], "similarity": [0.5, 1.0, 0.25]})
    record = analysis.analysis_metrics(
        trajectories=3,
        methods=("a", "b"),
        rates=pd.DataFrame({"method": ["a"], "c→i rate": [0.1]}),
        compounding=compounding,
        distribution=pd.DataFrame(),
        agreement=analysis.Agreement(4, 75.0, 0.5),
        validation=pd.DataFrame(),
        validation_n=0,
        similarity=similarity,
    )
    assert isinstance(record, stages.AnalysisMetrics)
    assert record.simulated == ["a · revise", "b · stop"] and record.not_simulated == {"c · stop": "tnr"}
    assert record.similarity_mean == {"a": 0.75, "b": 0.25} and record.strategies == []
    assert record.strategy_agreement == {"n": 4, "percent": 75.0, "kappa": 0.5}
    assert record.transition_rates == [{"method": "a", "c→i rate": 0.1}]
    empty = analysis.Compounding(rates=pd.DataFrame(), curves=pd.DataFrame(), skipped={})
    assert analysis.simulated_loops(empty) == []

"""Evaluation metrics against hand-computed cases."""

from __future__ import annotations

import math
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from criticlab import evaluation, stats
from criticlab.evaluation.metrics import PairJudgments
from criticlab.rollout import outcomes
from criticlab.rollout.trajectory import Round, Trajectory
from criticlab.sandbox.types import ExecResult, Verdict
from criticlab.viz import tables

OK = ExecResult(Verdict.ACCEPTED, 1, 1)
BAD = ExecResult(Verdict.WRONG_ANSWER, 0, 1)
INFRA = ExecResult.sandbox_error("worker crashed", total=1)


def rnd(correct: bool | None, judgment: str | None = None, critique: str | None = None) -> Round:
    """A round that passes (True), fails (False) or hit an infrastructure error (None)."""
    result = INFRA if correct is None else OK if correct else BAD
    if judgment is not None and critique is None:
        critique = f"Analysis: ...\nOverall judgment: {judgment.capitalize()}"
    return Round(
        response="```python\npass\n```", code="pass", result=result, critique=critique, judgment=judgment
    )


def traj(
    pattern: str, problem: str = "p0", sample: int = 0, method: str = "m", stopped: str = ""
) -> Trajectory:
    """A trajectory from a string of rounds: 'c' correct, 'w' wrong, 'x' infrastructure error."""
    rounds = [rnd({"c": True, "w": False, "x": None}[ch]) for ch in pattern]
    return Trajectory(problem_id=problem, sample=sample, method=method, rounds=rounds, stopped=stopped)


# -- pass@k ------------------------------------------------------------------------------------


def test_pass_at_k_matches_the_combinatorial_definition() -> None:
    for n in range(1, 8):
        for c in range(n + 1):
            for k in range(1, n + 1):
                draws = list(combinations([1] * c + [0] * (n - c), k))
                expected = sum(any(d) for d in draws) / len(draws)
                assert evaluation.pass_at_k(n, c, k) == pytest.approx(expected)
    assert evaluation.pass_at_k(10, 3, 1) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        evaluation.pass_at_k(3, 1, 4)


def test_pass_at_k_table_is_the_mean_over_problems() -> None:
    ts = [traj("w", "a", 0), traj("c", "a", 1), traj("c", "b", 0), traj("c", "b", 1)]
    table = evaluation.pass_at_k_table(ts, ks=(1, 2))
    assert table.loc[table.k == 1, "pass@k"].item() == pytest.approx((0.5 + 1.0) / 2)
    assert table.loc[table.k == 2, "pass@k"].item() == pytest.approx(1.0)


# -- per-round table and the Δ identity ----------------------------------------------------------


def small_run() -> list[Trajectory]:
    """Hand-computed: 5 scored samples, 1 infra error, one stopped early.

    round 0: c c w w w        -> Pass@1(0) = 2/5
    round 1: c w c w c        -> Δ↑ = 2/5 (w→c twice), Δ↓ = 1/5, Pass@1 = 3/5
    round 2: c w c c c        -> sample 0 stopped at round 0 and keeps it (c); Δ↑ = 3/5, Δ↓ = 1/5
    """
    return [
        traj("c", "p0", 0, stopped="critic_correct"),
        traj("cww", "p0", 1),
        traj("wcc", "p1", 0),
        traj("wwc", "p1", 1),
        traj("wcc", "p2", 0),
        traj("wxc", "p2", 1),  # infrastructure error in round 1: excluded from everything
    ]


def test_round_table_hand_computed() -> None:
    table = evaluation.round_table(small_run(), resamples=0)
    assert list(table.columns[:6]) == ["method", "round", "pass@1", "Δ↑", "Δ↓", "n"]
    assert table["pass@1"].tolist() == pytest.approx([2 / 5, 3 / 5, 4 / 5])
    assert table["Δ↑"].tolist() == pytest.approx([0, 2 / 5, 3 / 5])
    assert table["Δ↓"].tolist() == pytest.approx([0, 1 / 5, 1 / 5])
    assert set(table["n"]) == {5} and set(table["excluded"]) == {1} and set(table["problems"]) == {3}
    assert table["pass@1 lo"].isna().all()  # no resamples, no interval
    evaluation.check_delta_identity(table)
    assert evaluation.pass_at_1(small_run()) == pytest.approx(4 / 5)
    assert evaluation.pass_at_1(small_run(), round=0) == pytest.approx(2 / 5)


def random_run(
    seed: int, methods: int = 3, problems: int = 40, samples: int = 3, rounds: int = 4
) -> list[Trajectory]:
    rng = np.random.default_rng(seed)
    out = []
    for m in range(methods):
        for p in range(problems):
            for s in range(samples):
                length = int(rng.integers(1, rounds + 2))  # some stop early
                pattern = "".join(rng.choice(list("cwwx"), p=[0.45, 0.5, 0.0, 0.05]) for _ in range(length))
                out.append(
                    traj(pattern, f"p{p}", s, f"m{m}", stopped="critic_correct" if length <= rounds else "")
                )
    return out


@pytest.mark.parametrize("seed", range(5))
def test_delta_identity_holds_on_generated_tables(seed: int) -> None:
    ts = random_run(seed)
    table = evaluation.round_table(ts, resamples=50, seed=seed)
    evaluation.check_delta_identity(table)
    evaluation.check_delta_identity(evaluation.final_rows(table))
    evaluation.check_delta_identity(evaluation.percent(table))
    for (_, rows), method in zip(table.groupby("method", sort=False), ["m0", "m1", "m2"]):
        scored = [t for t in ts if t.method == method and not t.has_infra_error]
        for _, row in rows.iterrows():
            k = int(row["round"])
            assert row["pass@1"] == pytest.approx(np.mean([t.correct_after(k) for t in scored]))
            # exact on counts
            assert row["correct"] == rows["correct"].iloc[0] + row["up"] - row["down"]
        assert (rows["pass@1 lo"] <= rows["pass@1"] + 1e-12).all() and (
            rows["pass@1"] <= rows["pass@1 hi"] + 1e-12
        ).all()


def test_identity_checker_catches_a_broken_table(tmp_path: Path) -> None:
    table = evaluation.round_table(small_run(), resamples=0)
    broken = table.copy()
    broken.loc[2, "Δ↓"] = 0.0
    with pytest.raises(evaluation.DeltaIdentityError, match="round 2"):
        evaluation.check_delta_identity(broken)
    counts_only = table.copy()
    counts_only.loc[1, "up"] += 1
    with pytest.raises(evaluation.DeltaIdentityError, match="counts"):
        evaluation.check_delta_identity(counts_only)
    with pytest.raises(evaluation.DeltaIdentityError):
        tables.write_table(broken, tmp_path / "broken", validate=evaluation.check_delta_identity)
    assert not list(tmp_path.iterdir())  # checked before anything is written
    assert outcomes.counts_summary({"a": 0, "b": 2}) == "infrastructure errors excluded — b: 2"


def test_bootstrap_is_seeded_and_resamples_problems() -> None:
    ts = random_run(0, methods=1)
    a = evaluation.round_table(ts, resamples=200, seed=3)
    b = evaluation.round_table(list(reversed(ts)), resamples=200, seed=3)
    pd.testing.assert_frame_equal(a, b)  # input order does not matter
    c = evaluation.round_table(ts, resamples=200, seed=4)
    assert not np.allclose(a["pass@1 lo"], c["pass@1 lo"])
    # a problem whose samples all agree behaves as one unit: with 2 problems (all-correct,
    # all-wrong), every replicate is 0, 1/2 or 1
    two = [traj("c", "a", s) for s in range(5)] + [traj("w", "b", s) for s in range(5)]
    lo, hi = stats.bootstrap_ratio(np.array([5.0, 0.0]), np.array([5.0, 5.0]), resamples=500, seed=0)
    assert lo[0] == 0.0 and hi[0] == 1.0
    row = evaluation.round_table(two, resamples=500).iloc[0]
    assert row["pass@1 lo"] == 0.0 and row["pass@1 hi"] == 1.0


def test_methods_keep_their_order_and_shorter_methods_carry_their_last_round() -> None:
    ts = [traj("w", "a", method="zero_shot"), traj("wc", "a", method="critic")]
    table = evaluation.round_table(ts, rounds=2, resamples=0)
    assert table["method"].tolist() == ["zero_shot"] * 3 + ["critic"] * 3
    assert table["pass@1"].tolist() == [0, 0, 0, 0, 1, 1]


def test_method_with_only_infra_errors_is_reported_not_scored() -> None:
    table = evaluation.round_table(
        [traj("x", "a", method="broken"), traj("c", "a", method="ok")], resamples=10
    )
    broken = table[table.method == "broken"].iloc[0]
    assert broken["n"] == 0 and broken["excluded"] == 1 and math.isnan(broken["pass@1"])
    evaluation.check_delta_identity(table)


# -- transitions -------------------------------------------------------------------------------


def test_transitions_stay_and_drop() -> None:
    ts = small_run()
    stay = outcomes.transitions(ts)
    assert stay[list(outcomes.TRANSITIONS)].values.tolist() == [[1, 1, 2, 1], [3, 0, 1, 1]]
    assert stay["carried"].tolist() == [1, 1] and set(stay["excluded"]) == {1}
    drop = outcomes.transitions(ts, stopped="drop")
    assert drop[list(outcomes.TRANSITIONS)].values.tolist() == [[0, 1, 2, 1], [2, 0, 1, 1]]
    # with "stay", consecutive rounds of the round table follow from the transitions
    table = evaluation.round_table(ts, resamples=0)
    for _, row in stay.iterrows():
        k = int(row["round"])
        assert table["correct"][k + 1] == table["correct"][k] + row["i→c"] - row["c→i"]


# -- discrimination ----------------------------------------------------------------------------


def test_discrimination_hand_computed() -> None:
    judgments = ["correct", "correct", "incorrect", "incorrect", "incorrect", None]
    truth = [True, False, False, True, False, True]
    d = outcomes.discrimination(judgments, truth)
    # passed: TP 1, FP 1, FN 2 (one wrong judgment, one unparseable) -> P 1/2, R 1/3, F1 2/5
    assert (d.passed.precision, d.passed.recall, d.passed.f1) == pytest.approx((1 / 2, 1 / 3, 2 / 5))
    # failed: TP 2, FP 1, FN 1 -> P 2/3, R 2/3, F1 2/3 (the unparseable was truly passed: no effect)
    assert (d.failed.precision, d.failed.recall, d.failed.f1) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert d.macro_f1 == pytest.approx((2 / 5 + 2 / 3) / 2)
    assert d.unparseable == 1 and d.n == 6 and d.accuracy == pytest.approx(3 / 6)


def test_unparseable_verdict_is_never_a_true_positive() -> None:
    d = outcomes.discrimination([None, None], [True, False])
    assert d.passed.recall == 0 and d.failed.recall == 0
    assert math.isnan(d.passed.precision) and math.isnan(d.failed.precision)
    assert d.passed.f1 == 0 and d.failed.f1 == 0 and d.macro_f1 == 0 and d.unparseable == 2
    assert outcomes.discrimination(["CORRECT", "garbage"], [True, True]).unparseable == 1


def test_class_absent_from_truth() -> None:
    # every solution passes; the critic never says Incorrect: the failed class is undefined
    d = outcomes.discrimination(["correct", "correct"], [True, True])
    assert d.passed.f1 == 1.0 and math.isnan(d.failed.recall) and math.isnan(d.failed.f1)
    assert d.macro_f1 == 1.0  # mean over the defined classes
    # ... and if it does say Incorrect, those are false positives of the failed class: F1 0
    d = outcomes.discrimination(["correct", "incorrect"], [True, True])
    assert d.failed.f1 == 0.0 and math.isnan(d.failed.recall) and d.failed.precision == 0.0
    assert d.macro_f1 == pytest.approx((2 / 3 + 0) / 2)


def test_class_never_predicted() -> None:
    d = outcomes.discrimination(["incorrect", "incorrect", "incorrect"], [True, False, False])
    assert math.isnan(d.passed.precision) and d.passed.recall == 0 and d.passed.f1 == 0
    assert d.failed.f1 == pytest.approx(4 / 5)
    empty = outcomes.discrimination([], [])
    assert math.isnan(empty.macro_f1) and empty.n == 0
    with pytest.raises(ValueError):
        outcomes.discrimination(["correct"], [])


def test_discrimination_table_from_trajectories() -> None:
    def judged(judgment: str | None, correct: bool, method: str, critique: str = "x") -> Trajectory:
        first = rnd(correct, judgment, critique=critique)
        return Trajectory("p", 0, method, [first, rnd(True)])

    ts = [
        judged("correct", True, "critic"),
        judged("incorrect", False, "critic"),
        judged(None, False, "critic"),
        Trajectory("p", 1, "critic", [rnd(True, "correct"), rnd(None)]),  # infra error: excluded
        Trajectory("p", 0, "zero_shot", [rnd(True)]),  # never critiqued: no row
    ]
    table = evaluation.discrimination_table(ts)
    assert table["method"].tolist() == ["critic"]
    row = table.iloc[0]
    assert row["n"] == 3 and row["unparseable"] == 1 and row["excluded"] == 1
    assert row["F1 passed"] == 1.0 and row["F1 failed"] == pytest.approx(2 / 3)
    assert math.isnan(row["macro F1 lo"])  # no resamples, no interval


def test_discrimination_table_interval_and_always_correct_base_rate() -> None:
    # problem a: solution passes; b and c: fail. critic judges a and b right and c wrong;
    # self-critique approves everything, so it scores exactly the always-Correct base rate
    def judged(pid: str, method: str, correct: bool, judgment: str) -> Trajectory:
        return Trajectory(pid, 0, method, [rnd(correct, judgment, critique="x")])

    truth = {"a": True, "b": False, "c": False}
    right = {"a": "correct", "b": "incorrect", "c": "correct"}
    ts = [judged(p, "critic", c, right[p]) for p, c in truth.items()]
    ts += [judged(p, "self_critique", c, "correct") for p, c in truth.items()]
    ts.append(Trajectory("a", 0, "zero_shot", [rnd(True)]))
    table = evaluation.discrimination_table(ts, resamples=300, seed=1, always_correct=True).set_index(
        "method"
    )
    assert list(table.index) == ["critic", "self_critique", evaluation.ALWAYS_CORRECT]
    base = table.loc[evaluation.ALWAYS_CORRECT]
    assert base["n"] == 3 and base["accuracy"] == pytest.approx(1 / 3)
    assert base["macro F1"] == pytest.approx(table.loc["self_critique", "macro F1"]) == pytest.approx(0.25)
    # critic: F1 passed 2/3, F1 failed 2/3
    assert table.loc["critic", "macro F1"] == pytest.approx(2 / 3)
    for method, row in table.iterrows():
        assert row["macro F1 lo"] <= row["macro F1"] <= row["macro F1 hi"], method
    assert table.loc["critic", "macro F1 hi"] > table.loc["critic", "macro F1 lo"]
    with pytest.raises(ValueError, match="rounds"):
        evaluation.discrimination_table(ts, rounds=None, always_correct=True)


# -- pairwise accuracy -------------------------------------------------------------------------


def pair(good: str, bad: str, pid: str = "x") -> PairJudgments:
    """Verdict strings: C correct, I incorrect, ? unparseable."""
    code = {"C": "correct", "I": "incorrect", "?": None}
    return PairJudgments(pid, [code[v] for v in good], [code[v] for v in bad])


def test_pairwise_wins_losses_and_ties() -> None:
    assert evaluation.pair_score(pair("CCI", "CII")) == 1.0
    assert evaluation.pair_score(pair("CII", "CCI")) == 0.0
    assert evaluation.pair_score(pair("CI", "IC")) == 0.0  # tie: not correct (the headline)
    assert evaluation.pair_score(pair("CI", "IC"), ties="half") == 0.5
    assert evaluation.pair_score(pair("??", "II"), ties="half") == 0.5  # unparseable is not a Correct vote
    # k=1 of 4 critiques, averaged over every choice: the passing one wins only when it draws its
    # one Correct (1/4) and the failing one draws its one Incorrect (1/4)
    assert evaluation.pair_score(pair("CIII", "ICCC"), k=1) == pytest.approx(1 / 16)
    assert evaluation.pair_score(pair("CIII", "ICCC"), k=1, ties="half") == pytest.approx(1 / 16 + 0.375 / 2)
    pairs = [pair("CC", "II"), pair("CI", "CI"), pair("II", "CC"), pair("CC", "CI")]
    assert evaluation.pairwise_accuracy(pairs) == pytest.approx(2 / 4)
    assert evaluation.pairwise_accuracy(pairs, ties="half") == pytest.approx((1 + 0.5 + 0 + 1) / 4)
    with pytest.raises(ValueError):
        evaluation.pair_score(pair("C", "II"), k=2)
    with pytest.raises(ValueError):
        evaluation.pair_score(pair("C", "I"), ties="coin")  # type: ignore[arg-type]


def test_maj_at_2_with_a_tie_is_not_correct() -> None:
    # Two critiques per response, one Correct each: Maj@2 always ties. JudgeBench's metric, and
    # CTRL's 22.6% at 2 votes, count that as not correct; the secondary column counts it ½.
    curve = evaluation.majority_curve([pair("CI", "IC")]).set_index("k")
    assert curve.loc[2, "accuracy"] == 0.0 and curve.loc[2, evaluation.TIES_HALF] == 0.5
    assert curve.loc[2, "ties"] == 1.0
    # Maj@1 of the same pair: win 1/4, tie 1/2
    assert curve.loc[1, "accuracy"] == pytest.approx(0.25) and curve.loc[1, evaluation.TIES_HALF] == 0.5


def test_majority_curve_averages_over_every_choice_of_k_critiques() -> None:
    pairs = [pair("CIC", "ICI"), pair("ICC", "CII"), pair("CCC", "CCC")]
    curve = evaluation.majority_curve(pairs)
    assert curve["k"].tolist() == [1, 2, 3]
    # the first two pairs: 2 of 3 Correct against 1 of 3; Maj@1 win 4/9, tie 4/9; Maj@2 win 5/9,
    # tie 4/9; Maj@3 win. The third pair always ties.
    assert curve["accuracy"].tolist() == pytest.approx([8 / 27, 10 / 27, 2 / 3])
    assert curve["ties"].tolist() == pytest.approx([17 / 27, 17 / 27, 1 / 3])
    assert curve[evaluation.TIES_HALF].tolist() == pytest.approx(list(curve["accuracy"] + curve["ties"] / 2))
    for k in (1, 2):  # the same estimator as a brute-force average over the subsets
        brute = np.mean(
            [
                float(sum(v == "correct" for v in g) > sum(v == "correct" for v in b))
                for p in pairs
                for g in combinations(p.correct, k)
                for b in combinations(p.incorrect, k)
            ]
        )
        assert curve.loc[k - 1, "accuracy"] == pytest.approx(brute)
    assert evaluation.majority_curve([]).empty


# -- tables on disk ----------------------------------------------------------------------------


def test_write_table_writes_csv_markdown_latex(tmp_path: Path) -> None:
    table = evaluation.percent(evaluation.final_rows(evaluation.round_table(small_run(), resamples=20)))
    table["method"] = ["self_critique"]
    paths = tables.write_table(
        table[["method", "round", "pass@1", "Δ↑", "Δ↓", "n", "pass@1 lo"]], tmp_path / "t"
    )
    assert sorted(p.suffix for p in paths.values()) == [".csv", ".md", ".tex"]
    csv = pd.read_csv(paths["csv"])
    assert csv["pass@1"].item() == pytest.approx(80.0)
    md = paths["md"].read_text().splitlines()
    assert md[0].startswith("| method") and "Δ↑" in md[0]
    assert md[1].split("|")[3].strip().endswith(":")  # numbers right-aligned
    assert "| self_critique |" in md[2] and "80.0000" in md[2]
    tex = paths["tex"].read_text()
    assert r"\toprule" in tex and r"$\Delta\uparrow$" in tex and r"self\_critique" in tex
    assert "Δ" not in tex and not list(tmp_path.glob(".*tmp"))


def test_markdown_escapes_pipes_and_blanks_nan() -> None:
    md = tables.to_markdown(pd.DataFrame({"a": ["x|y"], "b": [math.nan]}))
    assert r"x\|y" in md and md.splitlines()[2].rstrip().endswith("|")
    assert "nan" not in md


# -- per benchmark -------------------------------------------------------------------------------


def test_tables_per_benchmark_with_a_pooled_extra() -> None:
    ts = [
        traj("wc", "h1", method="a"),
        traj("cc", "h2", method="a"),
        traj("ww", "m1", method="a"),
        traj("cw", "m2", method="a"),
    ]
    sources = {"h1": "humaneval", "h2": "humaneval", "m1": "mbpp", "m2": "mbpp"}
    table = evaluation.per_benchmark(evaluation.round_table, ts, sources, resamples=0)
    assert list(table.columns[:2]) == ["source", "method"]
    final = evaluation.final_rows(table).set_index("source")
    assert final.loc["humaneval", "pass@1"] == 1.0 and final.loc["humaneval", "Δ↑"] == 0.5
    assert final.loc["mbpp", "pass@1"] == 0.0 and final.loc["mbpp", "Δ↓"] == 0.5
    assert final.loc[evaluation.POOLED, "pass@1"] == 0.5 and final.loc[evaluation.POOLED, "n"] == 4
    evaluation.check_delta_identity(evaluation.percent(table))  # per (source, method)
    passk = evaluation.per_benchmark(evaluation.pass_at_k_table, ts, sources, ks=(1,))
    assert passk.set_index("source").loc["mbpp", "pass@k"] == 0.0
    one = evaluation.per_benchmark(evaluation.round_table, ts[:2], sources, resamples=0)
    assert set(one["source"]) == {"humaneval"}  # a single benchmark needs no pooled rows
    with pytest.raises(KeyError, match="m1"):
        evaluation.per_benchmark(evaluation.round_table, ts, {"h1": "x", "h2": "x"}, resamples=0)


def test_table_3_average_is_the_unweighted_mean_over_benchmarks() -> None:
    # CTRL Table 3, zero-shot (Qwen2.5-Coder-32B-Ins): CodeContests 7.88, LiveCodeBench 30.54,
    # MBPP+ 77.83, Average 38.75. The sample counts differ by benchmark, so the pooled row does not
    # reproduce the paper's average; the average row does.
    benchmarks = {"codecontests": (7.88, 165), "livecodebench": (30.54, 268), "mbppplus": (77.83, 378)}
    rows = [
        {
            "source": s,
            "method": "zero_shot",
            "round": 0,
            evaluation.PASS: p,
            evaluation.UP: 0.0,
            evaluation.DOWN: 0.0,
            "n": n,
        }
        for s, (p, n) in benchmarks.items()
    ]
    pooled = sum(p * n for p, n in benchmarks.values()) / sum(n for _, n in benchmarks.values())
    rows.append(
        {
            "source": evaluation.POOLED,
            "method": "zero_shot",
            "round": 0,
            evaluation.PASS: pooled,
            evaluation.UP: 0.0,
            evaluation.DOWN: 0.0,
            "n": 811,
        }
    )
    table = pd.DataFrame(rows)
    table.attrs["scale"] = 100.0
    out = evaluation.benchmark_average(table).set_index("source")
    assert out.loc[evaluation.AVERAGE, evaluation.PASS] == pytest.approx(38.75, abs=0.005)
    assert out.loc[evaluation.AVERAGE, "n"] == 811
    assert abs(out.loc[evaluation.POOLED, evaluation.PASS] - 38.75) > 5  # the pooled row is another number
    evaluation.check_delta_identity(out.reset_index())


def test_average_rows_from_trajectories_keep_the_delta_identity() -> None:
    # humaneval: 1 problem, Δ↑ on its one sample; mbpp: 3 problems, one Δ↓ among them
    ts = [
        traj("wc", "h1", method="a"),
        traj("cw", "m1", method="a"),
        traj("cc", "m2", method="a"),
        traj("ww", "m3", method="a"),
        traj("cc", "h1", method="b"),
    ]  # b ran on humaneval only
    sources = {"h1": "humaneval", "m1": "mbpp", "m2": "mbpp", "m3": "mbpp"}
    table = evaluation.per_benchmark(evaluation.round_table, ts, sources, resamples=0)
    final = evaluation.percent(evaluation.benchmark_average(evaluation.final_rows(table)))
    average = final[final["source"] == evaluation.AVERAGE].set_index("method")
    assert list(average.index) == ["a"]  # b lacks a benchmark: no average
    assert average.loc["a", evaluation.PASS] == pytest.approx((100 + 100 / 3) / 2)
    assert average.loc["a", evaluation.UP] == pytest.approx(50.0)
    assert average.loc["a", evaluation.DOWN] == pytest.approx(100 / 6)
    evaluation.check_delta_identity(final)
    pooled = final[(final["source"] == evaluation.POOLED) & (final["method"] == "a")].iloc[0]
    assert pooled[evaluation.PASS] == pytest.approx(50.0)  # 2 of 4 samples
    assert len(evaluation.pooled_rows(final)) == 2  # the pooled rows, not the average
    one = evaluation.final_rows(
        evaluation.per_benchmark(evaluation.round_table, ts[:1], sources, resamples=0)
    )
    assert evaluation.benchmark_average(one).equals(one)  # one benchmark: nothing to average


def test_pass_at_k_by_hand() -> None:
    # 5 samples, 2 correct: P(some correct among 2 drawn) = 1 − C(3,2)/C(5,2) = 1 − 3/10
    assert evaluation.pass_at_k(5, 2, 2) == pytest.approx(0.7)


# -- tested differences --------------------------------------------------------------------------


def test_a_difference_beyond_noise_excludes_zero_and_one_within_it_does_not() -> None:
    problems = [f"p{i}" for i in range(20)]
    # the method fixes every problem the baseline leaves wrong: +100 points, every resample agrees
    better = [traj("wc", p, method="critic") for p in problems] + [
        traj("ww", p, method="base") for p in problems
    ]
    diff = evaluation.difference_table(better, "base", resamples=200).set_index("statistic")
    assert diff.loc["pass@1", "difference"] == 1.0 and diff.loc["pass@1", "excludes 0"]
    assert diff.loc["pass@1", "lo"] == 1.0 and diff.loc["pass@1", "problems"] == 20
    # half the problems go one way, half the other: a difference of 0 with an interval around it
    mixed = [traj("wc" if i % 2 else "ww", p, method="critic") for i, p in enumerate(problems)] + [
        traj("ww" if i % 2 else "wc", p, method="base") for i, p in enumerate(problems)
    ]
    diff = evaluation.difference_table(mixed, "base", resamples=200).set_index("statistic")
    assert diff.loc["pass@1", "difference"] == 0.0 and not diff.loc["pass@1", "excludes 0"]
    assert diff.loc["pass@1", "lo"] < 0 < diff.loc["pass@1", "hi"]
    assert "macro F1" not in diff.index  # neither method judged anything


def test_difference_of_judgment_f1_is_paired_on_the_critiqued_solutions() -> None:
    def judged(pid: str, method: str, judgment: str, correct: bool) -> Trajectory:
        return Trajectory(pid, 0, method, [rnd(correct, judgment), rnd(correct)])

    ts = []
    for i in range(12):
        correct = i % 2 == 0
        truth = "correct" if correct else "incorrect"
        ts += [judged(f"p{i}", "critic", truth, correct), judged(f"p{i}", "base", "correct", correct)]
    diff = evaluation.difference_table(ts, "base", resamples=200).set_index("statistic")
    # the critic is always right (F1 1); the baseline always says Correct (F1 (2/3 + 0) / 2 = 1/3)
    assert diff.loc["macro F1", "value"] == 1.0 and diff.loc["macro F1", "baseline value"] == pytest.approx(
        1 / 3
    )
    assert diff.loc["macro F1", "excludes 0"]


def test_paired_bootstrap_uses_one_draw_for_both_statistics() -> None:
    values = np.arange(10.0)
    d = stats.paired_bootstrap(lambda i: (values[i].mean() + 1.0, values[i].mean()), 10, resamples=50)
    assert (d.difference, d.lo, d.hi) == pytest.approx((1.0, 1.0, 1.0))  # the problems' spread cancels
    assert d.excludes_zero

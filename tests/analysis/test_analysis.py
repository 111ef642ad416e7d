"""Markov view, compounding-error simulation, critique strategies, code similarity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from criticlab import analysis, stats
from criticlab.analysis.compounding import CriticModel
from criticlab.llm.base import Completion, SamplingParams
from criticlab.rollout import outcomes
from criticlab.rollout.trajectory import Round, Trajectory
from criticlab.sandbox.types import ExecResult, Verdict

OK = ExecResult(Verdict.ACCEPTED, 1, 1)
BAD = ExecResult(Verdict.WRONG_ANSWER, 0, 1)


def trajectories_from(
    matrix: np.ndarray, method: str = "m", samples_per_problem: int = 1
) -> list[Trajectory]:
    """Trajectories whose correctness per round is a row of ``matrix``."""
    out = []
    for i, row in enumerate(matrix):
        rounds = [Round(response="", code=f"x = {k}", result=OK if c else BAD) for k, c in enumerate(row)]
        out.append(Trajectory(f"p{i // samples_per_problem}", i % samples_per_problem, method, rounds))
    return out


def within(estimate: analysis.Rate, truth: float, sigmas: float = 4.0) -> bool:
    """|estimate − truth| within ``sigmas`` binomial standard errors of the estimate's sample size."""
    return abs(estimate.value - truth) <= sigmas * math.sqrt(truth * (1 - truth) / estimate.n)


# -- intervals and closed forms ----------------------------------------------------------------


def test_wilson_interval_known_values() -> None:
    assert stats.wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert stats.wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert stats.wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert all(math.isnan(x) for x in stats.wilson_interval(0, 0))


def test_chain_curve_closed_form_and_fixed_point() -> None:
    curve = analysis.markov_curve(0.3, 0.8, 0.2, 30)
    assert curve[:3] == pytest.approx([0.3, 0.3 * 0.8 + 0.7 * 0.2, 0.38 * 0.8 + 0.62 * 0.2])
    assert curve == pytest.approx(analysis.markov_closed_form(0.3, 0.8, 0.2, np.arange(31)))
    assert analysis.stationary_pass(0.8, 0.2) == pytest.approx(0.5)
    assert curve[-1] == pytest.approx(0.5, abs=1e-6)
    assert math.isnan(analysis.stationary_pass(1.0, 0.0))


# -- the estimator recovers known parameters ---------------------------------------------------

# 20,000 chains × 5 steps: the pooled p_cc and p_wc rest on ≥ 30,000 transitions each, so their
# binomial standard error is ≤ 0.003; per-step rates rest on ≥ 5,000 (SE ≤ 0.006). 4 SE bounds
# a miss by chance to < 1e-4 per check, and the seed makes the test deterministic anyway.
TRUE = {"p_init": 0.3, "p_cc": 0.85, "p_wc": 0.15}


def test_estimator_recovers_simulated_parameters() -> None:
    chains = analysis.simulate_chain(TRUE["p_init"], TRUE["p_cc"], TRUE["p_wc"], n=20_000, rounds=5, seed=7)
    fit = analysis.fit_chain(chains)
    for name, truth in TRUE.items():
        rate = getattr(fit, name)
        assert within(rate, truth), (name, rate)
    steps = analysis.step_rates(chains)
    assert len(steps) == 5
    for _, row in steps.iterrows():
        se_cc = math.sqrt(0.85 * 0.15 / row["n_c"])
        se_wc = math.sqrt(0.15 * 0.85 / row["n_w"])
        assert abs(row["p_cc"] - 0.85) <= 4 * se_cc and abs(row["p_wc"] - 0.15) <= 4 * se_wc
        assert row["c→i rate"] == pytest.approx(1 - row["p_cc"])
    assert fit.stationary == pytest.approx(0.5, abs=0.02)


def test_wilson_intervals_cover_the_truth_at_their_nominal_rate() -> None:
    # 100 independent simulations: a 95% interval should miss about 5 times per parameter; the
    # binomial SD of the miss count is about 2.2, so 15 misses (4.5 SD) would mean a real bug.
    misses = dict.fromkeys(TRUE, 0)
    for seed in range(100):
        fit = analysis.fit_chain(analysis.simulate_chain(*TRUE.values(), n=1_000, rounds=3, seed=seed))
        for name, truth in TRUE.items():
            rate = getattr(fit, name)
            misses[name] += not rate.lo <= truth <= rate.hi
    assert all(count < 15 for count in misses.values()), misses


def test_fit_from_trajectories_matches_matrix_and_bootstrap_is_close_to_wilson() -> None:
    chains = analysis.simulate_chain(0.4, 0.7, 0.3, n=2_000, rounds=3, seed=1)
    ts = trajectories_from(chains)
    fits = analysis.markov_fits(ts)
    direct = analysis.fit_chain(chains)
    assert fits["m"].p_cc.value == direct.p_cc.value and fits["m"].p_wc.n == direct.p_wc.n
    boot = analysis.markov_fits(ts, interval="bootstrap", resamples=400, seed=0)["m"]
    # one sample per problem: the bootstrap and Wilson intervals estimate the same thing
    wilson_width = direct.p_cc.hi - direct.p_cc.lo
    assert boot.p_cc.hi - boot.p_cc.lo == pytest.approx(wilson_width, rel=0.25)
    assert boot.p_cc.lo <= boot.p_cc.value <= boot.p_cc.hi


def test_markov_prediction_tracks_a_homogeneous_chain() -> None:
    chains = analysis.simulate_chain(0.2, 0.9, 0.25, n=5_000, rounds=4, seed=3)
    pred = analysis.markov_prediction(trajectories_from(chains, samples_per_problem=5))
    assert pred["round"].tolist() == [0, 1, 2, 3, 4]
    assert pred["predicted"].iloc[0] == pred["observed"].iloc[0]
    # the observed Pass@1 has SE ≤ 0.007 with 5,000 chains
    assert np.abs(pred["predicted"] - pred["observed"]).max() < 0.03
    assert (pred["observed lo"] <= pred["observed"]).all() and (pred["observed"] <= pred["observed hi"]).all()


def test_markov_table_per_round_and_stopped_trajectories() -> None:
    ts = trajectories_from(np.array([[1, 1, 1], [1, 0, 0], [0, 1, 1], [0, 0, 1]], dtype=bool))
    ts.append(Trajectory("p9", 0, "m", [Round("", "x", OK)], stopped="critic_correct"))
    table = analysis.markov_table(ts)
    # step 0: correct at start = rows 0, 1 and the stopped one -> c→c 2/3; incorrect: 2 -> w→c 1/2
    assert table["p_cc"].iloc[0] == pytest.approx(2 / 3) and table["p_wc"].iloc[0] == pytest.approx(1 / 2)
    assert table["c→i rate"].iloc[0] == pytest.approx(1 / 3)
    assert table["c→i share"].iloc[0] == pytest.approx(1 / 5)
    # "drop": the stopped trajectory has no round 1, so it takes no step: c→c 1/2 of 2
    dropped = analysis.markov_table(ts, stopped="drop")
    assert dropped["p_cc"].tolist() == pytest.approx([1 / 2, 1.0]) and dropped["n_c"].tolist() == [2, 2]
    fits = analysis.markov_fits(ts, stopped="drop")["m"]
    assert (fits.p_cc.successes, fits.p_cc.n) == (3, 4)  # steps 0 and 1 pooled: (1 + 2) / (2 + 2)
    with pytest.raises(ValueError):
        analysis.markov_table(ts, stopped="keep")  # type: ignore[arg-type]


def test_iteration_updown_is_unconditional_over_all_samples() -> None:
    # rounds 0..2 of five samples; one stopped after round 0 (it stays correct and never flips)
    ts = trajectories_from(np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1], [0, 0, 0]], dtype=bool))
    ts.append(Trajectory("p9", 0, "m", [Round("", "x", OK)], stopped="critic_correct"))
    table = analysis.iteration_updown(ts)
    assert table["round"].tolist() == [1, 2] and table["n"].tolist() == [5, 5]
    # iteration 1: c→i row 0, i→c row 2 -> 1/5 each; iteration 2: c→i row 1, i→c row 0
    assert table["Δ↓"].tolist() == pytest.approx([1 / 5, 1 / 5])
    assert table["Δ↑"].tolist() == pytest.approx([1 / 5, 1 / 5])
    # the conditional rate divides by the correct ones instead: 1 of 3 at step 0
    assert analysis.markov_table(ts)["c→i rate"].iloc[0] == pytest.approx(1 / 3)
    # Pass@1(t) = Pass@1(t−1) + Δ↑(t) − Δ↓(t) at every iteration
    correct = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 1], [0, 0, 0], [1, 1, 1]], dtype=bool)
    for t, up, down in zip(table["round"], table["Δ↑"], table["Δ↓"]):
        assert correct[:, t].mean() == pytest.approx(correct[:, t - 1].mean() + up - down)
    assert (table["Δ↓ lo"] <= table["Δ↓"]).all() and (table["Δ↓"] <= table["Δ↓ hi"]).all()


# -- compounding error -------------------------------------------------------------------------


def test_critic_that_never_stops_is_the_plain_chain() -> None:
    always_revise = CriticModel("none", tpr=0.0, tnr=1.0)
    curve = analysis.critic_loop_curve(0.3, 0.8, 0.2, always_revise, 10)
    assert curve["pass@1"].to_numpy() == pytest.approx(analysis.markov_curve(0.3, 0.8, 0.2, 10))
    assert analysis.critic_loop_limit(0.3, 0.8, 0.2, always_revise) == pytest.approx(0.5)


def test_perfect_critic_never_breaks_a_correct_solution() -> None:
    perfect = CriticModel("perfect", 1.0, 1.0)
    curve = analysis.critic_loop_curve(0.3, 0.8, 0.2, perfect, 30)
    assert curve["pass@1"].iloc[1] == pytest.approx(0.3 + 0.7 * 0.2)
    assert (curve["c→i"] == 0).all() and curve["pass@1"].is_monotonic_increasing
    assert analysis.critic_loop_limit(0.3, 0.8, 0.2, perfect) == pytest.approx(1.0)


def test_weak_vs_strong_critic_and_limits() -> None:
    weak, strong = CriticModel("weak", 0.6, 0.55), CriticModel("strong", 0.9, 0.85)
    curves = {c.name: analysis.critic_loop_curve(0.3, 0.8, 0.2, c, 400) for c in (weak, strong)}
    assert curves["strong"]["pass@1"].iloc[-1] > curves["weak"]["pass@1"].iloc[-1]
    for critic in (weak, strong):
        limit = analysis.critic_loop_limit(0.3, 0.8, 0.2, critic)
        assert curves[critic.name]["pass@1"].iloc[-1] == pytest.approx(limit, abs=1e-9), critic.name
    assert curves["weak"]["c→i"].sum() > curves["strong"]["c→i"].sum()
    # no closed form: incorrect solutions are never accepted and never fixed
    assert math.isnan(analysis.critic_loop_limit(0.3, 0.8, 0.0, CriticModel("stubborn", 0.5, 1.0)))


def test_monte_carlo_agrees_with_exact_curve() -> None:
    critic = CriticModel("weak", 0.6, 0.6)
    exact = analysis.critic_loop_curve(0.3, 0.8, 0.2, critic, 8)
    sampled = analysis.simulate_critic_loop(0.3, 0.8, 0.2, critic, 8, n=40_000, seed=0)
    # SE of a share over 40,000 chains ≤ 0.0025; 4 SE
    assert np.abs(exact["pass@1"] - sampled["pass@1"]).max() < 0.01
    assert np.abs(exact["stopped"] - sampled["stopped"]).max() < 0.01
    assert np.abs(exact["c→i"] - sampled["c→i"]).max() < 0.01


def test_critic_model_from_discrimination() -> None:
    d = outcomes.discrimination(
        ["correct", "incorrect", "correct", "incorrect", None], [True, True, False, False, False]
    )
    critic = CriticModel.from_discrimination("c", d)
    assert critic.tpr == pytest.approx(1 / 2)
    assert critic.tnr == pytest.approx(2 / 3)  # the unparseable judgment does not stop: it revises
    with pytest.raises(ValueError):
        CriticModel("bad", 1.2, 0.5)
    with pytest.raises(ValueError, match="pass and that fail"):
        CriticModel.from_discrimination("c", outcomes.discrimination(["correct"], [True]))


# -- critique strategies -----------------------------------------------------------------------

CRITIQUES = {
    analysis.ALGORITHM: (
        "Analysis: The nested loops make this O(n^2), which will exceed the time limit for n up to 2e5.\n"
        "Improvement suggestions: Use a prefix sum array, or a more efficient approach overall.\n"
        "Overall judgment: Incorrect"
    ),
    analysis.STATIC: (
        "Analysis: There is an off-by-one error: the loop stops at len(a) - 1, so the last element is "
        "never visited. The variable `best` is also not initialized for the empty list edge case.\n"
        "Overall judgment: Incorrect"
    ),
    analysis.DEBUGGING: (
        "Analysis: It is unclear where the computation diverges.\n"
        "Improvement suggestions: Add print statements after each phase and check the intermediate "
        "values; isolate the parsing step from the counting step and verify each part separately.\n"
        "Overall judgment: Incorrect"
    ),
    analysis.TESTING: (
        "Analysis: Let's trace the code on the sample input `3 1 2`. After sorting we get [1, 2, 3] "
        "and the loop returns 6, but the expected output is 5.\n"
        "Overall judgment: Incorrect"
    ),
    analysis.OTHER: "Analysis: Looks fine to me.\nOverall judgment: Correct",
}


@pytest.mark.parametrize("label", list(CRITIQUES))
def test_rule_classifier_on_hand_written_critiques(label: str) -> None:
    match = analysis.classify_strategy(CRITIQUES[label])
    assert match.label == label, match
    if label == analysis.OTHER:
        assert match.rule == "none" and match.fired == ()
    else:
        rule = next(r for r in analysis.RULES if r.name == match.rule)
        assert rule.label == label and any(name == match.rule for name, _, _ in match.fired)


def test_classifier_ties_follow_priority_and_verdict_line_is_ignored() -> None:
    # one rule each for dynamic testing and static analysis: testing wins the tie
    match = analysis.classify_strategy("An off-by-one error; for the input 5 it gives 4.")
    assert {lab for _, lab, _ in match.fired} == {analysis.STATIC, analysis.TESTING}
    assert match.label == analysis.TESTING
    assert match.labels == (analysis.STATIC, analysis.TESTING)  # multi-label: both strategies count
    assert analysis.classify_strategy("Overall judgment: Incorrect").labels == (analysis.OTHER,)
    assert analysis.classify_strategy("").label == analysis.OTHER


class FakeJudge:
    """An Engine that answers from a script and records what it was asked."""

    backend, model_id = "fake", "judge"

    def __init__(self, answers: list[str]) -> None:
        self.answers, self.seen = answers, []

    def generate(self, conversations: list, sampling: SamplingParams, n: int = 1) -> list[list[Completion]]:
        self.seen.append((conversations, sampling))
        return [[Completion(text=a)] for a in self.answers[: len(conversations)]]


def test_llm_judge_mode_and_agreement() -> None:
    critiques = list(CRITIQUES.values())
    judge = FakeJudge(
        [
            "It proposes a faster method.\nStrategy: algorithm_improvement",
            "Points at a defect.\n**Strategy:** Static Analysis",
            "Strategy: strategic-debugging",
            "It runs an example.\nStrategy: static_analysis",  # disagrees with the rules
            "I cannot tell.",
        ]
    )
    judged = analysis.label_strategies_with_llm(critiques, judge)
    assert [m.label for m in judged] == [
        analysis.ALGORITHM,
        analysis.STATIC,
        analysis.DEBUGGING,
        analysis.STATIC,
        analysis.OTHER,
    ]
    assert judged[-1].rule == "llm:unparsed" and judged[0].rule == "llm"
    prompt = judge.seen[0][0][0][0]["content"]
    assert CRITIQUES[analysis.ALGORITHM] in prompt and judge.seen[0][1].temperature == 0.0
    rules = [m.label for m in analysis.classify_strategies(critiques)]
    agree = analysis.agreement(rules, [m.label for m in judged])
    assert agree.n == 5 and agree.percent == pytest.approx(80.0)
    # p_o = 4/5; p_e = Σ p_a·p_b = (1·1 + 1·2 + 1·1 + 1·0 + 1·1)/25 = 5/25
    assert agree.kappa == pytest.approx((4 / 5 - 5 / 25) / (1 - 5 / 25))


def test_compare_strategy_modes_on_a_seeded_sample() -> None:
    critiques = list(CRITIQUES.values()) * 4
    judge = FakeJudge(["Strategy: other"] * 20)
    agree, table = analysis.compare_strategy_modes(critiques, judge, sample=8, seed=0)
    again, _ = analysis.compare_strategy_modes(
        critiques, FakeJudge(["Strategy: other"] * 20), sample=8, seed=0
    )
    assert agree == again and agree.n == 8 and len(table) == 8 and table["index"].is_monotonic_increasing
    expected = sum(labels == analysis.OTHER for labels in table["rule_labels"])
    assert agree.percent == pytest.approx(100 * expected / 8)
    assert set(table.columns) >= {"critique", "rule_labels", "rule", "llm_labels", "llm_answer"}


def test_parse_strategy_answer_multi_label() -> None:
    parse = analysis.parse_strategy_answer
    assert parse("Strategy: dynamic testing.") == (analysis.TESTING,)
    assert parse("mostly dynamic_testing") == (analysis.TESTING,)
    assert parse("static_analysis or dynamic_testing") == (analysis.STATIC, analysis.TESTING)
    assert parse("It reads code.\nStrategies: dynamic_testing, static_analysis") == (
        analysis.STATIC,
        analysis.TESTING,
    )
    # the last Strategies line decides, not labels named in the reasoning above it
    assert parse("Not algorithm_improvement.\n**Strategies:** strategic-debugging") == (analysis.DEBUGGING,)
    assert parse("Strategies: other") == (analysis.OTHER,)
    assert parse("Strategies: other, static_analysis") == (analysis.STATIC,)  # "other" means none of them
    assert parse("I cannot tell.") is None


def test_strategy_agreement_hand_computed_counts() -> None:
    S, T, A, N = analysis.STATIC, analysis.TESTING, analysis.ALGORITHM, analysis.OTHER
    gold = [(S, T), (S,), (T,), (N,)]
    predicted = [(S,), (S, T), (T, A), (S,)]
    table = analysis.strategy_agreement(gold, predicted).set_index("label")
    # static: TP 2 (items 0, 1), FP 1 (item 3), FN 0; testing: TP 1 (item 2), FP 1 (1), FN 1 (0)
    # algorithm: FP 1 (2), never in gold; other: FN 1 (3), never predicted
    assert table.loc[S, ["tp", "fp", "fn", "support"]].tolist() == [2, 1, 0, 2]
    assert table.loc[T, ["tp", "fp", "fn"]].tolist() == [1, 1, 1]
    assert table.loc[S, "precision"] == pytest.approx(2 / 3) and table.loc[S, "recall"] == 1.0
    assert table.loc[T, "f1"] == pytest.approx(2 / 4)
    assert math.isnan(table.loc[A, "recall"]) and table.loc[A, "precision"] == 0.0
    assert math.isnan(table.loc[N, "precision"]) and table.loc[N, "recall"] == 0.0
    assert math.isnan(table.loc[analysis.DEBUGGING, "precision"])
    # micro: TP 3, FP 3, FN 2 → P 1/2, R 3/5, F1 6/11
    micro = table.loc["micro"]
    assert (micro["precision"], micro["recall"], micro["f1"]) == pytest.approx((0.5, 0.6, 6 / 11))
    # macro over the labels in the gold set (static, testing, other); other's NaN precision is 0
    macro = table.loc["macro"]
    assert macro["precision"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    assert macro["recall"] == pytest.approx((1 + 1 / 2 + 0) / 3)
    assert macro["f1"] == pytest.approx((4 / 5 + 1 / 2 + 0) / 3)
    with pytest.raises(ValueError, match="2 gold label sets but 1 predicted"):
        analysis.strategy_agreement(gold[:2], predicted[:1])


def test_strategy_distribution_is_multi_label() -> None:
    dist = analysis.strategy_distribution(
        {
            "c": [
                (analysis.STATIC, analysis.TESTING),
                (analysis.STATIC,),
                (analysis.OTHER,),
                (analysis.ALGORITHM,),
            ]
        }
    ).iloc[0]
    assert (dist[analysis.STATIC], dist[analysis.TESTING], dist[analysis.OTHER], dist["n"]) == (
        0.5,
        0.25,
        0.25,
        4,
    )
    assert sum(dist[label] for label in analysis.STRATEGIES) == pytest.approx(1.25)


def test_agreement_hand_computed_and_degenerate() -> None:
    a = analysis.agreement(["x", "x", "y", "y"], ["x", "y", "y", "y"])
    assert a.percent == pytest.approx(75.0) and a.kappa == pytest.approx(0.5)
    assert analysis.agreement(["x", "x"], ["x", "x"]).kappa == 1.0
    assert math.isnan(analysis.agreement([], []).kappa)
    with pytest.raises(ValueError):
        analysis.agreement(["x"], [])


def test_strategy_distribution_per_critic() -> None:
    dist = analysis.strategy_distribution(
        {"sft": [analysis.STATIC, analysis.STATIC, analysis.TESTING, analysis.OTHER], "ctrl": []}
    )
    assert list(dist.columns) == ["critic", *analysis.STRATEGIES, "n"]
    sft = dist.iloc[0]
    assert sft[analysis.STATIC] == 0.5 and sft[analysis.TESTING] == 0.25 and sft["n"] == 4
    assert math.isnan(dist.iloc[1][analysis.STATIC])
    counts = analysis.strategy_distribution({"sft": [analysis.STATIC]}, normalize=False)
    assert counts.iloc[0][analysis.STATIC] == 1


def test_critiques_by_method() -> None:
    t = Trajectory(
        "p",
        0,
        "ctrl",
        [Round("", "x", BAD, critique="c0"), Round("", "y", BAD, critique="c1"), Round("", "z", OK)],
    )
    assert analysis.critiques_by_method([t]) == {"ctrl": ["c0", "c1"]}
    assert analysis.critiques_by_method([t], rounds=(0,)) == {"ctrl": ["c0"]}


# -- code similarity ---------------------------------------------------------------------------

ORIGINAL = '''
import math

def solve(nums: list[int]) -> int:
    """Sum of square roots."""
    total = 0  # running total
    for x in nums:
        total += math.isqrt(x)
    return total

print(solve(list(map(int, input().split()))))
'''

RENAMED = """
import math
def f(values):
    # different comments, no docstring
    acc = 0
    for v in values:
        acc += math.isqrt(v)
    return acc
print(f(list(map(int, input().split()))))
"""


def test_normalization_removes_names_docstrings_comments() -> None:
    a, ok_a = analysis.normalize_code(ORIGINAL)
    b, ok_b = analysis.normalize_code(RENAMED)
    assert ok_a and ok_b and a == b
    assert "math.isqrt" in a and "print(" in a and "input()" in a  # builtins, imports, attributes kept
    assert "Sum of" not in a and "#" not in a
    assert analysis.code_similarity(ORIGINAL, RENAMED) == (1.0, True)


def test_paper_similarity_is_one_for_programs_that_differ_only_in_names() -> None:
    a = "def solve(nums):\n    total = 0\n    for x in nums:\n        total += x\n    return total\nprint(solve([1, 2]))\n"
    b = "def f(values):\n    acc = 0\n    for v in values:\n        acc += v\n    return acc\nprint(f([1, 2]))\n"
    text, parsed = analysis.canonical_unparse(a)
    assert parsed and text == analysis.canonical_unparse(b)[0]
    # v0, v1, ... in order of first appearance; builtins keep their names
    assert text.startswith("def v0(v1):\n    v2 = 0\n    for v3 in v1:") and "print(v0(" in text
    assert analysis.paper_similarity(a, b) == (1.0, True)
    # a character ratio: one changed constant leaves it just under 1
    near, ok = analysis.paper_similarity(a, b.replace("acc = 0", "acc = 1"))
    assert ok and 0.95 < near < 1.0
    # docstrings stay (App. C.4 renames only), unlike the workbook's token normalization
    documented = a.replace("def solve(nums):\n", 'def solve(nums):\n    """Sum."""\n')
    assert analysis.paper_similarity(a, documented)[0] < 1.0
    assert analysis.code_similarity(a, documented) == (1.0, True)


def test_paper_similarity_falls_back_to_text_on_a_syntax_error() -> None:
    broken = "def f(x:\n    return x  # unfinished\n"
    text, parsed = analysis.canonical_unparse(broken)
    assert not parsed and text == "def f(x:\n    return x"
    ratio, parsed = analysis.paper_similarity(broken, "def f(x):\n    return x\n")
    assert not parsed and 0.0 < ratio < 1.0
    assert analysis.paper_similarity(broken, broken) == (1.0, False)


def test_similarity_orders_edits_and_falls_back_to_text() -> None:
    small_edit = RENAMED.replace("acc = 0", "acc = 1")
    rewrite = "n = int(input())\nprint(sum(range(n)))\n"
    near, _ = analysis.code_similarity(ORIGINAL, small_edit)
    far, _ = analysis.code_similarity(ORIGINAL, rewrite)
    assert 0.8 < near < 1.0 and far < 0.5
    broken = "def f(:\n    return 1  # oops\n"
    ratio, parsed = analysis.code_similarity(broken, broken.replace("# oops", "# other"))
    assert not parsed and ratio == 1.0
    assert analysis.normalize_code(broken) == ("def f(:\n    return 1", False)


def test_revision_similarity_rows() -> None:
    rounds = [Round("", ORIGINAL, BAD), Round("", RENAMED, OK), Round("", None, BAD)]
    table = analysis.revision_similarity([Trajectory("p", 0, "ctrl", rounds)])
    assert len(table) == 1  # the pair with a missing code block is skipped
    row = table.iloc[0]
    assert (
        row["similarity"] == 1.0 and row["parsed"] and row["changed_correctness"] and row["method"] == "ctrl"
    )


def test_wilson_interval_always_contains_the_observed_share() -> None:
    # at k = n the upper bound is 1 - 1e-16 before clamping; plots draw p - lo and hi - p as error bars
    for n in range(1, 120):
        for k in range(n + 1):
            lo, hi = stats.wilson_interval(k, n)
            assert lo <= k / n <= hi, (k, n)

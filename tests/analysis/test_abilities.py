"""CTRL Figure 3's simulation (App. C.1) against its closed forms and limits, within the Monte Carlo error."""

from __future__ import annotations

import numpy as np
import pytest

from criticlab import analysis
from criticlab.analysis import abilities


def test_the_papers_settings() -> None:
    assert abilities.P_INIT == 0.1 and abilities.RUNS == 50_000
    assert abilities.CRITIQUING == {"strong": (0.9, 0.3), "weak": (0.7, 0.15), "none": None}
    assert sorted(abilities.DISCRIMINATION.values()) == [(0.6, 0.3), (0.7, 0.2)]


def test_no_critiquing_and_perfect_discrimination_is_independent_resampling() -> None:
    # every revision an independent sample, a perfect judge: success once any of k + 1 samples is correct
    k = np.arange(11)
    exact = abilities.abilities_exact(0.1, 0.1, 0.1, tpr=1.0, fpr=0.0, rounds=10)
    assert exact == pytest.approx(1 - 0.9 ** (k + 1))
    simulated = abilities.simulate_run(0.1, 0.1, 0.1, 1.0, 0.0, 10, runs=50_000, seed=3)
    se = np.sqrt(exact * (1 - exact) / 50_000)
    assert np.all(np.abs(simulated - exact) <= 4 * se)


def test_perfect_discrimination_finds_any_correct_solution_of_the_chain() -> None:
    # strong critiquing, perfect judge: fails only if the chain never reaches a correct solution,
    # which it leaves with p_cw = 0.3 per round: 1 − 0.9 · 0.7^k
    k = np.arange(8)
    exact = abilities.abilities_exact(0.1, 0.9, 0.3, 1.0, 0.0, 7)
    assert exact == pytest.approx(1 - 0.9 * 0.7**k)


def test_a_judge_that_never_says_correct_keeps_the_latest_solution() -> None:
    # tpr = fpr = 0: the answer is the latest solution, the plain Markov chain
    exact = abilities.abilities_exact(0.1, 0.9, 0.3, 0.0, 0.0, 6)
    assert exact == pytest.approx(analysis.markov_curve(0.1, 0.9, 0.3, 6))
    # a judge that calls every solution correct: the best of all of them, correct once any is
    everything = abilities.abilities_exact(0.1, 0.1, 0.1, 1.0, 1.0, 4)
    assert everything == pytest.approx(1 - 0.9 ** (np.arange(5) + 1))


def test_figure_3_points_within_the_simulations_error() -> None:
    grid = abilities.simulate_abilities(rounds=6, seed=0)
    assert len(grid) == 3 * 2 * 7 and set(grid["runs"]) == {50_000}
    assert grid["pass"].to_numpy() == pytest.approx(grid["exact"].to_numpy(), abs=0.01)
    z = (grid["pass"] - grid["exact"]) / grid["se"]
    assert (z.abs() <= 4.5).all()
    at = grid.set_index(["critiquing", "discrimination", "round"])["exact"]
    # round 0 is p_init everywhere; critiquing orders the curves, then discrimination
    assert at.xs(0, level="round").to_numpy() == pytest.approx(0.1)
    for d in abilities.DISCRIMINATION:
        assert at["strong", d, 6] > at["weak", d, 6] > at["none", d, 6]
    for c in abilities.CRITIQUING:
        assert at[c, "TPR 0.7 / FPR 0.2", 6] > at[c, "TPR 0.6 / FPR 0.3", 6]
    again = abilities.simulate_abilities(rounds=6, seed=0)
    assert again.equals(grid)  # seeded


def test_bad_rates_are_errors() -> None:
    with pytest.raises(ValueError, match="tpr"):
        abilities.abilities_exact(0.1, 0.9, 0.3, 1.5, 0.0, 3)
    with pytest.raises(ValueError, match="rounds"):
        abilities.simulate_run(0.1, 0.9, 0.3, 0.7, 0.2, -1)

"""CTRL Figure 3 (App. C.1): how critiquing and discrimination together shape iterative refinement.

A simulated problem starts with a solution correct with probability ``p_init`` (0.1). Each round
the critique drives a revision: a correct solution stays correct with ``p_cc`` and an incorrect
one becomes correct with ``p_cw`` — strong critiquing (0.9, 0.3), weak (0.7, 0.15), or none, which
this module reads as independent resampling (every revision correct with ``p_init``, whatever came
before). Every solution is also judged: predicted correct with the true-positive rate ``tpr`` when
it is correct and with the false-positive rate ``fpr`` when it is not (0.7/0.2 and 0.6/0.3).
After k rounds the answer is the best of the solutions predicted correct so far — correct exactly
when one of them is correct — and, when none was predicted correct, the latest solution.

Two readings are this module's, since the paper states neither: "no critiquing" as independent
resampling, and the fallback to the latest solution when nothing was predicted correct. Both leave
the limits the tests check unchanged: with no critiquing and perfect discrimination (tpr 1, fpr 0)
the pass rate after k rounds is 1 − (1 − p_init)^(k+1), the chance that one of k + 1 independent
solutions is correct.

:func:`simulate_abilities` is the Monte Carlo of the paper (50,000 runs, seeded numpy);
:func:`abilities_exact` propagates the same process exactly, so every simulated point carries the
value it estimates and its standard error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

P_INIT = 0.1
CRITIQUING: dict[str, tuple[float, float] | None] = {"strong": (0.9, 0.3), "weak": (0.7, 0.15), "none": None}
"""Critiquing ability as (p_cc, p_cw); None: no critiquing, each revision an independent sample."""
DISCRIMINATION: dict[str, tuple[float, float]] = {
    "TPR 0.7 / FPR 0.2": (0.7, 0.2),
    "TPR 0.6 / FPR 0.3": (0.6, 0.3),
}
"""Discrimination ability as (tpr, fpr): P(predicted correct | correct), P(predicted correct | incorrect)."""
RUNS = 50_000
ROUNDS = 10
COLUMNS = (
    "critiquing",
    "discrimination",
    "p_cc",
    "p_cw",
    "tpr",
    "fpr",
    "round",
    "pass",
    "se",
    "exact",
    "runs",
)


def _rates(p_init: float, critiquing: tuple[float, float] | None) -> tuple[float, float]:
    return (p_init, p_init) if critiquing is None else critiquing


def _check(p_init: float, p_cc: float, p_cw: float, tpr: float, fpr: float, rounds: int) -> None:
    for name, value in (("p_init", p_init), ("p_cc", p_cc), ("p_cw", p_cw), ("tpr", tpr), ("fpr", fpr)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")


def abilities_exact(
    p_init: float, p_cc: float, p_cw: float, tpr: float, fpr: float, rounds: int
) -> np.ndarray:
    """Exact pass rate after 0..``rounds`` critique→revision rounds (array of rounds + 1).

    The state of a run not yet settled is (current solution correct, some incorrect solution
    predicted correct); a correct solution predicted correct settles it as a success.
    """
    _check(p_init, p_cc, p_cw, tpr, fpr, rounds)
    found = 0.0
    # mass[c, a]: not found; c = current solution correct; a = an incorrect one was predicted correct
    mass = np.array([[1.0 - p_init, 0.0], [p_init, 0.0]])
    out = np.empty(rounds + 1)
    for k in range(rounds + 1):
        if k:
            revised = np.empty_like(mass)
            revised[1] = mass[1] * p_cc + mass[0] * p_cw
            revised[0] = mass[1] * (1 - p_cc) + mass[0] * (1 - p_cw)
            mass = revised
        found += tpr * mass[1].sum()
        mass[1] *= 1 - tpr
        mass[0] = np.array([mass[0, 0] * (1 - fpr), mass[0, 1] + mass[0, 0] * fpr])
        out[k] = found + mass[1, 0]  # nothing predicted correct: the latest solution, here correct
    return out


def simulate_run(
    p_init: float,
    p_cc: float,
    p_cw: float,
    tpr: float,
    fpr: float,
    rounds: int,
    runs: int = RUNS,
    seed: int = 0,
) -> np.ndarray:
    """Monte Carlo pass rate after 0..``rounds`` rounds over ``runs`` simulated problems (seeded)."""
    _check(p_init, p_cc, p_cw, tpr, fpr, rounds)
    rng = np.random.default_rng(seed)
    correct = rng.random(runs) < p_init
    found = np.zeros(runs, dtype=bool)
    predicted = np.zeros(runs, dtype=bool)
    out = np.empty(rounds + 1)
    for k in range(rounds + 1):
        if k:
            draw = rng.random(runs)
            correct = np.where(correct, draw < p_cc, draw < p_cw)
        says_correct = rng.random(runs) < np.where(correct, tpr, fpr)
        found |= says_correct & correct
        predicted |= says_correct
        out[k] = np.mean(found | (~predicted & correct))
    return out


def simulate_abilities(
    p_init: float = P_INIT,
    critiquing: Mapping[str, tuple[float, float] | None] = CRITIQUING,
    discrimination: Mapping[str, tuple[float, float]] = DISCRIMINATION,
    rounds: int = ROUNDS,
    runs: int = RUNS,
    seed: int = 0,
) -> pd.DataFrame:
    """CTRL Figure 3's grid: one row per (critiquing, discrimination, round) with the simulated pass
    rate, its binomial standard error, and the exact value it estimates.

    Each setting draws from its own stream (``seed`` and the setting's index), so adding a setting
    leaves the others' numbers unchanged.
    """
    rows = []
    for i, (c_name, c_rates) in enumerate(critiquing.items()):
        p_cc, p_cw = _rates(p_init, c_rates)
        for j, (d_name, (tpr, fpr)) in enumerate(discrimination.items()):
            simulated = simulate_run(p_init, p_cc, p_cw, tpr, fpr, rounds, runs, seed=hash_seed(seed, i, j))
            exact = abilities_exact(p_init, p_cc, p_cw, tpr, fpr, rounds)
            for k in range(rounds + 1):
                se = math.sqrt(simulated[k] * (1 - simulated[k]) / runs) if runs else math.nan
                rows.append(
                    dict(
                        zip(
                            COLUMNS,
                            (
                                c_name,
                                d_name,
                                p_cc,
                                p_cw,
                                tpr,
                                fpr,
                                k,
                                float(simulated[k]),
                                se,
                                float(exact[k]),
                                runs,
                            ),
                        )
                    )
                )
    return pd.DataFrame(rows, columns=COLUMNS)


def hash_seed(seed: int, *index: int) -> int:
    """A stable per-setting seed (numpy's SeedSequence of the base seed and the setting's indices)."""
    return int(np.random.SeedSequence([seed, *index]).generate_state(1)[0])

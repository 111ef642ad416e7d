"""Compounding error with a critic in the loop.

Each attempt the critic judges the current solution; it says Correct on a correct solution with
probability ``tpr`` and Incorrect on an incorrect one with ``tnr``. "Correct" stops the loop (the
solution is kept); "Incorrect" triggers a revision, which moves correct→correct with p_cc and
incorrect→correct with p_wc. The plain chain is the critic that never says Correct (tpr 0,
tnr 1). :func:`critic_loop_curve` propagates the exact distribution; :func:`simulate_critic_loop`
samples it (Monte Carlo), and :func:`critic_loop_limit` is the closed-form long-run Pass@1 where
it exists; :func:`loop_pass_curves` is the same propagation vectorised over many rate sets (the
bootstrap band of :mod:`criticlab.analysis.critics`). Every rate is an argument: a run's own
estimates come from :mod:`criticlab.analysis.critics`, which says when one cannot be estimated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from criticlab.analysis.markov import stationary_pass
from criticlab.rollout import outcomes


@dataclass(frozen=True)
class CriticModel:
    """A critic as two rates of its stop/revise decision.

    ``tpr`` = P(says Correct | solution correct) (stops, keeping it); ``tnr`` = P(does not say
    Correct | solution incorrect) (revises). A perfect critic is (1, 1); the plain "always
    revise" chain is (0, 1); a coin is (0.5, 0.5).
    """

    name: str
    tpr: float
    tnr: float

    def __post_init__(self) -> None:
        for label, value in (("tpr", self.tpr), ("tnr", self.tnr)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"critic {self.name!r}: {label} must be in [0, 1], got {value}")

    @classmethod
    def from_discrimination(cls, name: str, d: outcomes.Discrimination) -> CriticModel:
        """Rates of the stop decision measured on real judgments.

        An unparseable judgment does not stop the loop, so it acts as "Incorrect": tpr is the
        passed-class recall, and tnr = 1 − (false Correct judgments on failing solutions) / failing.
        """
        if not (d.passed.support and d.failed.support):
            raise ValueError(
                f"critic {name!r}: needs judged solutions that pass and that fail to measure both rates"
            )
        false_correct = d.passed.predicted - d.passed.true_positives
        return cls(name, d.passed.recall, 1.0 - false_correct / d.failed.support)


def _loop_step(p_cc: float, p_wc: float, critic: CriticModel) -> np.ndarray:
    """Transition matrix over (active correct, active incorrect, stopped correct, stopped incorrect)."""
    a, b = critic.tpr, 1.0 - critic.tnr  # P(stop | correct), P(stop | incorrect)
    return np.array(
        [
            [(1 - a) * p_cc, (1 - a) * (1 - p_cc), a, 0.0],
            [(1 - b) * p_wc, (1 - b) * (1 - p_wc), 0.0, b],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )


def loop_pass_curves(
    p_init: np.ndarray, p_cc: np.ndarray, p_wc: np.ndarray, tpr: np.ndarray, tnr: np.ndarray, attempts: int
) -> np.ndarray:
    """Expected Pass@1 after 0..attempts for many rate sets at once: an array (sets × attempts+1).

    The same chain as :func:`critic_loop_curve` (a critic judging Correct stops the loop), with
    each argument an array of one value per set (or a scalar).
    """
    p_init, p_cc, p_wc, tpr, tnr = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (p_init, p_cc, p_wc, tpr, tnr))
    )
    stop_c, stop_w = tpr, 1.0 - tnr
    active_c, active_w, kept_c = p_init.copy(), 1.0 - p_init, np.zeros_like(p_init)
    out = np.empty((*p_init.shape, attempts + 1))
    out[..., 0] = p_init
    for attempt in range(1, attempts + 1):
        kept_c = kept_c + stop_c * active_c
        revise_c, revise_w = (1.0 - stop_c) * active_c, (1.0 - stop_w) * active_w
        active_c, active_w = (
            revise_c * p_cc + revise_w * p_wc,
            revise_c * (1.0 - p_cc) + revise_w * (1.0 - p_wc),
        )
        out[..., attempt] = active_c + kept_c
    return out


def critic_loop_curve(
    p_init: float, p_cc: float, p_wc: float, critic: CriticModel, attempts: int
) -> pd.DataFrame:
    """Exact expected Pass@1 after 0..attempts critique→revision attempts (no sampling noise).

    Columns: attempt, pass@1, stopped (share stopped so far), c→i and i→c (share of all samples
    flipping at this attempt; 0 at attempt 0).
    """
    step = _loop_step(p_cc, p_wc, critic)
    state = np.array([p_init, 1.0 - p_init, 0.0, 0.0])
    rows = [{"attempt": 0, "pass@1": p_init, "stopped": 0.0, "c→i": 0.0, "i→c": 0.0}]
    for attempt in range(1, attempts + 1):
        c_to_i, i_to_c = state[0] * step[0, 1], state[1] * step[1, 0]
        state = state @ step
        rows.append(
            {
                "attempt": attempt,
                "pass@1": state[0] + state[2],
                "stopped": state[2] + state[3],
                "c→i": c_to_i,
                "i→c": i_to_c,
            }
        )
    return pd.DataFrame(rows)


def simulate_critic_loop(
    p_init: float,
    p_cc: float,
    p_wc: float,
    critic: CriticModel,
    attempts: int,
    n: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Monte Carlo version of :func:`critic_loop_curve` with ``n`` sampled chains (same columns)."""
    rng = np.random.default_rng(seed)
    correct = rng.random(n) < p_init
    stopped = np.zeros(n, dtype=bool)
    rows = [{"attempt": 0, "pass@1": correct.mean(), "stopped": 0.0, "c→i": 0.0, "i→c": 0.0}]
    for attempt in range(1, attempts + 1):
        judged_correct = np.where(correct, rng.random(n) < critic.tpr, rng.random(n) >= critic.tnr)
        stopped |= judged_correct
        revise = ~stopped
        draw = rng.random(n)
        new = np.where(correct, draw < p_cc, draw < p_wc)
        flips_down = revise & correct & ~new
        flips_up = revise & ~correct & new
        correct = np.where(revise, new, correct)
        rows.append(
            {
                "attempt": attempt,
                "pass@1": correct.mean(),
                "stopped": stopped.mean(),
                "c→i": flips_down.mean(),
                "i→c": flips_up.mean(),
            }
        )
    return pd.DataFrame(rows)


def critic_loop_limit(p_init: float, p_cc: float, p_wc: float, critic: CriticModel) -> float:
    """Long-run Pass@1 in closed form, NaN where no limit formula applies.

    A critic that never stops (tpr = 0, tnr = 1) leaves the plain chain: p*. Otherwise the stop
    states absorb and the limit is P(absorbed correct) = start · (I − Q)⁻¹ · R, Q the transient
    block of the chain and R its absorbing block; NaN when I − Q is singular (some state is
    never left, e.g. incorrect solutions the critic never accepts and the generator never fixes).
    """
    if critic.tpr == 0.0 and critic.tnr == 1.0:
        return stationary_pass(p_cc, p_wc)
    step = _loop_step(p_cc, p_wc, critic)
    transient, absorbing = step[:2, :2], step[:2, 2:]
    try:
        absorbed = np.linalg.solve(np.eye(2) - transient, absorbing)
    except np.linalg.LinAlgError:
        return math.nan
    if not np.allclose(absorbed.sum(axis=1), 1.0):
        return math.nan
    return float(np.array([p_init, 1.0 - p_init]) @ absorbed[:, 0])

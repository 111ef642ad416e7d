"""Compounding error with a critic in the loop.

Each attempt the critic judges the current solution; it says Correct on a correct solution with
probability ``tpr`` and Incorrect on an incorrect one with ``tnr``. "Correct" stops the loop (the
solution is kept); "Incorrect" triggers a revision, which moves correct→correct with p_cc and
incorrect→correct with p_wc. The plain chain is the critic that never says Correct (tpr 0,
tnr 1). :func:`critic_loop_curve` propagates the exact distribution; :func:`simulate_critic_loop`
samples it (Monte Carlo), and :func:`critic_loop_limit` is the closed-form long-run Pass@1 where
it exists.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from criticlab.analysis.markov import MarkovFit, stationary_pass
from criticlab.rollout import outcomes
from criticlab.rollout.trajectory import Trajectory, stops_when_correct


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


def compounding_error_curves(
    p_init: float, p_cc: float, p_wc: float, critics: Sequence[CriticModel], attempts: int = 20
) -> pd.DataFrame:
    """:func:`critic_loop_curve` per critic (weak vs strong), stacked; adds ``critic`` and ``limit``."""
    frames = [
        critic_loop_curve(p_init, p_cc, p_wc, c, attempts).assign(
            critic=c.name, limit=critic_loop_limit(p_init, p_cc, p_wc, c)
        )
        for c in critics
    ]
    out = pd.concat(frames, ignore_index=True)
    return out[["critic", *[c for c in out.columns if c != "critic"]]]


# --------------------------------------------------------------------------------------------
# The chain and the critics a run's trajectories give the simulation
# --------------------------------------------------------------------------------------------

ILLUSTRATIVE_CHAIN = (0.3, 0.9, 0.15)
"""(p_init, p_cc, p_wc) used when a run cannot estimate its own: a generator that solves 30% at
first, keeps a correct solution 90% of the time and fixes an incorrect one 15% of the time."""

REFERENCE_CRITICS = (CriticModel("weak critic", 0.55, 0.55), CriticModel("strong critic", 0.95, 0.95))
"""A critic barely better than a coin, and one right 95% of the time both ways."""


@dataclass(frozen=True)
class SimulationChain:
    """The chain the compounding-error simulation runs on, and where its rates came from."""

    p_init: float
    p_cc: float
    p_wc: float
    origin: str


def simulation_chain(fits: Mapping[str, MarkovFit]) -> SimulationChain:
    """The first revising method's measured rates; :data:`ILLUSTRATIVE_CHAIN` when there is none
    or its rates are not probabilities (too few transitions to estimate), the origin saying which."""
    if not fits:
        return SimulationChain(*ILLUSTRATIVE_CHAIN, "illustrative (no revising method in this run)")
    method, fit = next(iter(fits.items()))
    rates = (fit.p_init.value, fit.p_cc.value, fit.p_wc.value)
    if not all(0.0 <= v <= 1.0 for v in rates):  # NaN fails the comparison too
        return SimulationChain(*ILLUSTRATIVE_CHAIN, "illustrative (too few transitions to estimate)")
    return SimulationChain(*rates, f"measured ({method})")


def measured_critics(trajectories: Iterable[Trajectory]) -> tuple[list[CriticModel], dict[str, str]]:
    """Each critic that revises every round, as the stop/revise rates of its zero-shot judgments;
    and, per critic left out, why (it needs judged solutions that pass and that fail)."""
    critics, skipped = [], {}
    for name, (judgments, truth, excluded) in outcomes.judged_rounds(trajectories).items():
        if stops_when_correct(name) or not judgments:
            continue
        try:
            critics.append(CriticModel.from_discrimination(name, outcomes.discrimination(judgments, truth, excluded)))
        except ValueError as err:
            skipped[name] = str(err)
    return critics, skipped

"""Each critic's own compounding-error chain, estimated from its own trajectories.

A critic is an evaluation method that critiques and revises every round (self-critique,
execution feedback, a trained critic …). From its trajectories alone (infrastructure errors
left out):

- ``p_init``: share of samples correct at round 0;
- ``p_cc``, ``p_wc``: P(correct→correct), P(incorrect→correct), pooled over its revision steps;
- ``tpr``: P(judged Correct | the solution passes) over every critiqued round;
- ``tnr``: P(not judged Correct | the solution fails): an unparseable judgment does not stop a
  loop, so it counts as not Correct (as in :meth:`CriticModel.from_discrimination`).

Each rate has a Wilson interval on its counts. Two loops are simulated from them
(:func:`criticlab.analysis.compounding.loop_pass_curves`): ``revise every round`` — the loop the
method ran, which needs p_init, p_cc and p_wc — and ``stop at Correct`` — the loop that keeps a
solution once the critic judges it Correct, which needs all five. The simulated band is a
bootstrap over problems: all rates re-estimated on each resample of problems, the curve
recomputed, percentiles per attempt. Beside each simulated curve sits the critic's own observed
Pass@1 per round (the method itself for the first loop, ``<method>+stop`` for the second when
it ran).

A rate whose denominator is empty (say, no incorrect solution at round 0, so p_wc has nothing to
be estimated from) is reported as not estimable, with the count that is zero, and every loop that
needs it is skipped: no stand-in value fills the gap.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from criticlab import stats
from criticlab.analysis.compounding import CriticModel, critic_loop_limit, loop_pass_curves
from criticlab.analysis.markov import Rate
from criticlab.rollout import outcomes
from criticlab.rollout.trajectory import STOP_SUFFIX, Trajectory, revises_every_round

RATES = ("p_init", "p_cc", "p_wc", "tpr", "tnr")
"""The rates a critic's chain is simulated from, in the order of :attr:`CriticCounts.hits`' columns."""

REVISE, STOP = "revise every round", "stop at Correct"
LOOPS = {REVISE: RATES[:3], STOP: RATES}
"""Each simulated loop and the rates it needs."""

ESTIMATED = "estimated"


@dataclass(frozen=True)
class CriticCounts:
    """Per sample, the successes and trials behind each rate of one critic (samples × :data:`RATES`)."""

    critic: str
    rounds: int
    problem: np.ndarray
    """Problem index of each sample (for the bootstrap over problems)."""
    hits: np.ndarray
    totals: np.ndarray

    def rate(self, name: str, confidence: float = 0.95) -> Rate:
        """One rate with its Wilson interval; value and bounds NaN when it has no trials."""
        j = RATES.index(name)
        s, n = int(self.hits[:, j].sum()), int(self.totals[:, j].sum())
        lo, hi = stats.wilson_interval(s, n, confidence)
        return Rate(s / n if n else math.nan, lo, hi, s, n)

    def status(self, name: str) -> str:
        """``estimated``, or ``not estimable: …`` naming the count that is zero."""
        if self.totals[:, RATES.index(name)].sum() > 0:
            return ESTIMATED
        if name == "p_init":
            return "not estimable: no scored samples"
        if name in ("p_cc", "p_wc"):
            if self.rounds == 0:
                return "not estimable: no revision rounds"
            where = "round 0" if self.rounds == 1 else f"rounds 0–{self.rounds - 1}"
            kind = "correct" if name == "p_cc" else "incorrect"
            return f"not estimable: 0 {kind} solutions at {where}"
        kind = "pass" if name == "tpr" else "fail"
        return f"not estimable: 0 critiqued solutions that {kind}"


def critic_counts(trajectories: Iterable[Trajectory]) -> dict[str, CriticCounts]:
    """:class:`CriticCounts` of every method that revises every round, in order of appearance."""
    scored, _ = outcomes.split_infra(trajectories)
    out = {}
    for method, group in outcomes.by_method(scored).items():
        if not revises_every_round(method):
            continue
        rounds = outcomes.max_round(group)
        problem, correct = outcomes.correctness_matrix(group, rounds)
        before, after = correct[:, :-1], correct[:, 1:]
        hits = np.zeros((len(group), len(RATES)), dtype=np.int64)
        totals = np.zeros_like(hits)
        hits[:, 0], totals[:, 0] = correct[:, 0], 1
        hits[:, 1], totals[:, 1] = (before & after).sum(axis=1), before.sum(axis=1)
        hits[:, 2], totals[:, 2] = (~before & after).sum(axis=1), (~before).sum(axis=1)
        for i, t in enumerate(group):
            for rnd in t.rounds:
                if rnd.critique is None:
                    continue
                says_correct = (rnd.judgment or "").lower() == "correct"
                j = 3 if rnd.correct else 4
                totals[i, j] += 1
                hits[i, j] += says_correct if rnd.correct else not says_correct
        out[method] = CriticCounts(method, rounds, problem, hits, totals)
    return out


def critic_rate_table(counts: dict[str, CriticCounts], confidence: float = 0.95) -> pd.DataFrame:
    """One row per critic and rate: value, Wilson interval, successes, n and ``status``."""
    rows = []
    for critic, c in counts.items():
        for name in RATES:
            rate = c.rate(name, confidence)
            rows.append(
                {
                    "critic": critic,
                    "rate": name,
                    "value": rate.value,
                    "lo": rate.lo,
                    "hi": rate.hi,
                    "successes": rate.successes,
                    "n": rate.n,
                    "status": c.status(name),
                }
            )
    return pd.DataFrame(rows, columns=["critic", "rate", "value", "lo", "hi", "successes", "n", "status"])


def _loop_rates(rates: np.ndarray, loop: str) -> tuple[np.ndarray, ...]:
    """(p_init, p_cc, p_wc, tpr, tnr) columns for ``loop``: the revise loop never stops (tpr 0, tnr 1)."""
    p_init, p_cc, p_wc, tpr, tnr = (rates[..., j] for j in range(len(RATES)))
    if loop == REVISE:
        tpr, tnr = np.zeros_like(p_init), np.ones_like(p_init)
    return p_init, p_cc, p_wc, tpr, tnr


def _bootstrap_rates(c: CriticCounts, resamples: int, seed: int) -> np.ndarray:
    """Rates re-estimated on ``resamples`` resamples of problems (resamples × RATES; NaN for 0/0)."""
    problems = int(c.problem.max()) + 1 if len(c.problem) else 0
    num = np.zeros((problems, len(RATES)))
    den = np.zeros((problems, len(RATES)))
    np.add.at(num, c.problem, c.hits)
    np.add.at(den, c.problem, c.totals)
    return stats.bootstrap_ratio_replicates(num, den, resamples=resamples, seed=seed)


def _observed(group: list[Trajectory], confidence: float) -> list[dict[str, float | int]]:
    """Observed Pass@1 per round (stopped samples keep their solution) with a Wilson interval."""
    _, correct = outcomes.correctness_matrix(group, outcomes.max_round(group))
    rows = []
    for k in range(correct.shape[1]):
        hits = int(correct[:, k].sum())
        lo, hi = stats.wilson_interval(hits, len(correct), confidence)
        rows.append(
            {
                "attempt": k,
                "observed": hits / len(correct),
                "observed lo": lo,
                "observed hi": hi,
                "observed n": len(correct),
            }
        )
    return rows


@dataclass(frozen=True)
class Compounding:
    """Per-critic rates, simulated loops beside the observed chains, and the loops not simulated (why)."""

    rates: pd.DataFrame
    curves: pd.DataFrame
    skipped: dict[str, str]


CURVE_COLUMNS = [
    "critic",
    "loop",
    "attempt",
    "simulated",
    "lo",
    "hi",
    "resamples",
    "limit",
    "observed method",
    "observed",
    "observed lo",
    "observed hi",
    "observed n",
]


def compounding_by_critic(
    trajectories: Iterable[Trajectory],
    attempts: int,
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> Compounding:
    """Every critic simulated from its own rates (see the module docstring), with its observed chain.

    ``curves`` has a row per critic, loop and attempt 0..max(attempts, rounds observed); the
    simulated band (``lo``/``hi``) is the bootstrap over problems, from the ``resamples`` resamples
    in which every rate the loop needs could be estimated; ``observed*`` are empty where
    the loop did not run that far (or at all). ``skipped`` maps ``"<critic> · <loop>"`` to the
    rates that could not be estimated.
    """
    scored, _ = outcomes.split_infra(trajectories)
    groups = outcomes.by_method(scored)
    counts = critic_counts(scored)
    rates = critic_rate_table(counts, confidence)
    frames, skipped = [], {}
    alpha = (1.0 - confidence) / 2.0
    for critic, c in counts.items():
        replicates = _bootstrap_rates(c, resamples, seed)
        point = np.array([c.rate(name).value for name in RATES])
        for loop, needs in LOOPS.items():
            missing = [f"{name} {c.status(name)}" for name in needs if c.status(name) != ESTIMATED]
            if missing:
                skipped[f"{critic} · {loop}"] = "; ".join(missing)
                continue
            observed_method = critic if loop == REVISE else critic + STOP_SUFFIX
            observed = _observed(groups[observed_method], confidence) if observed_method in groups else []
            horizon = max(attempts, len(observed) - 1)
            curve = loop_pass_curves(*_loop_rates(point, loop), horizon)
            keep = np.isfinite(replicates[:, [RATES.index(n) for n in needs]]).all(axis=1)
            band = loop_pass_curves(*_loop_rates(replicates[keep], loop), horizon)
            lo = np.percentile(band, 100 * alpha, axis=0) if keep.any() else np.full(horizon + 1, math.nan)
            hi = (
                np.percentile(band, 100 * (1 - alpha), axis=0)
                if keep.any()
                else np.full(horizon + 1, math.nan)
            )
            model = CriticModel(critic, *(_loop_rates(point, loop)[3:]))
            limit = critic_loop_limit(point[0], point[1], point[2], model)
            frame = pd.DataFrame(
                {
                    "critic": critic,
                    "loop": loop,
                    "attempt": np.arange(horizon + 1),
                    "simulated": curve,
                    "lo": lo,
                    "hi": hi,
                    "resamples": int(keep.sum()),
                    "limit": limit,
                }
            )
            seen = pd.DataFrame(
                observed, columns=["attempt", "observed", "observed lo", "observed hi", "observed n"]
            )
            frame = frame.merge(seen, on="attempt", how="left")
            frame["observed method"] = np.where(frame["observed"].notna(), observed_method, "")
            frames.append(frame[CURVE_COLUMNS])
    curves = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CURVE_COLUMNS)
    return Compounding(rates, curves, skipped)

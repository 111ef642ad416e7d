"""The Markov view of repeated critique→revision.

Correctness across rounds is read as a two-state chain: a solution is correct with probability
p_init at round 0; a revision keeps a correct solution correct with p_cc and turns an incorrect
one correct with p_wc. Then p_{k+1} = p_k·p_cc + (1 − p_k)·p_wc, i.e.
p_k = p* + (p_init − p*)·(p_cc − p_wc)^k with the stationary p* = p_wc / (1 − p_cc + p_wc).
Rates are estimated from the transitions of :func:`criticlab.rollout.outcomes.transitions`
(stopped trajectories stay where they stopped unless ``stopped="drop"``), with Wilson intervals
(samples treated as independent) or a bootstrap over problems (respects samples of one problem
being correlated).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from criticlab import stats
from criticlab.rollout import outcomes
from criticlab.rollout.trajectory import Trajectory
from criticlab.stats import wilson_interval

Interval = Literal["wilson", "bootstrap"]


def markov_curve(p_init: float, p_cc: float, p_wc: float, rounds: int) -> np.ndarray:
    """Pass@1 of rounds 0..rounds under the chain: p_{k+1} = p_k·p_cc + (1 − p_k)·p_wc."""
    out = np.empty(rounds + 1)
    out[0] = p_init
    for k in range(rounds):
        out[k + 1] = out[k] * p_cc + (1.0 - out[k]) * p_wc
    return out


def stationary_pass(p_cc: float, p_wc: float) -> float:
    """The chain's fixed point p* = p_wc / (1 − p_cc + p_wc); NaN when undefined (p_cc=1, p_wc=0)."""
    denom = 1.0 - p_cc + p_wc
    return p_wc / denom if denom > 0 else math.nan


def markov_closed_form(p_init: float, p_cc: float, p_wc: float, k: int | np.ndarray) -> np.ndarray | float:
    """p_k = p* + (p_init − p*)·(p_cc − p_wc)^k: the curve without iterating (p* must exist)."""
    star = stationary_pass(p_cc, p_wc)
    return star + (p_init - star) * (p_cc - p_wc) ** np.asarray(k)


def simulate_chain(p_init: float, p_cc: float, p_wc: float, n: int, rounds: int, seed: int = 0) -> np.ndarray:
    """``n`` sampled chains of length rounds+1 as a bool matrix (for tests and power analyses)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, rounds + 1), dtype=bool)
    out[:, 0] = rng.random(n) < p_init
    for k in range(rounds):
        stay = rng.random(n)
        out[:, k + 1] = np.where(out[:, k], stay < p_cc, stay < p_wc)
    return out


@dataclass(frozen=True)
class Rate:
    """An estimated probability with its interval and the counts behind it."""

    value: float
    lo: float
    hi: float
    successes: int
    n: int


@dataclass(frozen=True)
class MarkovFit:
    """A time-homogeneous chain fitted to one method: rates pooled over all steps."""

    method: str
    p_init: Rate
    p_cc: Rate
    p_wc: Rate
    rounds: int

    @property
    def stationary(self) -> float:
        return stationary_pass(self.p_cc.value, self.p_wc.value)

    def curve(self, rounds: int | None = None) -> np.ndarray:
        """The chain's predicted Pass@1 for rounds 0..rounds, started at the observed p_init."""
        return markov_curve(
            self.p_init.value, self.p_cc.value, self.p_wc.value, self.rounds if rounds is None else rounds
        )


def _rates(
    successes: np.ndarray,
    totals: np.ndarray,
    problem: np.ndarray,
    per_sample: Sequence[tuple[np.ndarray, np.ndarray]],
    interval: Interval,
    confidence: float,
    resamples: int,
    seed: int,
) -> list[Rate]:
    """Rates successes[j]/totals[j] with intervals.

    ``per_sample`` holds, per rate, the (hit, at-risk) arrays over samples that the bootstrap needs.
    """
    if interval == "wilson":
        bounds = [wilson_interval(int(s), int(n), confidence) for s, n in zip(successes, totals)]
    elif interval == "bootstrap":
        problems = int(problem.max()) + 1 if problem.size else 0
        num = np.zeros((problems, len(per_sample)))
        den = np.zeros((problems, len(per_sample)))
        for j, (hit, risk) in enumerate(per_sample):
            np.add.at(num[:, j], problem, hit.astype(float))
            np.add.at(den[:, j], problem, risk.astype(float))
        lo, hi = stats.bootstrap_ratio(num, den, resamples=resamples, seed=seed, confidence=confidence)
        bounds = list(zip(lo.tolist(), hi.tolist()))
    else:
        raise ValueError(f"interval must be 'wilson' or 'bootstrap', got {interval!r}")
    return [
        Rate(s / n if n else math.nan, lo, hi, int(s), int(n))
        for s, n, (lo, hi) in zip(successes, totals, bounds)
    ]


def fit_chain(
    correct: np.ndarray,
    problem: np.ndarray | None = None,
    active: np.ndarray | None = None,
    *,
    method: str = "",
    interval: Interval = "wilson",
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> MarkovFit:
    """Maximum-likelihood p_init, p_cc, p_wc of a homogeneous chain from a samples × rounds bool matrix.

    p_cc = (c→c over all steps) / (steps starting correct), likewise p_wc. ``problem`` (sample →
    problem index) is only needed for bootstrap intervals (default: every sample its own problem);
    ``active`` (samples × steps) leaves out steps a sample did not take (default: all count).
    """
    correct = np.asarray(correct, dtype=bool)
    problem = np.arange(len(correct)) if problem is None else np.asarray(problem)
    before, after = correct[:, :-1], correct[:, 1:]
    take = np.ones_like(before) if active is None else np.asarray(active, dtype=bool)
    cc = (before & after & take).sum(axis=1)
    from_c = (before & take).sum(axis=1)
    wc = (~before & after & take).sum(axis=1)
    from_w = (~before & take).sum(axis=1)
    rates = _rates(
        np.array([correct[:, 0].sum(), cc.sum(), wc.sum()]),
        np.array([len(correct), from_c.sum(), from_w.sum()]),
        problem,
        [(correct[:, 0], np.ones(len(correct))), (cc, from_c), (wc, from_w)],
        interval,
        confidence,
        resamples,
        seed,
    )
    return MarkovFit(method, *rates, rounds=correct.shape[1] - 1)


def step_rates(
    correct: np.ndarray,
    problem: np.ndarray | None = None,
    active: np.ndarray | None = None,
    *,
    interval: Interval = "wilson",
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per step k→k+1: p_cc, p_wc and the correct→incorrect rate (1 − p_cc), each with an interval.

    Also ``c→i share``: correct→incorrect flips as a share of the samples taking the step (the
    per-step Δ↓). ``active`` as in :func:`fit_chain`.
    """
    correct = np.asarray(correct, dtype=bool)
    problem = np.arange(len(correct)) if problem is None else np.asarray(problem)
    take_all = np.ones((len(correct), max(correct.shape[1] - 1, 0)), dtype=bool)
    active = take_all if active is None else np.asarray(active, dtype=bool)
    rows = []
    for k in range(correct.shape[1] - 1):
        take = active[:, k]
        before, after = correct[:, k] & take, correct[:, k + 1] & take
        wrong = ~correct[:, k] & take
        cc, ci, wc = before & after, before & ~after, wrong & after
        rates = _rates(
            np.array([cc.sum(), wc.sum(), ci.sum()]),
            np.array([before.sum(), wrong.sum(), before.sum()]),
            problem,
            [(cc, before), (wc, wrong), (ci, before)],
            interval,
            confidence,
            resamples,
            seed,
        )
        row: dict[str, float | int] = {"round": k, "to_round": k + 1}
        for name, rate in zip(("p_cc", "p_wc", "c→i rate"), rates):
            row.update({name: rate.value, f"{name} lo": rate.lo, f"{name} hi": rate.hi})
        row.update(
            {
                "n_c": int(before.sum()),
                "n_w": int(wrong.sum()),
                "c→i share": ci.sum() / take.sum() if take.any() else math.nan,
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _matrices(
    trajectories: Iterable[Trajectory], rounds: int | None, stopped: outcomes.Stopped
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Per method (problem index, correctness matrix, active steps or None) of scored trajectories.

    Stopped trajectories carry their last solution in the matrix; with ``stopped="drop"`` the
    active mask leaves out the steps they did not take (as :func:`outcomes.transitions` does).
    """
    if stopped not in ("stay", "drop"):
        raise ValueError(f"stopped must be 'stay' or 'drop', got {stopped!r}")
    scored, _ = outcomes.split_infra(trajectories)
    out = {}
    for method, group in outcomes.by_method(scored).items():
        last = outcomes.max_round(group) if rounds is None else rounds
        problem, correct = outcomes.correctness_matrix(group, last)
        lengths = np.array([len(t.rounds) for t in group])
        active = None if stopped == "stay" else lengths[:, None] > np.arange(1, last + 1)[None, :]
        out[method] = (problem, correct, active)
    return out


def markov_fits(
    trajectories: Iterable[Trajectory],
    *,
    rounds: int | None = None,
    stopped: outcomes.Stopped = "stay",
    interval: Interval = "wilson",
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, MarkovFit]:
    """A pooled :class:`MarkovFit` per method (infrastructure errors excluded)."""
    return {
        method: fit_chain(
            correct,
            problem,
            active,
            method=method,
            interval=interval,
            confidence=confidence,
            resamples=resamples,
            seed=seed,
        )
        for method, (problem, correct, active) in _matrices(trajectories, rounds, stopped).items()
    }


def markov_table(
    trajectories: Iterable[Trajectory],
    *,
    rounds: int | None = None,
    stopped: outcomes.Stopped = "stay",
    interval: Interval = "wilson",
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per method and step: p_cc, p_wc and the correct→incorrect rate with intervals (compounding error)."""
    frames = []
    for method, (problem, correct, active) in _matrices(trajectories, rounds, stopped).items():
        table = step_rates(
            correct, problem, active, interval=interval, confidence=confidence, resamples=resamples, seed=seed
        )
        frames.append(table.assign(method=method))
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    return out[["method", *[c for c in out.columns if c != "method"]]]


def iteration_updown(
    trajectories: Iterable[Trajectory], *, rounds: int | None = None, confidence: float = 0.95
) -> pd.DataFrame:
    """Per method and iteration t ≥ 1: the unconditional Δ↑(t) and Δ↓(t), CTRL's Figure 4.

    Δ↓(t) is the share of *all* samples that are correct at round t−1 and incorrect at round t
    (Δ↑(t): incorrect then correct), the per-iteration form of critic-rl's
    ``scripts/plot_updown.py``, whose denominator is every sample. This is not the conditional
    P(c→i | c) of :func:`markov_table` (``c→i rate``), which divides by the samples correct at
    t−1. Stopped trajectories keep their last solution (they count, and never flip); infrastructure
    errors are left out. Columns: ``method, round, Δ↑, Δ↓, n`` and Wilson ``lo``/``hi`` bounds.
    """
    rows = []
    for method, (_, correct, _) in _matrices(trajectories, rounds, "stay").items():
        n = len(correct)
        for t in range(1, correct.shape[1]):
            before, after = correct[:, t - 1], correct[:, t]
            row: dict[str, float | int | str] = {"method": method, "round": t}
            for name, flips in (("Δ↑", ~before & after), ("Δ↓", before & ~after)):
                hits = int(flips.sum())
                lo, hi = wilson_interval(hits, n, confidence)
                row.update({name: hits / n if n else math.nan, f"{name} lo": lo, f"{name} hi": hi})
            row["n"] = n
            rows.append(row)
    return pd.DataFrame(rows)


def markov_prediction(
    trajectories: Iterable[Trajectory],
    *,
    rounds: int | None = None,
    stopped: outcomes.Stopped = "stay",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Observed Pass@1 per round (with a Wilson interval) against the pooled chain's prediction.

    The prediction starts at the observed round-0 Pass@1 and applies the pooled p_cc, p_wc; a
    gap between the two says the rates change with the round (e.g. later revisions help less).
    """
    rows = []
    for method, (problem, correct, active) in _matrices(trajectories, rounds, stopped).items():
        fit = fit_chain(correct, problem, active, method=method, confidence=confidence)
        predicted = fit.curve()
        for k in range(correct.shape[1]):
            hits = int(correct[:, k].sum())
            lo, hi = wilson_interval(hits, len(correct), confidence)
            rows.append(
                {
                    "method": method,
                    "round": k,
                    "observed": hits / len(correct),
                    "observed lo": lo,
                    "observed hi": hi,
                    "predicted": float(predicted[k]),
                    "n": len(correct),
                }
            )
    return pd.DataFrame(rows)

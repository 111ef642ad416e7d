"""Analysis of trajectories: the Markov view, compounding error, critique strategies, code similarity.

**Markov view.** Correctness across rounds is read as a two-state chain: a solution is correct
with probability p_init at round 0; a revision keeps a correct solution correct with p_cc and
turns an incorrect one correct with p_wc. Then p_{k+1} = p_k·p_cc + (1 − p_k)·p_wc, i.e.
p_k = p* + (p_init − p*)·(p_cc − p_wc)^k with the stationary p* = p_wc / (1 − p_cc + p_wc).
Rates are estimated from the transitions of :func:`criticlab.metrics.transitions` (stopped
trajectories stay where they stopped unless ``stopped="drop"``), with Wilson intervals (samples
treated as independent) or a bootstrap over problems (respects samples of one problem being
correlated).

**Compounding error with a critic.** Each attempt the critic judges the current solution; it says
Correct on a correct solution with probability ``tpr`` and Incorrect on an incorrect one with
``tnr``. "Correct" stops the loop (the solution is kept); "Incorrect" triggers a revision, which
moves correct→correct with p_cc and incorrect→correct with p_wc. The plain chain is the critic
that never says Correct (tpr 0, tnr 1). :func:`critic_loop_curve` propagates the exact
distribution; :func:`simulate_critic_loop` samples it (Monte Carlo), and :func:`critic_loop_limit`
is the closed-form long-run Pass@1 where it exists.

**Critique strategies.** A transparent rule-based classifier (every rule is a named regex, and
the result says which rules fired), and an optional LLM-judge mode over any :class:`Engine`.

**Code similarity.** Original vs revised code after AST normalization (canonical identifier
names, no docstrings or comments), difflib ratio over tokens; text fallback when code does not
parse.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import io
import math
import re
import tokenize
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
import pandas as pd

from criticlab import metrics
from criticlab.llm.base import Engine, SamplingParams
from criticlab.loop import Trajectory

Interval = Literal["wilson", "bootstrap"]

# --------------------------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (good near 0 and 1, unlike the normal one).

    NaN bounds when n is 0.
    """
    if n <= 0:
        return math.nan, math.nan
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at p = 0 or 1 the bound equals p exactly in theory; rounding must not leave p outside
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))


# --------------------------------------------------------------------------------------------
# The Markov chain: closed forms and simulation
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Estimating the chain
# --------------------------------------------------------------------------------------------


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
        lo, hi = metrics.bootstrap_ratio(num, den, resamples=resamples, seed=seed, confidence=confidence)
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
    trajectories: Iterable[Trajectory], rounds: int | None, stopped: metrics.Stopped
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Per method (problem index, correctness matrix, active steps or None) of scored trajectories.

    Stopped trajectories carry their last solution in the matrix; with ``stopped="drop"`` the
    active mask leaves out the steps they did not take (as :func:`metrics.transitions` does).
    """
    if stopped not in ("stay", "drop"):
        raise ValueError(f"stopped must be 'stay' or 'drop', got {stopped!r}")
    scored, _ = metrics.split_infra(trajectories)
    out = {}
    for method, group in metrics.by_method(scored).items():
        last = metrics.max_round(group) if rounds is None else rounds
        problem, correct = metrics.correctness_matrix(group, last)
        lengths = np.array([len(t.rounds) for t in group])
        active = None if stopped == "stay" else lengths[:, None] > np.arange(1, last + 1)[None, :]
        out[method] = (problem, correct, active)
    return out


def markov_fits(
    trajectories: Iterable[Trajectory],
    *,
    rounds: int | None = None,
    stopped: metrics.Stopped = "stay",
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
    stopped: metrics.Stopped = "stay",
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


def markov_prediction(
    trajectories: Iterable[Trajectory],
    *,
    rounds: int | None = None,
    stopped: metrics.Stopped = "stay",
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


# --------------------------------------------------------------------------------------------
# Compounding error: a critic deciding to stop or revise
# --------------------------------------------------------------------------------------------


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
    def from_discrimination(cls, name: str, d: metrics.Discrimination) -> CriticModel:
        """Rates of the stop decision measured on real verdicts.

        An unparseable verdict does not stop the loop, so it acts as "Incorrect": tpr is the
        passed-class recall, and tnr = 1 − (false Correct verdicts on failing solutions) / failing.
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
# Critique strategies
# --------------------------------------------------------------------------------------------

ALGORITHM, STATIC, DEBUGGING, TESTING, OTHER = (
    "algorithm_improvement",
    "static_analysis",
    "strategic_debugging",
    "dynamic_testing",
    "other",
)
STRATEGIES = (ALGORITHM, STATIC, DEBUGGING, TESTING, OTHER)
PRIORITY = (TESTING, DEBUGGING, ALGORITHM, STATIC)
"""Tie-break between labels with equally many rules fired: the specific strategies first, since
the vocabulary of static analysis ("the loop", "the condition") shows up in nearly every critique."""


@dataclass(frozen=True)
class StrategyRule:
    """One named regex that votes for a label."""

    name: str
    label: str
    pattern: re.Pattern[str]


def _rule(name: str, label: str, pattern: str) -> StrategyRule:
    return StrategyRule(name, label, re.compile(pattern, re.IGNORECASE))


RULES: tuple[StrategyRule, ...] = (
    _rule(
        "complexity",
        ALGORITHM,
        r"\bO\([^)]*\)|time complexity|\binefficien|too slow|time limit|times? out\b|timeout|brute[- ]force",
    ),
    _rule(
        "better_algorithm",
        ALGORITHM,
        r"\b(more efficient|better|optimal|faster|different|alternative|correct)"
        r" (approach|algorithm|method|strategy)"
        r"|dynamic programming|\bmemoi[sz]|binary search|two[- ]pointers?|prefix sums?|sliding window"
        r"|\bgreedy\b|\b(BFS|DFS|Dijkstra)\b|union[- ]find|segment tree|\bsieve\b",
    ),
    _rule(
        "rethink_approach",
        ALGORITHM,
        r"\brethink|fundamentally (wrong|flawed|incorrect)"
        r"|(approach|algorithm|logic) is (wrong|flawed|incorrect)"
        r"|start (over|fresh|from scratch)|(misunderst|misinterpret)\w* the problem",
    ),
    _rule(
        "code_location",
        STATIC,
        r"\bline \d+|\bon line\b|in the (loop|condition|function|return statement|base case)"
        r"|the variable `?\w+`?|the (if|else|while|for)[- ](statement|condition|loop|clause)",
    ),
    _rule(
        "bug_pattern",
        STATIC,
        r"off[- ]by[- ]one|index(ing)? error|out of (range|bounds)|\bsyntax\b|\btypo\b|\bundefined\b"
        r"|not (defined|initiali[sz]ed)|uninitiali[sz]ed|logic(al)? (error|mistake|flaw)"
        r"|wrong (operator|comparison|condition|index|variable)|integer division|overflow"
        r"|never (updated|incremented)",
    ),
    _rule(
        "edge_cases",
        STATIC,
        r"edge[- ]cases?|corner[- ]cases?|empty (list|string|input|array)|boundary (condition|case)s?",
    ),
    _rule(
        "print_debugging",
        DEBUGGING,
        r"print statements?|debug(ging)? (prints?|output|statements?)"
        r"|\badd (some )?(prints?|logging)\b|\blogging\b",
    ),
    _rule(
        "isolate_and_verify",
        DEBUGGING,
        r"\bisolate\b|narrow (it )?down|step[- ]by[- ]step|break (it|the (problem|code|function)) (down|into)"
        r"|intermediate (values?|results?|states?)|verify each (step|part|component|function)"
        r"|check (each|every) (step|part|component)",
    ),
    _rule("assertions", DEBUGGING, r"\bassert(ions?|s)?\b|sanity checks?"),
    _rule(
        "trace_execution",
        TESTING,
        r"\btrac(e|es|ed|ing)\b|walk(ing)? through|dry[- ]run"
        r"|simulat(e|ing) (the|this) (code|program|execution)"
        r"|let'?s (run|try|test)",
    ),
    _rule(
        "concrete_example",
        TESTING,
        r"(sample|example|test) (input|case)s?|for (the )?input\b|expected (output|result|value)"
        r"|(would|will|should) (output|print|return) [\w\[('\"-]|\b(returns?|outputs?|prints?|gives?) -?\d"
        r"|input `?\[",
    ),
    _rule(
        "run_tests",
        TESTING,
        r"(run|test)(ning)? (it|the code|the (solution|function|program)) (on|with|against)"
        r"|write (some )?(unit )?tests|(more|additional) test cases",
    ),
)


@dataclass(frozen=True)
class StrategyMatch:
    """The label of one critique and why: the decisive rule and every rule that fired with its text."""

    label: str
    rule: str
    fired: tuple[tuple[str, str, str], ...] = ()
    """(rule name, label, matched text) for each rule that matched, in rule order."""


def classify_strategy(critique: str, rules: Sequence[StrategyRule] = RULES) -> StrategyMatch:
    """Rule-based strategy label of one critique.

    Each rule that matches votes once for its label; the label with most votes wins, ties go by
    :data:`PRIORITY`; ``rule`` names the winning label's first rule that fired (``none`` for
    ``other``). Only the analysis text counts: the closing "Overall judgment" line is ignored.
    """
    text = re.sub(r"(?im)^\W*overall\s+judg(e)?ment\b.*$", "", critique or "")
    fired = []
    for rule in rules:
        match = rule.pattern.search(text)
        if match:
            fired.append((rule.name, rule.label, match.group(0)))
    if not fired:
        return StrategyMatch(OTHER, "none", ())
    votes = {label: sum(1 for _, lab, _ in fired if lab == label) for label in PRIORITY}
    best = max(PRIORITY, key=lambda label: (votes[label], -PRIORITY.index(label)))
    decisive = next(name for name, lab, _ in fired if lab == best)
    return StrategyMatch(best, decisive, tuple(fired))


def classify_strategies(critiques: Iterable[str]) -> list[StrategyMatch]:
    """:func:`classify_strategy` over many critiques (the rule mode; no model needed)."""
    return [classify_strategy(c) for c in critiques]


STRATEGY_JUDGE_PROMPT = """\
You will read a critique that a reviewer wrote about a candidate solution to a programming problem.
Decide which strategy the critique mainly uses to find problems in the code:

- algorithm_improvement: questions the overall approach or its efficiency and proposes a different \
or faster algorithm (complexity, data structures, dynamic programming, greedy, ...).
- static_analysis: reads the code and points at specific defects without running anything \
(a wrong condition, an off-by-one index, an unhandled edge case, a wrong variable).
- strategic_debugging: proposes a debugging procedure (adding prints or assertions, isolating a \
part, checking intermediate values step by step).
- dynamic_testing: runs or traces the code on concrete inputs and compares actual with expected \
outputs.
- other: none of the above (e.g. only a verdict, or only general remarks).

Critique:
<<<
{critique}
>>>

Answer with one short sentence of reasoning, then a last line exactly of the form
Strategy: <one of algorithm_improvement, static_analysis, strategic_debugging, dynamic_testing, other>"""

_LABEL_WORDS = {label: re.compile(label.replace("_", r"[\s_-]*"), re.IGNORECASE) for label in STRATEGIES}


def parse_strategy_answer(answer: str) -> str | None:
    """The label from a judge's answer: its last ``Strategy:`` line, else a single label named anywhere."""
    for line in reversed(answer.strip().splitlines()):
        if re.match(r"^\W*strategy\s*[:：]", line, re.IGNORECASE):
            named = [label for label, pattern in _LABEL_WORDS.items() if pattern.search(line)]
            return named[0] if len(named) == 1 else None
    named = [label for label, pattern in _LABEL_WORDS.items() if pattern.search(answer)]
    return named[0] if len(named) == 1 else None


def judge_strategies(
    critiques: Sequence[str],
    engine: Engine,
    sampling: SamplingParams | None = None,
    prompt: str = STRATEGY_JUDGE_PROMPT,
) -> list[StrategyMatch]:
    """LLM-judge labels: one greedy answer per critique; an unparseable answer becomes ``other``.

    ``rule`` is ``llm`` for a parsed answer and ``llm:unparsed`` otherwise; ``fired`` holds the
    raw answer so any label can be inspected.
    """
    sampling = sampling or SamplingParams(temperature=0.0, max_tokens=256)
    conversations = [[{"role": "user", "content": prompt.format(critique=c)}] for c in critiques]
    answers = engine.generate(conversations, sampling, n=1)
    out = []
    for row in answers:
        text = row[0].text if row and row[0].ok else ""
        label = parse_strategy_answer(text)
        out.append(
            StrategyMatch(
                label or OTHER, "llm" if label else "llm:unparsed", (("llm", label or OTHER, text),)
            )
        )
    return out


def critiques_by_method(
    trajectories: Iterable[Trajectory], rounds: Sequence[int] | None = None
) -> dict[str, list[str]]:
    """Critique texts per method (every critiqued round by default, or only ``rounds``)."""
    out: dict[str, list[str]] = {}
    for t in trajectories:
        for k, rnd in enumerate(t.rounds):
            if rnd.critique is not None and (rounds is None or k in rounds):
                out.setdefault(t.method, []).append(rnd.critique)
    return out


def strategy_distribution(labels: Mapping[str, Sequence[str]], normalize: bool = True) -> pd.DataFrame:
    """Rows: critics; columns: the strategies in fixed order; shares (or counts) of critiques; plus ``n``."""
    rows = []
    for critic, values in labels.items():
        counts = {label: sum(1 for v in values if v == label) for label in STRATEGIES}
        total = len(values)
        shares = {k: (v / total if total else math.nan) for k, v in counts.items()} if normalize else counts
        rows.append({"critic": critic, **shares, "n": total})
    return pd.DataFrame(rows, columns=["critic", *STRATEGIES, "n"])


@dataclass(frozen=True)
class Agreement:
    """Agreement of two labelings of the same items."""

    n: int
    percent: float
    kappa: float


def agreement(a: Sequence[str], b: Sequence[str]) -> Agreement:
    """Percent agreement and Cohen's kappa (chance-corrected) between two labelings.

    kappa = (p_o − p_e) / (1 − p_e); when chance agreement is already 1 (both used one and the
    same label throughout) kappa is 1 for full agreement and NaN otherwise.
    """
    if len(a) != len(b):
        raise ValueError(f"labelings differ in length: {len(a)} vs {len(b)}")
    n = len(a)
    if n == 0:
        return Agreement(0, math.nan, math.nan)
    observed = sum(x == y for x, y in zip(a, b)) / n
    labels = set(a) | set(b)
    expected = sum((list(a).count(label) / n) * (list(b).count(label) / n) for label in labels)
    if math.isclose(expected, 1.0):
        kappa = 1.0 if math.isclose(observed, 1.0) else math.nan
    else:
        kappa = (observed - expected) / (1.0 - expected)
    return Agreement(n, 100.0 * observed, kappa)


def compare_strategy_modes(
    critiques: Sequence[str],
    engine: Engine,
    sample: int = 50,
    seed: int = 0,
    sampling: SamplingParams | None = None,
) -> tuple[Agreement, pd.DataFrame]:
    """Rules vs LLM judge on a seeded random sample of critiques: their agreement and a row per critique.

    The table (critique, rule_label, rule, judge_label, judge_answer) is what a reader inspects to
    see where and why the two modes differ.
    """
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(len(critiques), size=min(sample, len(critiques)), replace=False).tolist())
    texts = [critiques[i] for i in picked]
    by_rules = classify_strategies(texts)
    by_judge = judge_strategies(texts, engine, sampling)
    table = pd.DataFrame(
        {
            "index": picked,
            "critique": texts,
            "rule_label": [m.label for m in by_rules],
            "rule": [m.rule for m in by_rules],
            "judge_label": [m.label for m in by_judge],
            "judge_answer": [m.fired[0][2] for m in by_judge],
        }
    )
    return agreement(table["rule_label"].tolist(), table["judge_label"].tolist()), table


# --------------------------------------------------------------------------------------------
# Code similarity between original and revised code
# --------------------------------------------------------------------------------------------

_BUILTINS = frozenset(dir(builtins))


class _Bindings(ast.NodeVisitor):
    """Names the code binds itself (assignments, defs, arguments), in source order; imports are API names."""

    def __init__(self) -> None:
        self.names: dict[str, None] = {}
        self.imported: set[str] = set()

    def _bind(self, name: str | None) -> None:
        if name and name not in self.names:
            self.names[name] = None

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            self._bind(node.id)

    def visit_arg(self, node: ast.arg) -> None:
        self._bind(node.arg)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._bind(node.name)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._bind(node.name)
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        self._bind(node.name)
        self.generic_visit(node)

    def visit_alias(self, node: ast.alias) -> None:
        self.imported.add((node.asname or node.name).split(".")[0])


class _Renamer(ast.NodeTransformer):
    """Renames bound names to v0, v1, ...; drops docstrings, bare strings and signature annotations."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = mapping

    def _new(self, name: str | None) -> str | None:
        return self.mapping.get(name, name) if name else name

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self._new(node.id) or node.id
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.arg = self._new(node.arg) or node.arg
        node.annotation = None
        return node

    def visit_keyword(self, node: ast.keyword) -> ast.keyword:
        node.arg = self._new(node.arg)
        self.generic_visit(node)
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.ExceptHandler:
        node.name = self._new(node.name)
        self.generic_visit(node)
        return node

    def visit_Global(self, node: ast.Global | ast.Nonlocal) -> ast.Global | ast.Nonlocal:
        node.names = [self._new(n) or n for n in node.names]
        return node

    visit_Nonlocal = visit_Global

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            node.name = self._new(node.name) or node.name
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None
        super().generic_visit(node)
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and all(isinstance(s, ast.stmt) for s in body):
            kept = [s for s in body if not _is_bare_string(s)]
            node.body = kept or [ast.Pass()]
        return node


def _is_bare_string(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def normalize_code(code: str) -> tuple[str, bool]:
    """``(normalized text, parsed)``: canonical names, no docstrings/comments/annotations, when it parses.

    Only names the code binds itself are renamed (in order of first binding), so calls into
    builtins, imported modules and attributes keep their names: ``len(xs)`` and ``len(ys)``
    become equal, ``len`` and ``sum`` do not. Code that does not parse comes back with comments
    and blank lines removed and ``parsed`` False.
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return strip_comments(code), False
    bindings = _Bindings()
    bindings.visit(tree)
    names = [n for n in bindings.names if n not in bindings.imported and n not in _BUILTINS]
    tree = _Renamer({name: f"v{i}" for i, name in enumerate(names)}).visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree)), True


def strip_comments(code: str) -> str:
    """The text fallback: drop ``#`` comments and blank lines (a ``#`` inside a string may be cut too)."""
    kept = [re.sub(r"(^|\s)#.*$", "", line).rstrip() for line in code.splitlines()]
    return "\n".join(line for line in kept if line.strip())


def code_tokens(text: str) -> list[str]:
    """Python tokens of ``text`` (layout tokens dropped); a regex split where tokenizing fails."""
    try:
        skip = {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.ENCODING, tokenize.ENDMARKER}
        return [t.string for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in skip]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return re.findall(r"\w+|[^\w\s]", text)


def code_similarity(a: str, b: str) -> tuple[float, bool]:
    """``(similarity in [0, 1], both parsed)``: difflib ratio of the normalized token sequences.

    When either side does not parse, both are compared as comment-stripped text tokens, so the
    pair is still scored and the flag says how.
    """
    norm_a, ok_a = normalize_code(a)
    norm_b, ok_b = normalize_code(b)
    parsed = ok_a and ok_b
    if not parsed:  # compare like with like: both sides as text
        norm_a, norm_b = strip_comments(a), strip_comments(b)
    tokens_a, tokens_b = code_tokens(norm_a), code_tokens(norm_b)
    if not tokens_a and not tokens_b:
        return 1.0, parsed
    return difflib.SequenceMatcher(None, tokens_a, tokens_b, autojunk=False).ratio(), parsed


def revision_similarity(trajectories: Iterable[Trajectory]) -> pd.DataFrame:
    """Similarity of each solution to its revision (round k vs k+1), per method (the critic).

    Pairs where either round has no extracted code are skipped. Columns: method, problem_id,
    sample, round, similarity, parsed, changed_correctness.
    """
    rows = []
    for t in trajectories:
        for k in range(len(t.rounds) - 1):
            before, after = t.rounds[k], t.rounds[k + 1]
            if before.code is None or after.code is None:
                continue
            ratio, parsed = code_similarity(before.code, after.code)
            rows.append(
                {
                    "method": t.method,
                    "problem_id": t.problem_id,
                    "sample": t.sample,
                    "round": k,
                    "similarity": ratio,
                    "parsed": parsed,
                    "changed_correctness": before.correct != after.correct,
                }
            )
    columns = ["method", "problem_id", "sample", "round", "similarity", "parsed", "changed_correctness"]
    return pd.DataFrame(rows, columns=columns)

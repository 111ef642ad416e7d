"""Evaluation metrics over trajectories: Pass@k, Δ↑/Δ↓ per round, discrimination tables,
pairwise accuracy and Maj@k. The counting rules shared with analysis are in
:mod:`criticlab.rollout.outcomes`; those of this module:

- **Shares.** Pass@1, Δ↑ and Δ↓ of the per-round table are shares of all scored samples of a method
  (pooled), so the identity holds exactly on counts. With the same number of samples per problem
  this equals the per-problem mean; :func:`pass_at_k_table` is the per-problem (Chen et al.) form.
  Its estimator, :func:`pass_at_k`, lives in :mod:`criticlab.stats` (06 uses it too) and is
  re-exported by :mod:`criticlab.evaluation`.
- **Confidence intervals** resample *problems* with replacement (all samples of a drawn problem come
  along), because samples of one problem are correlated; percentile intervals, seeded
  (:func:`criticlab.stats.bootstrap_ratio`).
- **Pairwise accuracy (Maj@k).** The response judged Correct more often wins; a tie counts as not
  correct (the headline, as JudgeBench counts it) and ½ in a secondary column. An unparseable
  judgment is not a Correct vote. Maj@k for k below the critiques per response averages over every
  choice of k critiques: the estimator of :mod:`criticlab.evaluation.majority`, which JudgeBench's
  Maj@k table uses too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from criticlab.evaluation.majority import TIES_HALF, Ties, pair_majority, tied_score
from criticlab.rollout.outcomes import (
    ALWAYS_CORRECT,
    by_method,
    correctness_matrix,
    discrimination,
    judged_rounds,
    max_round,
    split_infra,
)
from criticlab.rollout.trajectory import Trajectory
from criticlab.stats import (
    POOLED,
    bootstrap_interval,
    bootstrap_ratio,
    mean_pass_at_k,
    paired_bootstrap,
)

PASS, UP, DOWN = "pass@1", "Δ↑", "Δ↓"


ROUND_COLUMNS = ("method", "round", PASS, UP, DOWN, "n")


IDENTITY_TOLERANCE = 1e-9
"""Float slack of the Δ identity on shares (the identity on counts is checked exactly)."""


def pass_at_1(trajectories: Iterable[Trajectory], round: int | None = None) -> float:
    """Share of scored samples correct after ``round`` revisions (None: the final solution).

    Pools whatever it is given: pass one method's trajectories.
    """
    scored, _ = split_infra(trajectories)
    if not scored:
        return math.nan
    k = max_round(scored) if round is None else round
    return sum(t.correct_after(k) for t in scored) / len(scored)


def pass_at_k_table(
    trajectories: Iterable[Trajectory], ks: Sequence[int] = (1,), round: int | None = None
) -> pd.DataFrame:
    """Per method and k: the mean over problems of the unbiased pass@k of the ``round`` solutions.

    A problem with fewer than k scored samples has no unbiased estimate and is skipped for that
    k (``problems`` says how many were used).
    """
    scored, excluded = split_infra(trajectories)
    rows = []
    for method, group in by_method(scored).items():
        k_round = max_round(group) if round is None else round
        counts: dict[str, list[int]] = {}
        for t in group:
            counts.setdefault(t.problem_id, []).append(int(t.correct_after(k_round)))
        for k in ks:
            mean, problems = mean_pass_at_k(counts, k)
            rows.append(
                {
                    "method": method,
                    "round": k_round,
                    "k": k,
                    "pass@k": mean,
                    "problems": problems,
                    "excluded": excluded.get(method, 0),
                }
            )
    return pd.DataFrame(rows, columns=["method", "round", "k", "pass@k", "problems", "excluded"])


def round_table(
    trajectories: Iterable[Trajectory],
    *,
    rounds: int | None = None,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """One row per (method, round k): Pass@1(k), Δ↑(k), Δ↓(k) against round 0, n, and intervals.

    Columns: ``method, round, pass@1, Δ↑, Δ↓, n`` then ``<stat> lo``/``<stat> hi`` (bootstrap
    over problems; NaN when ``resamples`` is 0), ``problems``, ``excluded`` (infrastructure
    errors) and the integer counts ``correct``, ``up``, ``down`` behind the shares. ``rounds``
    (default: each method's last round) sets how far every method is tabulated; a method that
    ran fewer rounds keeps its last solutions. Every resample uses the same seed, so methods
    evaluated on the same problems get the same resampled problem sets (paired intervals).
    """
    scored, excluded = split_infra(trajectories)
    all_methods = list(dict.fromkeys([t.method for t in scored] + list(excluded)))
    groups = by_method(scored)
    rows = []
    for method in all_methods:
        group = groups.get(method, [])
        last = max_round(group) if rounds is None else rounds
        problem, correct = correctness_matrix(group, last)
        rows += _method_rows(method, problem, correct, excluded.get(method, 0), resamples, seed, confidence)
    columns = [
        *ROUND_COLUMNS,
        *(f"{s} {b}" for s in (PASS, UP, DOWN) for b in ("lo", "hi")),
        "problems",
        "excluded",
        "correct",
        "up",
        "down",
    ]
    return pd.DataFrame(rows, columns=columns)


def _method_rows(
    method: str,
    problem: np.ndarray,
    correct: np.ndarray,
    excluded: int,
    resamples: int,
    seed: int,
    confidence: float,
) -> list[dict]:
    n, width = correct.shape
    problems = int(problem.max()) + 1 if n else 0
    first = correct[:, :1]
    up, down = ~first & correct, first & ~correct
    # per-problem sums of each statistic at each round: shape problems × (3 · rounds)
    per_problem = np.zeros((problems, 3 * width))
    for j, matrix in enumerate((correct, up, down)):
        np.add.at(per_problem[:, j * width : (j + 1) * width], problem, matrix.astype(float))
    sizes = np.bincount(problem, minlength=problems).astype(float)
    lo, hi = bootstrap_ratio(per_problem, sizes, resamples=resamples, seed=seed, confidence=confidence)
    rows = []
    for k in range(width):
        counts = {
            "correct": int(correct[:, k].sum()),
            "up": int(up[:, k].sum()),
            "down": int(down[:, k].sum()),
        }
        share = {key: (value / n if n else math.nan) for key, value in counts.items()}
        row = {
            "method": method,
            "round": k,
            PASS: share["correct"],
            UP: share["up"],
            DOWN: share["down"],
            "n": n,
        }
        for j, stat in enumerate((PASS, UP, DOWN)):
            row[f"{stat} lo"] = float(lo[j * width + k])
            row[f"{stat} hi"] = float(hi[j * width + k])
        rows.append({**row, "problems": problems, "excluded": excluded, **counts})
    return rows


def _group_keys(table: pd.DataFrame) -> list[str]:
    """A table's rows belong to a method, per benchmark when it has a ``source`` column."""
    return ["source", "method"] if "source" in table.columns else ["method"]


def final_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The last round of each method (per benchmark when the table has one row set per source)."""
    last = table.groupby(_group_keys(table), sort=False)["round"].transform("max")
    return table[table["round"] == last].reset_index(drop=True)


class DeltaIdentityError(AssertionError):
    """A table breaks Pass@1(k) = Pass@1(0) + Δ↑ − Δ↓ (a bug in how it was computed or edited)."""


def check_delta_identity(table: pd.DataFrame, tolerance: float = IDENTITY_TOLERANCE) -> None:
    """Raise :class:`DeltaIdentityError` unless Pass@1(k) = Pass@1(0) + Δ↑ − Δ↓ on every row.

    Works on a full per-round table or a subset (e.g. :func:`final_rows`): every row implies
    Pass@1(0) = Pass@1 − Δ↑ + Δ↓, which must equal the method's round-0 Pass@1 (or, without a
    round-0 row, be the same on all its rows). When the integer counts are present the identity is
    also checked on them, exactly. Shares may be fractions or percentages (:func:`percent` marks
    its tables in ``attrs["scale"]``). An explicit raise, not an ``assert``, so it also runs
    under ``python -O``.
    """
    missing = {"method", "round", PASS, UP, DOWN} - set(table.columns)
    if missing:
        raise DeltaIdentityError(f"table lacks the columns {sorted(missing)}")
    scale = float(table.attrs.get("scale", 1.0))
    slack = tolerance * scale
    for key, rows in table.groupby(_group_keys(table), sort=False):
        method = " · ".join(map(str, key)) if isinstance(key, tuple) else key
        base = rows[rows["round"] == 0]
        if len(base) and (abs(base[UP].iloc[0]) > slack or abs(base[DOWN].iloc[0]) > slack):
            raise DeltaIdentityError(f"{method}: Δ↑/Δ↓ of round 0 must be 0")
        implied = (rows[PASS] - rows[UP] + rows[DOWN]).to_numpy(dtype=float)  # Pass@1(0) on every row
        reference = float(base[PASS].iloc[0]) if len(base) else float(implied[0])
        off = np.abs(implied - reference) > slack
        if off.any() and not math.isnan(reference):
            i = int(np.argmax(off))
            row = rows.iloc[i]
            raise DeltaIdentityError(
                f"{method}, round {int(row['round'])}: Pass@1={row[PASS]!r} but Pass@1(0)+Δ↑−Δ↓="
                f"{reference + row[UP] - row[DOWN]!r}"
            )
        if {"correct", "up", "down", "n"} <= set(rows.columns):
            counted = rows[
                rows[["correct", "up", "down", "n"]].notna().all(axis=1)
            ]  # averages have no counts
            if len(counted):
                _check_counts(str(method), counted, scale)


def _check_counts(method: str, rows: pd.DataFrame, scale: float) -> None:
    sizes = sorted(set(rows["n"].astype(int)))
    if len(sizes) != 1:
        raise DeltaIdentityError(f"{method}: rounds have different sample counts {sizes}")
    zero = (rows["correct"] - rows["up"] + rows["down"]).astype(int).to_numpy()
    if (zero != zero[0]).any():
        k = int(rows["round"].iloc[int(np.argmax(zero != zero[0]))])
        raise DeltaIdentityError(f"{method}, round {k}: correct ≠ correct(0) + up − down on counts")
    n = sizes[0]
    if (
        n
        and (
            np.abs(rows["correct"].to_numpy() / n * scale - rows[PASS].to_numpy())
            > IDENTITY_TOLERANCE * scale
        ).any()
    ):
        raise DeltaIdentityError(f"{method}: Pass@1 does not match correct / n")


def discrimination_table(
    trajectories: Iterable[Trajectory],
    rounds: Sequence[int] | None = (0,),
    *,
    resamples: int = 0,
    seed: int = 0,
    confidence: float = 0.95,
    always_correct: bool = False,
) -> pd.DataFrame:
    """One row per method with judged solutions: F1s, precision/recall, accuracy, n, unparseable, and
    ``macro F1 lo``/``hi``, a bootstrap interval over problems (NaN when ``resamples`` is 0).

    ``always_correct`` adds the :data:`ALWAYS_CORRECT` row: every zero-shot solution that any method
    judged, each (problem, sample) once, called Correct — the base rate a critic must beat (a critic
    that approves everything scores exactly it). It needs ``rounds=(0,)``: later rounds' solutions
    differ by method.
    """
    if always_correct and (rounds is None or tuple(rounds) != (0,)):
        raise ValueError(
            f"the {ALWAYS_CORRECT} row judges zero-shot solutions: it needs rounds=(0,), got {rounds}"
        )
    trajectories = list(trajectories)
    judged = judged_rounds(trajectories, rounds)
    per_problem = _judged_per_problem(trajectories, rounds)
    if always_correct:
        zero_shot = {
            (t.problem_id, t.sample): (t.problem_id, t.rounds[0].correct)
            for t in split_infra(trajectories)[0]
            if t.rounds and t.rounds[0].critique is not None
        }
        if zero_shot:
            judged[ALWAYS_CORRECT] = (["correct"] * len(zero_shot), [c for _, c in zero_shot.values()], 0)
            per_problem[ALWAYS_CORRECT] = _by_problem((pid, ("correct", c)) for pid, c in zero_shot.values())
    rows = []
    for method, (judgments, truth, excluded) in judged.items():
        if judgments:
            problems = per_problem[method]
            lo, hi = bootstrap_interval(
                _macro_f1(problems), len(problems), resamples=resamples, seed=seed, confidence=confidence
            )
            rows.append(
                {
                    "method": method,
                    **discrimination(judgments, truth, excluded).as_row(),
                    f"{MACRO_F1} lo": lo,
                    f"{MACRO_F1} hi": hi,
                }
            )
    return pd.DataFrame(rows)


def _judged_per_problem(
    trajectories: Sequence[Trajectory], rounds: Sequence[int] | None
) -> dict[str, list[list[tuple[str | None, bool]]]]:
    """Per method, the (judgment, execution truth) of its critiqued rounds grouped by problem, the unit
    the bootstrap draws (the rounds :func:`judged_rounds` counts)."""
    by = by_method(split_infra(trajectories)[0])
    return {
        method: _by_problem(
            (t.problem_id, (rnd.judgment, rnd.correct))
            for t in group
            for k, rnd in enumerate(t.rounds)
            if rnd.critique is not None and (rounds is None or k in rounds)
        )
        for method, group in by.items()
    }


def _by_problem(items: Iterable[tuple[str, tuple[str | None, bool]]]) -> list[list[tuple[str | None, bool]]]:
    groups: dict[str, list[tuple[str | None, bool]]] = {}
    for problem_id, pair in items:
        groups.setdefault(problem_id, []).append(pair)
    return list(groups.values())


@dataclass
class PairJudgments:
    """Judgments of k critiques on each response of a pair whose ``correct`` response passes."""

    pair_id: str
    correct: Sequence[str | None]
    """Judgments on the response that passes the tests, in critique order."""
    incorrect: Sequence[str | None]
    """Judgments on the response that fails."""
    meta: dict = field(default_factory=dict)


def pair_score(pair: PairJudgments, k: int | None = None, ties: Ties = "wrong") -> float:
    """The pair's Maj@k score: the chance that k of its critiques per response (every choice of k
    averaged) give the passing response more Correct votes; a tie counts per ``ties``
    (:func:`criticlab.evaluation.majority.majority_score`). ``k`` defaults to the fewer critiques."""
    if ties not in ("half", "wrong"):
        raise ValueError(f"ties must be 'half' or 'wrong', got {ties!r}")
    k = min(len(pair.correct), len(pair.incorrect)) if k is None else k
    if k < 1 or len(pair.correct) < k or len(pair.incorrect) < k:
        raise ValueError(
            f"pair {pair.pair_id!r}: need {k} critiques per response, has "
            f"{len(pair.correct)} and {len(pair.incorrect)}"
        )
    return tied_score(*pair_majority(pair.correct, pair.incorrect, k), ties)


def pairwise_accuracy(pairs: Sequence[PairJudgments], k: int | None = None, ties: Ties = "wrong") -> float:
    """Mean :func:`pair_score` over pairs (NaN with no pairs)."""
    if not pairs:
        return math.nan
    return float(np.mean([pair_score(p, k, ties) for p in pairs]))


MAJORITY_CURVE_COLUMNS = ("k", "accuracy", TIES_HALF, "ties", "n")


def majority_curve(pairs: Sequence[PairJudgments], max_k: int | None = None) -> pd.DataFrame:
    """Maj@k for k = 1..K: ``accuracy`` counts a tie as not correct (the headline), ``accuracy
    (ties ½)`` counts it ½, ``ties`` is the expected share of tied pairs; n pairs.

    K defaults to the fewest critiques any response has; each k averages over every choice of k
    critiques per response (:mod:`criticlab.evaluation.majority`, as JudgeBench's table).
    """
    if not pairs:
        return pd.DataFrame(columns=MAJORITY_CURVE_COLUMNS)
    available = min(min(len(p.correct), len(p.incorrect)) for p in pairs)
    last = available if max_k is None else max_k
    rows = []
    for k in range(1, last + 1):
        win, tie = np.array([pair_majority(p.correct, p.incorrect, k) for p in pairs]).T
        rows.append(
            dict(
                zip(
                    MAJORITY_CURVE_COLUMNS,
                    (k, float(win.mean()), float((win + 0.5 * tie).mean()), float(tie.mean()), len(pairs)),
                )
            )
        )
    return pd.DataFrame(rows, columns=MAJORITY_CURVE_COLUMNS)


def percent(df: pd.DataFrame, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """A copy with share columns ×100 as the paper reports them (default: Pass@1, Δ↑, Δ↓, intervals).

    The copy carries ``attrs["scale"] = 100`` so :func:`check_delta_identity` still checks it.
    """
    out = df.copy()
    wanted = (
        list(columns)
        if columns is not None
        else [c for c in df.columns if c.split(" ")[0] in (PASS, UP, DOWN)]
    )
    for column in wanted:
        out[column] = out[column] * 100.0
    out.attrs["scale"] = float(df.attrs.get("scale", 1.0)) * 100.0
    return out


# --------------------------------------------------------------------------------------------
# Per benchmark
# --------------------------------------------------------------------------------------------


def per_benchmark(
    table: Callable[..., pd.DataFrame],
    trajectories: Iterable[Trajectory],
    sources: Mapping[str, str],
    **options: Any,
) -> pd.DataFrame:
    """``table(trajectories, **options)`` once per benchmark, with a leading ``source`` column, and
    once more pooled (``source`` = :data:`POOLED`) when there is more than one benchmark.

    ``sources`` maps each problem id to its benchmark (:attr:`criticlab.data.types.Problem.source`);
    every trajectory's problem must be in it, so no sample is silently dropped.
    """
    trajectories = list(trajectories)
    unknown = sorted({t.problem_id for t in trajectories} - set(sources))
    if unknown:
        raise KeyError(f"no benchmark (source) for problem(s) {unknown[:5]}")
    groups: dict[str, list[Trajectory]] = {}
    for t in trajectories:
        groups.setdefault(sources[t.problem_id], []).append(t)
    if len(groups) > 1:
        groups[POOLED] = trajectories
    frames = [table(group, **options).assign(source=source) for source, group in groups.items()]
    out = pd.concat(frames, ignore_index=True) if frames else table([], **options).assign(source=[])
    out = out[["source", *(c for c in out.columns if c != "source")]]
    out.attrs.update(frames[0].attrs if frames else {})
    return out


AVERAGE = "average"
"""The ``source`` of rows that average over benchmarks, each benchmark counted once (CTRL Table 3's
"Average": 38.75 = (7.88 + 30.54 + 77.83) / 3 for zero-shot), beside the :data:`POOLED` rows."""


def benchmark_average(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with an :data:`AVERAGE` row set appended: per method (and round), the unweighted mean
    over benchmarks of Pass@1, Δ↑ and Δ↓, as CTRL's Table 3 averages its benchmarks.

    Only the per-benchmark rows count (not :data:`POOLED` nor earlier averages), and only methods
    present in every benchmark get an average (a mean over fewer benchmarks is not the paper's).
    With one benchmark nothing is added. The identity Pass@1(k) = Pass@1(0) + Δ↑ − Δ↓ still holds
    on the average rows (it is linear). They carry no sample counts (``correct``, ``up``, ``down``)
    nor interval; ``n`` and ``problems`` are the totals behind them.
    """
    if "source" not in table.columns:
        return table
    own = table[~table["source"].isin([POOLED, AVERAGE])]
    benchmarks = list(dict.fromkeys(own["source"]))
    if len(benchmarks) < 2:
        return table
    # a per-round table averages each round; a final-rows table (one row per benchmark and method)
    # averages each method's final rows, whose round may differ by benchmark for a +stop method
    per_round = "round" in own.columns and own.duplicated(["source", "method"]).any()
    keys = ["method", "round"] if per_round else ["method"]
    rows = []
    for key, group in own.groupby(keys, sort=False):
        if set(group["source"]) != set(benchmarks) or len(group) != len(benchmarks):
            continue
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = {"source": AVERAGE, **dict(zip(keys, key))}
        if "round" in group and not per_round:
            row["round"] = int(group["round"].max())
        row.update({stat: float(group[stat].mean()) for stat in (PASS, UP, DOWN) if stat in group})
        row.update({c: int(group[c].sum()) for c in ("n", "problems", "excluded") if c in group})
        rows.append(row)
    if not rows:
        return table
    out = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
    out.attrs.update(table.attrs)
    return out


def pooled_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows over every benchmark: the pooled ones, or all rows when there was one benchmark."""
    if "source" not in table.columns:
        return table
    sources = list(dict.fromkeys(s for s in table["source"] if s != AVERAGE))
    keep = POOLED if POOLED in sources else next(iter(sources), None)
    return table[table["source"] == keep].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Tested differences: every method against a baseline, on the same problems
# --------------------------------------------------------------------------------------------

MACRO_F1 = "macro F1"
DIFFERENCE_COLUMNS = (
    "method",
    "baseline",
    "statistic",
    "value",
    "baseline value",
    "difference",
    "lo",
    "hi",
    "excludes 0",
    "problems",
)


@dataclass
class _PerProblem:
    """One method's per-problem sums: samples, final correct, Δ↑, Δ↓, and round-0 judgments."""

    samples: np.ndarray
    correct: np.ndarray
    up: np.ndarray
    down: np.ndarray
    judged: list[list[tuple[str | None, bool]]]


def _per_problem(group: Sequence[Trajectory], ids: Sequence[str], rounds: int | None) -> _PerProblem:
    index = {pid: i for i, pid in enumerate(ids)}
    last = max_round(group) if rounds is None else rounds
    out = _PerProblem(*(np.zeros(len(ids)) for _ in range(4)), judged=[[] for _ in ids])
    for t in group:
        i = index[t.problem_id]
        before, after = t.correct_after(0), t.correct_after(last)
        out.samples[i] += 1
        out.correct[i] += after
        out.up[i] += after and not before
        out.down[i] += before and not after
        if t.rounds and t.rounds[0].critique is not None:
            out.judged[i].append((t.rounds[0].judgment, t.rounds[0].correct))
    return out


def _share(values: np.ndarray, samples: np.ndarray) -> Callable[[np.ndarray], float]:
    def statistic(index: np.ndarray) -> float:
        n = samples[index].sum()
        return float(values[index].sum() / n) if n else math.nan

    return statistic


def _macro_f1(judged: list[list[tuple[str | None, bool]]]) -> Callable[[np.ndarray], float]:
    def statistic(index: np.ndarray) -> float:
        pairs = [pair for i in index for pair in judged[i]]
        if not pairs:
            return math.nan
        return discrimination([j for j, _ in pairs], [c for _, c in pairs]).macro_f1

    return statistic


def difference_table(
    trajectories: Iterable[Trajectory],
    baseline: str,
    *,
    rounds: int | None = None,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Every method against ``baseline``: the paired difference of Pass@1, Δ↑, Δ↓ (final round) and
    of the macro F1 of round-0 judgments, with a bootstrap interval over the problems both ran.

    ``excludes 0`` marks a difference whose interval lies wholly on one side of zero. Methods are
    compared on their common problems only (``problems``), every sample of a problem drawn with it;
    infrastructure errors are left out as everywhere. F1 rows appear when both methods judged.
    """
    scored, _ = split_infra(trajectories)
    groups = by_method(scored)
    if baseline not in groups:
        return pd.DataFrame(columns=DIFFERENCE_COLUMNS)
    rows = []
    for method, group in groups.items():
        if method == baseline:
            continue
        common = {t.problem_id for t in group} & {t.problem_id for t in groups[baseline]}
        ids = sorted(common)
        ours = _per_problem([t for t in group if t.problem_id in common], ids, rounds)
        theirs = _per_problem([t for t in groups[baseline] if t.problem_id in common], ids, rounds)
        statistics = {
            PASS: (_share(ours.correct, ours.samples), _share(theirs.correct, theirs.samples)),
            UP: (_share(ours.up, ours.samples), _share(theirs.up, theirs.samples)),
            DOWN: (_share(ours.down, ours.samples), _share(theirs.down, theirs.samples)),
        }
        if any(ours.judged) and any(theirs.judged):
            statistics[MACRO_F1] = (_macro_f1(ours.judged), _macro_f1(theirs.judged))
        for name, (a, b) in statistics.items():
            d = paired_bootstrap(
                lambda index, a=a, b=b: (a(index), b(index)),
                len(ids),
                resamples=resamples,
                seed=seed,
                confidence=confidence,
            )
            rows.append(
                dict(
                    zip(
                        DIFFERENCE_COLUMNS,
                        (
                            method,
                            baseline,
                            name,
                            d.a,
                            d.b,
                            d.difference,
                            d.lo,
                            d.hi,
                            d.excludes_zero,
                            len(ids),
                        ),
                    )
                )
            )
    return pd.DataFrame(rows, columns=DIFFERENCE_COLUMNS)

"""Statistics every stage reports with: intervals, the "did it learn" rule, percentiles.

- :func:`wilson_interval` — a binomial share (rates, accuracies) with n samples;
- :func:`bootstrap_ratio` — a ratio of sums when *problems* are resampled (samples of one problem
  are correlated, so they are drawn together);
- :func:`quarter_means` and :func:`learning_check` — a training curve's first and last quarter
  and whether their difference exceeds twice its standard error (the rule notebooks 04–06 and
  their metrics records use);
- :func:`paired_bootstrap` — the difference of two methods' statistic on the same problems, with
  a percentile interval from resampling problems once for both (a paired comparison);
- :func:`percentile` — of timings, for the benchmarks;
- :func:`pass_at_k` — the unbiased pass@k of one problem's samples, and :func:`mean_pass_at_k`,
  its mean over a group's problems (07's tables and 06's comparison of CRL policies as code
  generators both use them), with :data:`POOLED` naming the group of every benchmark together;
- :func:`over_seeds` — mean, sample sd, min and max of one statistic over seeds (05's and 06's
  mean/sd rows);
- :func:`interleave` and :func:`round_robin` — orders whose every prefix spreads over groups
  (01's capped evaluation over benchmarks, 03's balanced rows over problems).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, TypeVar

import numpy as np


def quarter_means(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean of the first and last quarter of a curve, and the standard error of their difference.

    The "did it learn" number of a training curve: the difference is significant when it exceeds
    about two standard errors.
    """
    n = len(values)
    q = max(1, n // 4)
    first, last = list(values[:q]), list(values[-q:])

    def mean_var(xs: list[float]) -> tuple[float, float]:
        m = sum(xs) / len(xs)
        v = sum((x - m) ** 2 for x in xs) / (len(xs) - 1) if len(xs) > 1 else 0.0
        return m, v

    m1, v1 = mean_var(first)
    m2, v2 = mean_var(last)
    return m1, m2, math.sqrt(v1 / len(first) + v2 / len(last))


@dataclass(frozen=True)
class LearningCheck:
    """Did a training curve rise above its noise? Its first and last quarter, compared."""

    first_quarter: float
    last_quarter: float
    difference: float
    se: float
    """Standard error of the difference (the quarters' variances over their lengths)."""
    above_noise: bool
    """The difference exceeds ``z`` standard errors (2 by default)."""


def learning_check(curve: Sequence[float], z: float = 2.0) -> LearningCheck | None:
    """The "did it learn" rule: last quarter minus first quarter, against ``z`` standard errors.

    None for an empty curve. A curve that falls (a loss) is "above noise" when it rose, so pass
    the negated loss, or read ``difference`` for the direction.
    """
    if not curve:
        return None
    first, last, se = quarter_means(curve)
    return LearningCheck(first, last, last - first, se, (last - first) > z * se)


def bootstrap_ratio_replicates(
    numerators: np.ndarray,
    denominators: np.ndarray,
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """Replicates (resamples × statistics) of sum(num)/sum(den) when *problems* (rows) are resampled.

    ``numerators`` is problems × statistics, ``denominators`` problems × statistics (or problems).
    Each replicate draws as many problems as there are, with replacement, and keeps all of a drawn
    problem's samples, which respects the correlation between samples of one problem. A replicate
    whose denominator is 0 is NaN. Replicates are drawn in batches so memory stays bounded for large
    evaluations; an empty input or ``resamples <= 0`` gives an empty array.
    """
    num = np.asarray(numerators, dtype=float)
    num = num[:, None] if num.ndim == 1 else num
    den = np.asarray(denominators, dtype=float)
    den = np.broadcast_to(den[:, None] if den.ndim == 1 else den, num.shape)
    problems, columns = num.shape
    if problems == 0 or resamples <= 0:
        return np.empty((0, columns))
    rng = np.random.default_rng(seed)
    batch = max(1, 2_000_000 // problems)
    values = []
    for start in range(0, resamples, batch):
        b = min(batch, resamples - start)
        draws = rng.integers(0, problems, size=(b, problems)) + problems * np.arange(b)[:, None]
        weights = np.bincount(draws.ravel(), minlength=b * problems).reshape(b, problems)
        with np.errstate(invalid="ignore", divide="ignore"):
            values.append((weights @ num) / (weights @ den))
    return np.concatenate(values)


def bootstrap_ratio(
    numerators: np.ndarray,
    denominators: np.ndarray,
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of sum(num)/sum(den) when *problems* (rows) are resampled with replacement.

    The replicates are :func:`bootstrap_ratio_replicates`'; replicates with a 0 denominator are
    left out, and a statistic without any finite replicate gets NaN bounds.
    """
    replicates = bootstrap_ratio_replicates(numerators, denominators, resamples=resamples, seed=seed)
    if not len(replicates):
        columns = 1 if np.ndim(numerators) == 1 else np.shape(numerators)[1]
        nan = np.full(columns, math.nan)
        return nan, nan.copy()
    alpha = (1.0 - confidence) / 2.0
    lo, hi = [], []
    for column in replicates.T:  # nanpercentile warns on all-nan columns; keep it quiet and explicit
        finite = column[np.isfinite(column)]
        lo.append(np.percentile(finite, 100 * alpha) if finite.size else math.nan)
        hi.append(np.percentile(finite, 100 * (1 - alpha)) if finite.size else math.nan)
    return np.array(lo), np.array(hi)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): P(at least one of k draws without replacement is correct).

    1 − C(n−c, k) / C(n, k), computed as a product so large n does not overflow.
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


POOLED = "pooled"
"""The group name of rows that pool every sample (problem, pair) of every benchmark, beside the
per-benchmark rows (07's tables, 06's code scores, JudgeBench's categories). A pooled row weights
each benchmark by its samples; it is not CTRL Table 3's "Average", which is the unweighted mean over
benchmarks (:data:`criticlab.evaluation.AVERAGE`)."""


def mean_pass_at_k(per_problem: Mapping[Any, Sequence[bool]], k: int) -> tuple[float, int]:
    """``(mean, problems)``: the mean over problems of :func:`pass_at_k` of each problem's sample
    outcomes, and how many problems it averaged. A problem with fewer than ``k`` samples has no
    unbiased estimate and is left out; NaN when none is left."""
    values = [pass_at_k(len(v), sum(v), k) for v in per_problem.values() if len(v) >= k]
    return (float(np.mean(values)) if values else math.nan), len(values)


@dataclass(frozen=True)
class SeedSpread:
    """One statistic over seeds: mean, sample standard deviation (ddof 1; NaN for one seed), min,
    max, and how many seeds had a value."""

    mean: float
    sd: float
    min: float
    max: float
    seeds: int


def over_seeds(values: Iterable[float], *, skip_nan: bool = True) -> SeedSpread:
    """:class:`SeedSpread` of one statistic's values, one per seed.

    ``skip_nan`` leaves out seeds without the statistic (e.g. no held-out prompts); without it a
    NaN makes every field but ``seeds`` NaN, so a table never shows a mean that silently dropped a
    seed. The mean is :func:`statistics.fmean` and the sd :func:`statistics.stdev`."""
    values = [float(v) for v in values]
    if not skip_nan and any(math.isnan(v) for v in values):
        return SeedSpread(math.nan, math.nan, math.nan, math.nan, len(values))
    values = [v for v in values if not math.isnan(v)]
    return SeedSpread(
        mean=statistics.fmean(values) if values else math.nan,
        sd=statistics.stdev(values) if len(values) > 1 else math.nan,
        min=min(values, default=math.nan),
        max=max(values, default=math.nan),
        seeds=len(values),
    )


T = TypeVar("T")


def interleave(queues: Iterable[Sequence[T]], limit: int | None = None) -> list[T]:
    """The first item of every queue, then the second of every queue that has one, and so on (at
    most ``limit`` items): every prefix spreads over the queues as evenly as their lengths allow."""
    kept = [q for q in queues if len(q)]
    depth = max((len(q) for q in kept), default=0)
    out = [q[level] for level in range(depth) for q in kept if level < len(q)]
    return out if limit is None else out[:limit]


def round_robin(members: Sequence[T], group: Callable[[T], str], rng: random.Random) -> list[T]:
    """``members`` reordered so that every prefix spreads over the groups: the groups in a seeded
    order, each group's members shuffled, then :func:`interleave` (the first member of every group,
    the second of every group that has one, and so on)."""
    groups: dict[str, list[T]] = {}
    for member in members:
        groups.setdefault(group(member), []).append(member)
    names = sorted(groups)
    rng.shuffle(names)
    for name in names:
        rng.shuffle(groups[name])
    return interleave(groups[name] for name in names)


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


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    data = sorted(values)
    position = (len(data) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (position - low)


@dataclass(frozen=True)
class Difference:
    """A paired difference ``a − b`` with its bootstrap interval."""

    a: float
    b: float
    difference: float
    lo: float
    hi: float

    @property
    def excludes_zero(self) -> bool:
        """The interval lies wholly above or below 0: the gap is beyond resampling noise."""
        return (self.lo > 0 or self.hi < 0) and not math.isnan(self.lo)


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    problems: int,
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile interval of ``statistic(index)`` when the problems ``index`` are drawn with replacement.

    For statistics that are not a ratio of per-problem sums (e.g. a macro F1 over the judgments of
    the drawn problems); ratios have the vectorised :func:`bootstrap_ratio`. Replicates that are
    undefined (NaN) are left out; NaN bounds when there is no problem, no resample or no defined
    replicate.
    """
    nan = math.nan
    if problems == 0 or resamples <= 0:
        return nan, nan
    rng = np.random.default_rng(seed)
    values = np.asarray(
        [statistic(rng.integers(0, problems, size=problems)) for _ in range(resamples)], dtype=float
    )
    values = values[np.isfinite(values)]
    if not values.size:
        return nan, nan
    alpha = (1.0 - confidence) / 2.0
    return float(np.percentile(values, 100 * alpha)), float(np.percentile(values, 100 * (1 - alpha)))


def paired_bootstrap(
    statistic: Callable[[np.ndarray], tuple[float, float]],
    problems: int,
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Difference:
    """The difference of two statistics computed on the same problems, and its percentile interval.

    ``statistic(index)`` returns the two methods' values ``(a, b)`` on the problems ``index``
    (with repeats). Each replicate draws as many problems as there are, with replacement, and
    hands the same draw to both methods, so what the problems share (their difficulty) cancels in
    the difference. Replicates whose difference is undefined (NaN) are left out of the interval.
    """
    a, b = statistic(np.arange(problems))

    def difference(index: np.ndarray) -> float:
        ra, rb = statistic(index)
        return ra - rb

    lo, hi = bootstrap_interval(difference, problems, resamples=resamples, seed=seed, confidence=confidence)
    return Difference(a, b, a - b, lo, hi)

"""The critic as a selector (Best-of-N): choose, among N sampled solutions, one the critic judges Correct.

This is what a critic or verifier is used for at test time, and unlike Δ↑ it needs no repair:
a critic that tells passing from failing code raises the Pass@1 of the chosen solution above the
mean Pass@1 of the samples even when the generator cannot fix anything.

For each problem, ``M`` zero-shot solutions are drawn once and each is judged with ``k`` critiques.
Best-of-N for ``N ≤ M``:

- **score** — a solution's Correct judgments among its ``k`` (a critique without a judgment is no
  Correct vote); the selector takes a solution with the highest score, ties broken uniformly at
  random. ``always-Correct`` scores every solution alike, so it is random choice.
- **selected Pass@1** — the chance that the chosen solution passes, averaged over every N-subset of
  the M solutions and over the random tie-break, computed exactly (no tie-break draw adds noise; a
  seeded draw would estimate the same number).
- **random Pass@1** — the mean pass rate of the solutions (what a random choice gets, at any N).
- **pass@N** — the chance that some solution of the N passes (the unbiased estimator): the oracle,
  what a perfect selector gets.

Intervals resample problems (95%); ``selected − random`` is a paired bootstrap: one draw of
problems serves both, so the problems' difficulty cancels.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from criticlab.data.types import Problem
from criticlab.llm.base import Engine, SamplingParams
from criticlab.rollout import prompts
from criticlab.rollout.trajectory import Trajectory
from criticlab.stats import bootstrap_interval, paired_bootstrap, pass_at_k

Style = Literal["critique", "conclusion"]
STYLES: tuple[str, ...] = ("critique", "conclusion")
ALWAYS_CORRECT = "always-Correct"
"""The selector that approves everything: random choice among the N solutions."""
MAX_SUBSETS = 2000
"""Above this many N-subsets of a problem's solutions, a seeded sample of them is averaged."""
COLUMNS = [
    "critic",
    "N",
    "problems",
    "selected",
    "selected lo",
    "selected hi",
    "random",
    "random lo",
    "random hi",
    "pass@N",
    "selected − random",
    "difference lo",
    "difference hi",
    "excludes 0",
    "excluded",
]


@dataclass(frozen=True)
class Judged:
    """One solution, whether it passed its tests, and one critic's judgments of it."""

    critic: str
    problem_id: str
    sample: int
    passed: bool
    judgments: tuple[str | None, ...]
    infra: bool = False

    @property
    def score(self) -> int:
        return sum(j == "correct" for j in self.judgments)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Judged:
        return cls(**{**row, "judgments": tuple(row["judgments"])})


def solutions(pool: Iterable[Trajectory]) -> list[Trajectory]:
    """The pool's solutions with code whose run met no infrastructure failure (those are left out)."""
    return [t for t in pool if t.rounds and not t.rounds[0].result.is_infra_error]


def judge(
    name: str,
    pool: Sequence[Trajectory],
    problems: Sequence[Problem],
    critic: Engine,
    sampling: SamplingParams,
    k: int,
    parser: prompts.ParserRule = "workbook",
    style: Style = "critique",
) -> list[Judged]:
    """``k`` judgments of every pooled solution by ``critic``: CTRL's critique ending in "Overall
    judgment" (``style="critique"``) or Critique-Coder's answer ending in ``\\conclusion{T|F}``
    (``"conclusion"``, how a CRL-trained policy judges), read by ``parser``."""
    if style not in STYLES:
        raise ValueError(f"judging style {style!r}: one of {', '.join(STYLES)}")
    by_id = {p.id: p for p in problems}
    pool = solutions(pool)
    conversation = prompts.crl_conversation if style == "conclusion" else prompts.critique_conversation
    convs = [
        conversation(
            by_id[t.problem_id], t.rounds[0].code if t.rounds[0].code is not None else t.rounds[0].response
        )
        for t in pool
    ]
    rows = critic.generate(convs, sampling, n=k) if convs else []
    return [
        Judged(
            name,
            t.problem_id,
            t.sample,
            t.rounds[0].result.accepted,
            tuple(read_judgment(c.text, style, parser) for c in row),
        )
        for t, row in zip(pool, rows)
    ]


def read_judgment(text: str, style: Style, parser: prompts.ParserRule = "workbook") -> str | None:
    """``correct``, ``incorrect`` or None, whichever way the judge was asked."""
    if style == "critique":
        return prompts.parse_judgment(text, parser)
    conclusion = prompts.parse_conclusion(text, parser)
    return None if conclusion is None else ("correct" if conclusion == "T" else "incorrect")


def judge_spec(entry: str) -> tuple[str, Style]:
    """An ``evaluation.selection_judges`` entry → (model, style): ``conclusion:<model>`` asks the
    model in Critique-Coder's format, a bare ``<model>`` for a CTRL critique."""
    prefix = "conclusion:"
    return (entry[len(prefix) :], "conclusion") if entry.startswith(prefix) else (entry, "critique")


def always_correct(pool: Sequence[Trajectory]) -> list[Judged]:
    """The base-rate selector's judgments: every solution Correct."""
    return [
        Judged(ALWAYS_CORRECT, t.problem_id, t.sample, t.rounds[0].result.accepted, ("correct",))
        for t in solutions(pool)
    ]


def selected_pass(passed: Sequence[bool], scores: Sequence[float], n: int, seed: int = 0) -> float:
    """The chance that Best-of-``n`` picks a passing solution: over every ``n``-subset of the
    solutions (a seeded sample of :data:`MAX_SUBSETS` when there are more), the share of passing
    solutions among the subset's top-scored ones, averaged. NaN when there are fewer than ``n``."""
    m = len(passed)
    if n < 1 or m < n:
        return math.nan
    if math.comb(m, n) <= MAX_SUBSETS:
        subsets: Iterable[tuple[int, ...]] = itertools.combinations(range(m), n)
    else:
        rng = random.Random(seed)
        subsets = [tuple(rng.sample(range(m), n)) for _ in range(MAX_SUBSETS)]
    shares = []
    for subset in subsets:
        top = max(scores[i] for i in subset)
        best = [i for i in subset if scores[i] == top]
        shares.append(sum(passed[i] for i in best) / len(best))
    return float(np.mean(shares))


@dataclass(frozen=True)
class _Problem:
    selected: float
    random: float
    oracle: float


def _per_problem(judged: Sequence[Judged], n: int, seed: int) -> dict[str, _Problem]:
    groups: dict[str, list[Judged]] = {}
    for j in judged:
        if not j.infra:
            groups.setdefault(j.problem_id, []).append(j)
    out = {}
    for pid, group in groups.items():
        group.sort(key=lambda j: j.sample)
        passed = [j.passed for j in group]
        if len(passed) < n:
            continue
        out[pid] = _Problem(
            selected_pass(passed, [j.score for j in group], n, seed),
            float(np.mean(passed)),
            pass_at_k(len(passed), sum(passed), n),
        )
    return out


def selection_table(
    judged: Iterable[Judged], ns: Sequence[int], *, resamples: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Per critic and N: selected Pass@1, random Pass@1 and pass@N over problems, with intervals;
    ``selected − random`` with its paired interval. Problems with fewer than N usable solutions
    are left out of that N (counted in ``excluded``)."""
    by_critic: dict[str, list[Judged]] = {}
    for j in judged:
        by_critic.setdefault(j.critic, []).append(j)
    rows = []
    for critic, group in by_critic.items():
        problems = {j.problem_id for j in group}
        for n in ns:
            per = list(_per_problem(group, n, seed).values())
            if not per:
                rows.append({"critic": critic, "N": n, "problems": 0, "excluded": len(problems)})
                continue
            selected = np.array([p.selected for p in per])
            chance = np.array([p.random for p in per])
            options = {"resamples": resamples, "seed": seed}
            diff = paired_bootstrap(
                lambda i, a=selected, b=chance: (float(a[i].mean()), float(b[i].mean())), len(per), **options
            )
            rows.append(
                {
                    "critic": critic,
                    "N": n,
                    "problems": len(per),
                    "selected": diff.a,
                    **_interval("selected", selected, options),
                    "random": diff.b,
                    **_interval("random", chance, options),
                    "pass@N": float(np.mean([p.oracle for p in per])),
                    "selected − random": diff.difference,
                    "difference lo": diff.lo,
                    "difference hi": diff.hi,
                    "excludes 0": diff.excludes_zero,
                    "excluded": len(problems) - len(per),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def _interval(name: str, values: np.ndarray, options: dict[str, int]) -> dict[str, float]:
    lo, hi = bootstrap_interval(lambda i: float(values[i].mean()), len(values), **options)
    return {f"{name} lo": lo, f"{name} hi": hi}

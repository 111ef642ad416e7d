"""What trajectories show, round by round: correctness, transitions, and how well critics judged.

Shared by evaluation (07) and analysis (08), which read the same matrices and judgments.
Counting rules:

- **Infrastructure errors.** A trajectory with an infrastructure error in *any* of its rounds
  (:attr:`ExecResult.is_infra_error`, e.g. a sandbox crash) says nothing about the model, so it is
  left out of every metric of its method, and the number left out is reported (``excluded``).
  Dropping the whole trajectory rather than single rounds keeps one sample set per method, which is
  what makes Pass@1(k) = Pass@1(0) + Δ↑ − Δ↓ hold exactly.
- **Rounds.** Round 0 is the zero-shot solution; round k is the solution after k revisions. A
  trajectory that stopped early (its critic judged it Correct) keeps its last solution in later
  rounds (:meth:`Trajectory.correct_after`), in Pass@1 and in transitions (``stopped="stay"``).
- **Discrimination.** A critique without a parseable judgment is never a true positive: it counts
  against the recall of its true class, is in no class's precision, and is reported as
  ``unparseable``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from criticlab.rollout.trajectory import Trajectory

ALWAYS_CORRECT = "always-Correct"
"""The base-rate judge: calls every solution Correct (its macro F1 is what approving everything
scores). 07 reports it beside every critic; the critic choice on the held-out prompts too."""

Stopped = Literal["stay", "drop"]


def split_infra(trajectories: Iterable[Trajectory]) -> tuple[list[Trajectory], Counter[str]]:
    """Scored trajectories, and per method how many were left out for an infrastructure error."""
    scored, excluded = [], Counter()
    for t in trajectories:
        if t.has_infra_error:
            excluded[t.method] += 1
        else:
            scored.append(t)
    return scored, excluded


def by_method(trajectories: Iterable[Trajectory]) -> dict[str, list[Trajectory]]:
    """Trajectories grouped by method, methods in order of first appearance (the caller's order)."""
    groups: dict[str, list[Trajectory]] = {}
    for t in trajectories:
        groups.setdefault(t.method, []).append(t)
    return groups


def max_round(trajectories: Sequence[Trajectory]) -> int:
    """The last round any of the trajectories reached (0 for zero-shot only)."""
    return max((len(t.rounds) - 1 for t in trajectories), default=0)


def correctness_matrix(trajectories: Sequence[Trajectory], rounds: int) -> tuple[np.ndarray, np.ndarray]:
    """``(problem index per sample, bool matrix samples × (rounds + 1))`` with stopped ones carried.

    Problems are indexed in sorted id order so that resampling is reproducible whatever the order
    the trajectories came in.
    """
    ids = sorted({t.problem_id for t in trajectories})
    index = {pid: i for i, pid in enumerate(ids)}
    problem = np.array([index[t.problem_id] for t in trajectories], dtype=np.int64)
    correct = np.array([[t.correct_after(k) for k in range(rounds + 1)] for t in trajectories], dtype=bool)
    return problem, correct.reshape(len(trajectories), rounds + 1)


TRANSITIONS = ("c→c", "c→i", "i→c", "i→i")
"""A revision's effect on correctness: c = correct, i = incorrect, before→after. The one spelling
of transitions in tables, plots and the trajectory browser."""
TRANSITION_NAMES = {
    "c→c": "correct→correct",
    "c→i": "correct→incorrect",
    "i→c": "incorrect→correct",
    "i→i": "incorrect→incorrect",
}
"""How a reader-facing label spells each transition out."""


def transition_of(before: bool, after: bool) -> str:
    """The transition from a solution's correctness to its revision's (``c→i`` …)."""
    return f"{'c' if before else 'i'}→{'c' if after else 'i'}"


def transition_counts(correct: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
    """Counts per step k→k+1 of (c→c, c→i, i→c, i→i) from a samples × rounds bool matrix.

    ``active[s, k]`` (same shape minus one column) says whether sample s takes part in step k;
    None means all do.
    """
    correct = np.asarray(correct, dtype=bool)
    before, after = correct[:, :-1], correct[:, 1:]
    mask = np.ones_like(before) if active is None else np.asarray(active, dtype=bool)
    cells = [before & after, before & ~after, ~before & after, ~before & ~after]
    return np.stack([(cell & mask).sum(axis=0) for cell in cells], axis=1)


def transitions(
    trajectories: Iterable[Trajectory], *, rounds: int | None = None, stopped: Stopped = "stay"
) -> pd.DataFrame:
    """Per method and step k→k+1: counts of c→c, c→i, i→c, i→i and n.

    ``stopped="stay"`` (default): a trajectory that stopped early keeps its last solution, so it
    adds c→c (or i→i) to later steps; with it, Pass@1(k+1) = Pass@1(k) + (i→c − c→i)/n, consistent
    with :func:`round_table`. ``stopped="drop"``: only trajectories that really have round k+1
    count at step k (the rates of actual revisions). ``carried`` counts the trajectories without
    round k+1 (kept under "stay", left out under "drop"). Infrastructure errors are excluded.
    """
    if stopped not in ("stay", "drop"):
        raise ValueError(f"stopped must be 'stay' or 'drop', got {stopped!r}")
    scored, excluded = split_infra(trajectories)
    rows = []
    for method, group in by_method(scored).items():
        last = max_round(group) if rounds is None else rounds
        _, correct = correctness_matrix(group, last)
        lengths = np.array([len(t.rounds) for t in group])
        active = None if stopped == "stay" else (lengths[:, None] > np.arange(1, last + 1)[None, :])
        counts = transition_counts(correct, active)
        carried = [int((lengths <= k + 1).sum()) for k in range(last)]
        for k in range(last):
            row = dict(zip(TRANSITIONS, (int(x) for x in counts[k])))
            rows.append(
                {
                    "method": method,
                    "round": k,
                    "to_round": k + 1,
                    **row,
                    "n": int(counts[k].sum()),
                    "carried": carried[k],
                    "excluded": excluded.get(method, 0),
                }
            )
    return pd.DataFrame(
        rows, columns=["method", "round", "to_round", *TRANSITIONS, "n", "carried", "excluded"]
    )


@dataclass(frozen=True)
class ClassScores:
    """Precision/recall/F1 of one class. NaN where the ratio is 0/0 (see :func:`discrimination`)."""

    precision: float
    recall: float
    f1: float
    support: int
    """How many solutions truly are of this class."""
    predicted: int
    """How many parseable judgments named this class."""
    true_positives: int


@dataclass(frozen=True)
class Discrimination:
    """A critic's judgments of executed solutions: per class, macro F1, accuracy, unparseable."""

    passed: ClassScores
    failed: ClassScores
    macro_f1: float
    accuracy: float
    n: int
    unparseable: int
    excluded: int = 0

    def as_row(self) -> dict[str, float | int]:
        """Flat record for a table (one row per critic)."""
        return {
            "F1 passed": self.passed.f1,
            "F1 failed": self.failed.f1,
            "macro F1": self.macro_f1,
            "P passed": self.passed.precision,
            "R passed": self.passed.recall,
            "P failed": self.failed.precision,
            "R failed": self.failed.recall,
            "accuracy": self.accuracy,
            "n": self.n,
            "unparseable": self.unparseable,
            "excluded": self.excluded,
        }


def _ratio(a: int, b: int) -> float:
    return a / b if b else math.nan


def _class_scores(predicted: np.ndarray, truth: np.ndarray) -> ClassScores:
    tp = int((predicted & truth).sum())
    fp = int((predicted & ~truth).sum())
    fn = int((~predicted & truth).sum())
    return ClassScores(
        precision=_ratio(tp, tp + fp),
        recall=_ratio(tp, tp + fn),
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        support=int(truth.sum()),
        predicted=tp + fp,
        true_positives=tp,
    )


def discrimination(
    judgments: Sequence[str | None], accepted: Sequence[bool], excluded: int = 0
) -> Discrimination:
    """Precision/recall/F1 of the passed class ("correct" vs accepted), the failed class, and macro F1.

    Edge cases, by construction:

    - an unparseable judgment (None or anything but correct/incorrect) is never a true positive: it
      is a false negative of its true class and in no class's predictions, so it lowers that
      class's recall and F1 but no precision; counted in ``unparseable``;
    - a class never predicted: precision NaN (0/0), recall 0 if the class occurs, F1 0;
    - a class absent from the truth: recall NaN; F1 is 0 if it was predicted (all false
      positives) and NaN if it was never predicted either;
    - macro F1 averages the classes whose F1 is defined (NaN only if neither is).

    F1 is computed as 2·TP / (2·TP + FP + FN), which equals the harmonic mean of precision and
    recall wherever both are defined and stays defined when only one is.
    """
    if len(judgments) != len(accepted):
        raise ValueError(f"{len(judgments)} judgments but {len(accepted)} execution results")
    labels = [v.lower() if isinstance(v, str) else None for v in judgments]
    truth = np.array([bool(a) for a in accepted], dtype=bool)
    says_correct = np.array([v == "correct" for v in labels], dtype=bool)
    says_incorrect = np.array([v == "incorrect" for v in labels], dtype=bool)
    passed = _class_scores(says_correct, truth)
    failed = _class_scores(says_incorrect, ~truth)
    defined = [s.f1 for s in (passed, failed) if not math.isnan(s.f1)]
    right = passed.true_positives + failed.true_positives
    return Discrimination(
        passed=passed,
        failed=failed,
        macro_f1=float(np.mean(defined)) if defined else math.nan,
        accuracy=_ratio(right, len(labels)),
        n=len(labels),
        unparseable=int(len(labels) - says_correct.sum() - says_incorrect.sum()),
        excluded=excluded,
    )


def judged_rounds(
    trajectories: Iterable[Trajectory], rounds: Sequence[int] | None = (0,)
) -> dict[str, tuple[list[str | None], list[bool], int]]:
    """Per method: (judgments, execution truth, excluded) of the critiqued solutions.

    ``rounds=(0,)`` (default) judges the zero-shot solutions, as in the paper's discrimination
    numbers; ``None`` takes every critiqued round. A round without a critique was not judged and
    is skipped; a critique without a judgment is kept as unparseable.
    """
    scored, excluded = split_infra(trajectories)
    out: dict[str, tuple[list[str | None], list[bool], int]] = {}
    for method in dict.fromkeys([t.method for t in scored] + list(excluded)):
        out[method] = ([], [], excluded.get(method, 0))
    for t in scored:
        for k, rnd in enumerate(t.rounds):
            if rnd.critique is None or (rounds is not None and k not in rounds):
                continue
            out[t.method][0].append(rnd.judgment)
            out[t.method][1].append(rnd.correct)
    return out


def counts_summary(excluded: Mapping[str, int]) -> str:
    """One line for logs: how many samples each method lost to infrastructure errors."""
    parts = [f"{m}: {n}" for m, n in excluded.items() if n]
    return "infrastructure errors excluded — " + (", ".join(parts) if parts else "none")

"""Maj@k and JudgeBench's pairwise rule: the one estimator both of 07's Maj@k tables use.

**Maj@k** (CTRL §5.3, Figure 6 and Figure 10(a)). A critic writes K critiques of each response of a
pair whose better response is known; with k of them, the better response wins when it collects more
Correct votes than the other. The headline counts a **tie as not correct**: CTRL's 22.6% at 2 votes
fits only that reading, and JudgeBench's own metric (``utils/metrics.py``) counts a tie as not
correct too. Ties counted ½ stay as a secondary column. An unparsed judgment is no Correct vote.

For k < K the score averages over every choice of k critiques of each response: with c of a
response's K critiques Correct, the Correct votes among k of them are hypergeometric, and the two
responses' draws are independent. That is the unbiased estimate (a U-statistic, like Chen et al.'s
pass@k) of the accuracy of a critic that writes k critiques; using only the first k critiques is
also unbiased but throws the other K − k away.

**JudgeBench's pairwise rule** (``utils/metrics.py``, ``compute_final_metrics`` with
``reverse_order``): the judge picks the better response twice, once in each order; each pick that
names the better response scores +1, one that names the other −1, an unparsed pick 0, and the pair
is correct only when the sum is > 0. A pair judged inconsistently (one right, one wrong) scores 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

Ties = Literal["half", "wrong"]
"""How a tied Maj@k vote counts: ``"wrong"`` (the headline, as JudgeBench) or ``"half"``."""

TIES_HALF = "accuracy (ties ½)"
"""The secondary Maj@k column: a tie counts ½."""


def correct_votes(judgments: Iterable[str | None]) -> int:
    """Correct judgments; anything else (Incorrect, unparsed) is no Correct vote."""
    return sum(1 for j in judgments if isinstance(j, str) and j.lower() == "correct")


def majority_ks(critiques: int) -> list[int]:
    """1, 2, 4, … below ``critiques``, then ``critiques`` itself."""
    if critiques < 1:
        return []
    ks = [1 << i for i in range(critiques.bit_length()) if 1 << i < critiques]
    return [*ks, critiques]


def _hypergeometric(total: int, successes: int, k: int) -> np.ndarray:
    """P(x of k draws without replacement are successes), x = 0..k."""
    ways = math.comb(total, k)
    return np.array(
        [math.comb(successes, x) * math.comb(total - successes, k - x) / ways for x in range(k + 1)]
    )


def majority_score(
    good: int, bad: int, total: int, k: int, total_bad: int | None = None
) -> tuple[float, float]:
    """``(win, tie)``: the chance that k critiques of each response make the better one win, and that
    they tie, averaged over every choice of k critiques.

    ``good``/``bad``: Correct votes among the ``total`` critiques of the better / the worse response
    (``total_bad`` when the worse one has a different number). The headline Maj@k is ``win``; ties
    counted ½ give ``win + tie / 2`` (:func:`tied_score`).
    """
    total_bad = total if total_bad is None else total_bad
    if not (1 <= k <= total and k <= total_bad):
        raise ValueError(f"Maj@{k} needs k between 1 and the critiques per response ({total}, {total_bad})")
    if not (0 <= good <= total and 0 <= bad <= total_bad):
        raise ValueError(f"votes out of range: {good}/{total} and {bad}/{total_bad}")
    joint = np.outer(_hypergeometric(total, good, k), _hypergeometric(total_bad, bad, k))  # [good x, bad y]
    return float(np.tril(joint, -1).sum()), float(np.trace(joint))


def tied_score(win: float, tie: float, ties: Ties = "wrong") -> float:
    """A pair's Maj@k score from :func:`majority_score`'s ``(win, tie)`` under the ``ties`` rule."""
    if ties not in ("half", "wrong"):
        raise ValueError(f"ties must be 'half' or 'wrong', got {ties!r}")
    return win + 0.5 * tie if ties == "half" else win


def pair_majority(
    good: Sequence[str | None], bad: Sequence[str | None], k: int | None = None
) -> tuple[float, float]:
    """:func:`majority_score` of two responses' judgments (``k`` defaults to the fewer critiques)."""
    k = min(len(good), len(bad)) if k is None else k
    return majority_score(correct_votes(good), correct_votes(bad), len(good), k, len(bad))


def judgebench_pair_score(picks: Sequence[str | None], better: str) -> float:
    """JudgeBench's score of one pair judged in both orders: 1.0 when the picks' sum is > 0, else 0.0.

    ``picks`` are the responses (``"A"``/``"B"``) named in each trial, None where a pick is unparsed;
    ``better`` is the better one. A right pick is +1, a wrong one −1, an unparsed one 0.
    """
    if better not in ("A", "B"):
        raise ValueError(f"better must be 'A' or 'B', got {better!r}")
    total = sum(0 if p is None else 1 if p == better else -1 for p in picks)
    return float(total > 0)

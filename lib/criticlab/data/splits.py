"""Deterministic train/eval splits from problem ids alone.

Each id gets a score, the first 8 bytes of ``sha256(f"{seed}:{id}")`` read as a fraction in
[0, 1). The ``round(n * eval_fraction)`` problems with the lowest scores go to evaluation. The
split therefore depends only on the set of ids and the seed — not on file order, the machine or
the Python hash seed — and holds the requested share exactly, which matters for the handful of
problems a smoke run uses (a threshold on the score could leave one side empty). When
``0 < eval_fraction < 1`` and there are at least two problems, each side gets at least one.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from typing import TypeVar

from criticlab.stats import interleave

T = TypeVar("T")


def id_score(problem_id: str, seed: int | str = 0) -> float:
    """A stable pseudo-random number in [0, 1) for ``problem_id``."""
    digest = hashlib.sha256(f"{seed}:{problem_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def eval_count(n: int, eval_fraction: float) -> int:
    if not 0.0 <= eval_fraction <= 1.0:
        raise ValueError(f"eval_fraction must be within [0, 1], got {eval_fraction}")
    count = round(n * eval_fraction)
    if n >= 2 and 0.0 < eval_fraction < 1.0:
        count = min(max(count, 1), n - 1)
    return count


def split_by_id(records: Sequence[T], eval_fraction: float, seed: int | str = 0) -> tuple[list[T], list[T]]:
    """``(train, eval)``; both keep the input order. Records need an ``id`` attribute."""
    ids = [r.id for r in records]  # type: ignore[attr-defined]
    if len(set(ids)) != len(ids):
        duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)[:5]
        raise ValueError(f"split_by_id needs unique ids; repeated: {duplicates}")
    ranked = sorted(ids, key=lambda i: (id_score(i, seed), i))
    held_out = set(ranked[: eval_count(len(ids), eval_fraction)])
    train = [r for r in records if r.id not in held_out]  # type: ignore[attr-defined]
    evaluation = [r for r in records if r.id in held_out]  # type: ignore[attr-defined]
    return train, evaluation


def sample_by_id(records: Sequence[T], limit: int | None, seed: int | str = 0) -> list[T]:
    """At most ``limit`` records, chosen by id score (a stable random subset), in input order."""
    if limit is None or limit >= len(records):
        return list(records)
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    chosen = set(sorted((r.id for r in records), key=lambda i: (id_score(i, f"sample-{seed}"), i))[:limit])  # type: ignore[attr-defined]
    return [r for r in records if r.id in chosen]  # type: ignore[attr-defined]


def first_per_source(records: Sequence[T], limit: int | None) -> list[T]:
    """The first ``limit`` records taken in turn from each source (in order of first appearance),
    each source's records in file order (``limit`` None: all of them, in that order). A capped
    evaluation covers every benchmark, not just the one listed first, and so does every prefix of
    the order: the multi-round curve's and the pairwise pool's first problems, and each chunk of
    problems that 07 runs and resumes by."""
    if limit is None:
        limit = len(records)
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    queues: dict[str, list[T]] = {}
    for record in records:
        queues.setdefault(record.source, []).append(record)  # type: ignore[attr-defined]
    return interleave(queues.values(), limit)


def evaluation_subset(
    records: Sequence[T], limit: int | None, ids: Sequence[str] = (), where: str = ""
) -> list[T]:
    """The problems a capped evaluation runs: the records named by ``ids``, in that order, when
    given (a profile that must evaluate particular problems, e.g. the smoke run's one failing
    problem), else :func:`first_per_source`; at most ``limit`` either way.

    An id missing from ``records`` is an error naming ``where`` (the profile key and the file)."""
    if not ids:
        return first_per_source(records, limit)
    by_id = {r.id: r for r in records}  # type: ignore[attr-defined]
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise ValueError(f"{where or 'problem ids'}: not among the {len(records)} problems: {missing[:5]}")
    chosen = [by_id[i] for i in dict.fromkeys(ids)]
    return chosen if limit is None else chosen[:limit]

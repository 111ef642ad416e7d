"""Resumable chunked stages: run problems a chunk at a time, append each finished chunk to JSONL.

Synthesis (03) and the critique→revision loop (07) both produce one record per (problem, sample)
and may be interrupted at any point. :func:`run_in_chunks` skips what an earlier run already
wrote, appends each chunk's records as soon as the chunk is done (so a crash loses at most one
chunk, and with a cached engine not even its generations), and returns every record in the
caller's problem order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from criticlab.data.types import Problem
from criticlab.io import append_jsonl


class Record(Protocol):
    """What a chunked stage writes: one line per (problem, sample)."""

    problem_id: str
    sample: int

    def to_dict(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=Record)


def run_in_chunks(
    problems: Sequence[Problem],
    samples: int,
    chunk_size: int,
    run_chunk: Callable[[Sequence[Problem]], list[R]],
    done: Mapping[tuple[str, int], R],
    out_path: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[R]:
    """Run ``run_chunk`` over the problems that still miss one of their ``samples`` records.

    ``done`` holds the records found on disk, keyed by (problem id, sample); a chunk's fresh
    records replace nothing already done. Returns the records of ``problems`` (earlier runs'
    included) sorted by problem order, then sample.
    """
    records = dict(done)
    todo = [p for p in problems if any((p.id, s) not in records for s in range(samples))]
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start : start + chunk_size]
        fresh = [r for r in run_chunk(chunk) if (r.problem_id, r.sample) not in records]
        if out_path is not None:
            append_jsonl(out_path, (r.to_dict() for r in fresh))
        records.update({(r.problem_id, r.sample): r for r in fresh})
        if progress:
            progress(len(chunk))
    order = {p.id: i for i, p in enumerate(problems)}
    return sorted(
        (r for key, r in records.items() if key[0] in order),
        key=lambda r: (order[r.problem_id], r.sample),
    )

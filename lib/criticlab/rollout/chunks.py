"""Resumable chunked stages: run problems a chunk at a time, append each finished chunk to JSONL.

Synthesis (03) and the critique→revision loop (07) both produce one record per (problem, sample)
and may be interrupted at any point. :func:`run_in_chunks` skips what an earlier run already
wrote, appends each chunk's records as soon as the chunk is done (so a crash loses at most one
chunk, and with a cached engine not even its generations), and returns every record in the
caller's problem order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

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
    job = ChunkedJob(samples, done, out_path)
    report = (lambda _key, n: progress(n)) if progress else None
    return run_chunks_together(
        problems, chunk_size, {None: job}, lambda chunks: {None: run_chunk(chunks[None])}, report
    )[None]


@dataclass(frozen=True)
class ChunkedJob(Generic[R]):
    """One output of :func:`run_chunks_together`: its samples per problem, what is on disk, its file."""

    samples: int
    done: Mapping[tuple[str, int], R]
    out_path: str | Path | None = None

    def missing(self, problem: Problem, records: Mapping[tuple[str, int], R]) -> bool:
        return any((problem.id, s) not in records for s in range(self.samples))


K = TypeVar("K")


def run_chunks_together(
    problems: Sequence[Problem],
    chunk_size: int,
    jobs: Mapping[K, ChunkedJob[R]],
    run_chunk: Callable[[dict[K, Sequence[Problem]]], Mapping[K, list[R]]],
    progress: Callable[[K, int], None] | None = None,
) -> dict[K, list[R]]:
    """:func:`run_in_chunks` for several jobs at once (07: one job per method), so that one chunk
    runs the problems of every job together and the engine sees all of them in one batch.

    Chunks are ``chunk_size`` consecutive problems among those some job still misses; a chunk
    gives each job the problems *it* misses (``run_chunk`` receives job → problems, jobs with
    none left out), and each job's fresh records go to its own ``out_path`` as soon as the chunk
    is done. Returns each job's records as :func:`run_in_chunks` does.
    """
    records = {key: dict(job.done) for key, job in jobs.items()}
    todo = [p for p in problems if any(job.missing(p, records[key]) for key, job in jobs.items())]
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start : start + chunk_size]
        wanted = {key: [p for p in chunk if job.missing(p, records[key])] for key, job in jobs.items()}
        wanted = {key: ps for key, ps in wanted.items() if ps}
        produced = run_chunk(wanted)
        for key, ps in wanted.items():
            job, kept = jobs[key], records[key]
            fresh = [r for r in produced.get(key, []) if (r.problem_id, r.sample) not in kept]
            if job.out_path is not None:
                append_jsonl(job.out_path, (r.to_dict() for r in fresh))
            kept.update({(r.problem_id, r.sample): r for r in fresh})
            if progress:
                progress(key, len(ps))
    order = {p.id: i for i, p in enumerate(problems)}
    return {
        key: sorted(
            (r for k, r in kept.items() if k[0] in order), key=lambda r: (order[r.problem_id], r.sample)
        )
        for key, kept in records.items()
    }

"""Generation requests of several workers, sent to each engine together.

A stage that runs several independent workers (07 runs one critique→revision loop per method)
would otherwise call the engine once per worker and phase, each call batching only that worker's
few sequences — while llama.cpp's aggregate rate keeps rising with the number of parallel
sequences. Here a worker is a generator of :class:`Request`\\s: it yields what it needs
generated and receives the completions. :func:`drive` serves one worker alone (one engine call
per request); :func:`drive_together` advances many in lock step and, at each step, merges the
requests that go to the same engine with the same sampling and ``n`` into one call, asking for a
conversation only once when several workers want the very same one.

Since the backends seed sample ``i`` of a request with ``sampling.seed + i`` whatever else is in
the batch, a worker receives the same completions either way wherever the engine is
deterministic (llama.cpp on a CPU, the response cache, a scripted engine).
"""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from criticlab.llm.base import Completion, Conversation, Engine, SamplingParams

T = TypeVar("T")


@dataclass(frozen=True)
class Request:
    """``n`` completions of each conversation from ``engine`` with ``sampling``."""

    engine: Engine
    conversations: list[Conversation]
    sampling: SamplingParams
    n: int = 1


Worker = Generator[Request, list[list[Completion]], T]
"""Yields requests, receives each request's completions, returns its result."""


def drive(worker: Worker[T]) -> T:
    """Run one worker on its own: each request is one engine call."""
    try:
        request = next(worker)
        while True:
            request = worker.send(_call(request.engine, request.conversations, request.sampling, request.n))
    except StopIteration as done:
        return done.value


def drive_together(workers: Sequence[Worker[Any]]) -> list[Any]:
    """Run the workers in lock step; returns their results in order.

    Each step collects every live worker's pending request, groups them by (engine, sampling,
    n) and makes one engine call per group with each distinct conversation once; every worker
    then receives exactly the rows it asked for and yields its next request. A request without
    conversations is answered at once with none (a worker uses it to wait a step, so that its
    next request joins those of the others).
    """
    results: list[Any] = [None] * len(workers)
    pending: dict[int, Request] = {}

    def advance(index: int, reply: list[list[Completion]] | None) -> None:
        try:
            worker = workers[index]
            pending[index] = next(worker) if reply is None else worker.send(reply)
        except StopIteration as done:
            pending.pop(index, None)
            results[index] = done.value

    for index in range(len(workers)):
        advance(index, None)
    while pending:
        groups: dict[tuple[int, SamplingParams, int], list[int]] = {}
        for index, request in pending.items():
            groups.setdefault((id(request.engine), request.sampling, request.n), []).append(index)
        for members in groups.values():
            first = pending[members[0]]
            unique: dict[str, int] = {}
            convs: list[Conversation] = []
            rows: dict[int, list[int]] = {}
            for index in members:
                rows[index] = []
                for conv in pending[index].conversations:
                    key = json.dumps(conv, sort_keys=True, ensure_ascii=False)
                    if key not in unique:
                        unique[key] = len(convs)
                        convs.append(conv)
                    rows[index].append(unique[key])
            answers = _call(first.engine, convs, first.sampling, first.n)
            for index in members:
                advance(index, [answers[row] for row in rows[index]])
    return results


def _call(
    engine: Engine, conversations: list[Conversation], sampling: SamplingParams, n: int
) -> list[list[Completion]]:
    return engine.generate(conversations, sampling, n=n) if conversations else []

"""Where a sample's time went: phase durations from the marks a worker records with ``trace=True``.

The worker stamps each step of a job (handing it to a child, the child ready, the program loaded,
each record, the child reaped, the clean-up); :class:`~criticlab.sandbox.LocalExecutor` adds its
own send and receive times and stores these durations as ``trace_*`` timings of the result.
"""

from __future__ import annotations


def trace_phases(marks: list) -> dict[str, float]:
    """Phase durations (seconds) from a worker's trace marks: where a sample's time went.

    ``spawn`` handing the job to a pre-forked child until it is ready, ``load`` compiling and running
    the program's top level, ``tests`` the tests, ``reap`` from the last record to the child's
    end, ``cleanup`` removing the job directory and stray processes.
    """
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for name, stamp in marks:
        first.setdefault(name, stamp)
        last[name] = stamp
    out: dict[str, float] = {}

    def span(key: str, start: float | None, end: float | None) -> None:
        if start is not None and end is not None:
            out[key] = max(0.0, end - start)

    span("spawn", first.get("go"), first.get("ready"))
    span("load", first.get("ready"), first.get("loaded"))
    span("tests", first.get("loaded", first.get("ready")), last.get("record"))
    span("reap", last.get("record"), last.get("reaped"))
    span("cleanup", first.get("tests_done"), first.get("cleaned"))
    return {f"trace_{k}": v for k, v in out.items()}


def trace_hops(marks: list, sent: float, received: float, judged: float) -> dict[str, float]:
    """Where a sample's time went between the processes (``perf_counter`` is the system-wide
    monotonic clock on Linux, so the worker's marks and ours share a time line): ``to_worker``
    from sending the job to the worker starting it, ``from_worker`` from the worker sending the
    verdict's records to our reading them, ``judge`` deciding the verdict from them."""
    stamps = dict(marks)
    out = {"trace_judge": max(0.0, judged - received)}
    if "start" in stamps:
        out["trace_to_worker"] = max(0.0, stamps["start"] - sent)
    if "send" in stamps:
        out["trace_from_worker"] = max(0.0, received - stamps["send"])
    return out

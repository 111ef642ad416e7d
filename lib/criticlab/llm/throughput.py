"""How much a stage generated and how fast: its :class:`criticlab.stages.Throughput` record.

Generation is the cost of every stage that samples, so each reports its tokens and tokens/s
beside the engine benchmark's batched figure (``python -m criticlab.bench engines``), measured on
the same machine. Engines count what they decode (:data:`criticlab.llm.base.GENERATED`); a
:class:`StageWatch` started at the top of a notebook takes the difference at its end. Samples
drawn inside a trainer (GRPO's rollouts, by TRL's own ``generate``) pass no engine; their tokens
come from the trainer's log history (:func:`tokens_from_history`) and are added as a part.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from criticlab import stages
from criticlab.llm.base import GENERATED, GenerationMeter
from criticlab.machine import cpu_model
from criticlab.stages import Throughput

MEAN_LENGTH_KEY = "completions/mean_length"
"""TRL's GRPO log key: mean tokens of the step's completions."""

BENCH_FILE = "bench_engines.json"
"""Where ``bench engines`` keeps its last result on this machine (in the model cache directory)."""


def _rate(tokens: float, seconds: float) -> float:
    return tokens / seconds if seconds > 0 else 0.0


class StageWatch:
    """Started when a stage begins its work; :meth:`record` gives what it generated since.

    ``earlier`` is what the stage's earlier runs on the same outputs recorded (:meth:`resuming`
    reads it from the stage's metrics). A stage that resumes, or re-runs with its answers in the
    response cache, generates little or nothing itself; adding the earlier runs keeps the cost of
    the run that generated the outputs instead of overwriting it with the re-run's zero.
    """

    def __init__(self, earlier: Throughput | None = None) -> None:
        self.earlier = earlier
        self.start = GENERATED.copy()
        self.started = time.perf_counter()

    @classmethod
    def resuming(cls, root: str | Path, stage: str) -> StageWatch:
        """A watch that adds what ``<root>/<stage>/metrics.json`` recorded, if the stage ran before.

        A record that no longer reads (written by an older layout) is not carried: the stage is
        about to overwrite it, and its figures would be added to fields it did not have.
        """
        try:
            record = stages.read_metrics(root, stage)
        except stages.MetricsError:
            record = None
        return cls(getattr(record, "throughput", None))

    def meter(self) -> GenerationMeter:
        """What every engine of this process generated since the watch started."""
        return GENERATED.since(self.start)

    def record(self, extra: Mapping[str, GenerationMeter] | None = None) -> Throughput:
        """The stage's :class:`Throughput`: the engines' generation plus ``extra`` parts
        (e.g. ``{"rollouts": ...}`` from a trainer), each also reported on its own, added to the
        ``earlier`` runs' figures."""
        parts = {"engines": self.meter(), **(extra or {})}
        rows = {
            name: {"tokens": p.tokens, "sequences": p.sequences, "seconds": p.seconds}
            for name, p in parts.items()
        }
        wall = time.perf_counter() - self.started
        runs = 1
        if self.earlier is not None:
            runs += self.earlier.runs
            wall += self.earlier.wall_seconds
            before = self.earlier.parts or {
                "engines": {
                    "tokens": self.earlier.tokens,
                    "sequences": self.earlier.sequences,
                    "seconds": self.earlier.generation_seconds,
                }
            }
            for name, row in before.items():
                mine = rows.setdefault(name, {"tokens": 0, "sequences": 0, "seconds": 0.0})
                for key in ("tokens", "sequences", "seconds"):
                    mine[key] += row[key]
        for row in rows.values():
            row["tokens_per_second"] = _rate(row["tokens"], row["seconds"])
        tokens = int(sum(r["tokens"] for r in rows.values()))
        seconds = sum(r["seconds"] for r in rows.values())
        return Throughput(
            tokens=tokens,
            sequences=int(sum(r["sequences"] for r in rows.values())),
            generation_seconds=seconds,
            wall_seconds=wall,
            tokens_per_second=_rate(tokens, seconds),
            parts=rows if len(rows) > 1 else {},
            runs=runs,
        )


def tokens_from_history(
    history: Iterable[Mapping[str, Any]],
    completions_per_step: int,
    seconds: float = 0.0,
    steps: int | None = None,
) -> GenerationMeter:
    """Tokens a GRPO trainer sampled: each logged step's mean completion length × its completions.

    ``steps`` keeps only the last so many logged steps (those this process ran, when it resumed
    from a checkpoint whose history holds earlier ones); ``seconds`` is the time spent sampling
    them (e.g. the step timer's ``sampling`` seconds summed), when known. Rows without the key
    (evaluation or summary rows) are skipped.
    """
    lengths = [float(row[MEAN_LENGTH_KEY]) for row in history if MEAN_LENGTH_KEY in row]
    if steps is not None:
        lengths = lengths[len(lengths) - steps :] if steps > 0 else []
    tokens = round(sum(lengths) * completions_per_step)
    meter = GenerationMeter(tokens=tokens, sequences=len(lengths) * completions_per_step, seconds=seconds)
    meter.calls = len(lengths)
    return meter


def combined(meters: Iterable[GenerationMeter]) -> GenerationMeter:
    """The sum of several meters (e.g. one per training run)."""
    total = GenerationMeter()
    for meter in meters:
        total.tokens += meter.tokens
        total.sequences += meter.sequences
        total.seconds += meter.seconds
        total.calls += meter.calls
    return total


def bench_path(cache: Path | None = None) -> Path:
    from criticlab.llm.models import cache_dir

    return (cache or cache_dir()) / BENCH_FILE


def batched_bench_figure(cache: Path | None = None) -> dict[str, Any] | None:
    """The best batched llama.cpp tokens/s of the last ``bench engines`` run on this machine.

    Returns ``{"tok_per_s", "sequences", "model", "cpu", "measured"}``, or None when the benchmark
    has not run here (or ran on another CPU model, whose figure says nothing about this one).
    """
    path = bench_path(cache)
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if saved.get("cpu") != cpu_model():
        return None
    rows = {k: v for k, v in saved.items() if k.startswith("llamacpp_batch") and isinstance(v, dict)}
    if not rows:
        return None
    best = max(rows.values(), key=lambda row: row["tok_per_s"])
    return {
        "tok_per_s": best["tok_per_s"],
        "sequences": best["sequences"],
        "model": saved.get("model"),
        "cpu": saved.get("cpu"),
        "measured": saved.get("measured"),
    }

"""Engines count what they generate; stages turn the counts into their throughput record."""

from __future__ import annotations

import math

import pytest

from criticlab import machine, stages
from criticlab.io import write_json
from criticlab.llm import base, throughput
from criticlab.llm.base import ClosingEngine, Completion, SamplingParams
from criticlab.llm.cache import CachedEngine
from criticlab.tools import report


class Counting(ClosingEngine):
    """Answers with ``len(conversation)`` tokens per sample, through the base class's counter."""

    backend = "counting"
    model_id = "counting-v1"

    def generate(self, conversations, sampling: SamplingParams, n: int = 1):
        started = 0.0  # a call that "took" the whole perf_counter: seconds > 0, value irrelevant here
        rows = [[Completion(f"a{i}", completion_tokens=3 + i) for i in range(n)] for _ in conversations]
        if conversations:
            rows[0][0] = Completion("", "error", error="failed")  # errors generate nothing
        return self._count(rows, sampling, started)


def test_engine_meter_counts_decoded_sequences_only() -> None:
    engine, before = Counting(), base.GENERATED.copy()
    convs = [[{"role": "user", "content": "x"}], [{"role": "user", "content": "y"}]]
    engine.generate(convs, SamplingParams(temperature=0.7), n=2)  # 3 ok sequences: 4 + 3 + 4 tokens
    assert (engine.meter.tokens, engine.meter.sequences, engine.meter.calls) == (11, 3, 1)
    engine.generate(convs, SamplingParams(temperature=0.0), n=3)  # greedy: one decoded sequence per row
    assert (engine.meter.tokens, engine.meter.sequences) == (11 + 3, 3 + 1)
    done = base.GENERATED.since(before)
    assert (done.tokens, done.sequences, done.calls) == (14, 4, 2) and done.seconds > 0


def test_cached_answers_are_not_counted_again(tmp_path) -> None:
    inner = Counting()
    cached = CachedEngine(inner, tmp_path / "c.sqlite")
    convs = [[{"role": "user", "content": "x"}], [{"role": "user", "content": "y"}]]
    sampling = SamplingParams(temperature=0.7)
    cached.generate(convs, sampling, n=1)
    cached.generate(convs, sampling, n=1)  # the error is regenerated, the answer is not
    assert inner.meter.calls == 2 and inner.meter.tokens == 3 and inner.meter.sequences == 1


def test_stage_watch_records_engines_and_extra_parts() -> None:
    watch = throughput.StageWatch()
    Counting().generate([[{"role": "user", "content": "x"}]] * 2, SamplingParams(temperature=0.7), n=1)
    plain = watch.record()
    assert plain.tokens == 3 and plain.sequences == 1 and plain.parts == {}
    assert plain.tokens_per_second == pytest.approx(3 / plain.generation_seconds)
    rollouts = throughput.tokens_from_history(
        [
            {"step": 1, "completions/mean_length": 10.5},
            {"step": 2, "loss": 0.1},
            {"step": 2, "completions/mean_length": 20.0},
        ],
        completions_per_step=4,
        seconds=2.0,
    )
    assert (rollouts.tokens, rollouts.sequences, rollouts.seconds) == (122, 8, 2.0)
    resumed = throughput.tokens_from_history(
        [{"completions/mean_length": 10.5}, {"completions/mean_length": 20.0}],
        completions_per_step=4,
        steps=1,
    )
    assert (resumed.tokens, resumed.sequences) == (80, 4)  # only the step this run did
    assert throughput.tokens_from_history([{"completions/mean_length": 3.0}], 4, steps=0).tokens == 0
    both = watch.record({"rollouts": throughput.combined([rollouts, rollouts])})
    assert both.tokens == 3 + 244 and both.parts["rollouts"]["tokens"] == 244
    assert both.parts["engines"]["tokens"] == 3 and both.parts["rollouts"]["tokens_per_second"] == 61.0
    assert math.isfinite(both.tokens_per_second) and both.wall_seconds > 0
    nothing = throughput.tokens_from_history([], 4)
    assert nothing.tokens == 0 and nothing.tokens_per_second == 0.0


def test_a_rerun_adds_to_what_the_earlier_runs_recorded(tmp_path) -> None:
    """A stage resumed, or re-run with its answers cached, keeps the generating run's figures."""
    root = tmp_path / "out"
    assert throughput.StageWatch.resuming(root, stages.EVALUATION).earlier is None  # never ran
    first = throughput.StageWatch.resuming(root, stages.EVALUATION)
    Counting().generate([[{"role": "user", "content": "x"}]] * 3, SamplingParams(temperature=0.7), n=1)
    made = first.record()
    assert (made.tokens, made.sequences, made.runs) == (6, 2, 1)
    stages.write_metrics(
        root,
        stages.EvaluationMetrics(
            problems=1,
            rounds=1,
            methods=[],
            skipped={},
            excluded_infra={},
            final=[],
            discrimination=[],
            pairs=0,
            majority=[],
            throughput=made,
        ),
    )
    cached = throughput.StageWatch.resuming(root, stages.EVALUATION).record()  # generated nothing itself
    assert (cached.tokens, cached.sequences, cached.runs) == (6, 2, 2)
    assert cached.generation_seconds == made.generation_seconds and cached.wall_seconds >= made.wall_seconds
    assert cached.tokens_per_second == made.tokens_per_second > 0
    stages.write_metrics(
        root,
        stages.EvaluationMetrics(
            problems=1,
            rounds=1,
            methods=[],
            skipped={},
            excluded_infra={},
            final=[],
            discrimination=[],
            pairs=0,
            majority=[],
            throughput=cached,
        ),
    )
    assert "| 07_evaluation (2 runs added up) | 6 | 2 |" in "\n".join(report.throughput_lines(root))
    trained = throughput.StageWatch(
        earlier=stages.Throughput(
            tokens=10,
            sequences=2,
            generation_seconds=1.0,
            wall_seconds=5.0,
            tokens_per_second=10.0,
            parts={
                "engines": {"tokens": 4, "sequences": 1, "seconds": 0.5, "tokens_per_second": 8.0},
                "rollouts": {"tokens": 6, "sequences": 1, "seconds": 0.5, "tokens_per_second": 12.0},
            },
        )
    )
    resumed = trained.record(
        {"rollouts": throughput.tokens_from_history([{"completions/mean_length": 5.0}], 2, 0.5)}
    )
    assert resumed.parts["rollouts"]["tokens"] == 16 and resumed.parts["engines"]["tokens"] == 4
    assert (
        resumed.parts["rollouts"]["tokens_per_second"] == 16.0 and resumed.tokens == 20 and resumed.runs == 2
    )
    (root / stages.EVALUATION / "metrics.json").write_text('{"stage": "07_evaluation", "problems": "many"}')
    assert throughput.StageWatch.resuming(root, stages.EVALUATION).earlier is None  # unreadable: not carried


def test_run_summary_sets_stage_rates_beside_this_machines_bench(tmp_path, monkeypatch) -> None:
    root = tmp_path / "out"
    made = stages.Throughput(
        tokens=600, sequences=12, generation_seconds=20.0, wall_seconds=50.0, tokens_per_second=30.0
    )
    stages.write_metrics(
        root,
        stages.EvaluationMetrics(
            problems=1,
            rounds=1,
            methods=[],
            skipped={},
            excluded_infra={},
            final=[],
            discrimination=[],
            pairs=0,
            majority=[],
            throughput=made,
        ),
    )
    again = stages.read_metrics(root, stages.EVALUATION)
    assert again.throughput == made
    cache = tmp_path / "cache"
    monkeypatch.setattr(throughput, "bench_path", lambda cache_dir=None: cache / throughput.BENCH_FILE)
    lines = "\n".join(report.throughput_lines(root))
    assert (
        "| 07_evaluation | 600 | 12 | 20.0 | 50.0 | 30.0 |" in lines
        and "not measured on this machine" in lines
    )
    write_json(
        cache / throughput.BENCH_FILE,
        {
            "model": "m",
            "cpu": machine.cpu_model(),
            "measured": "2026-01-01T00:00:00+00:00",
            "llamacpp_batch8": {"sequences": 8, "tok_per_s": 42.0},
            "llamacpp_batch16": {"sequences": 16, "tok_per_s": 51.5},
        },
    )
    assert "m 51.5 tok/s with 16 sequences batched" in "\n".join(report.throughput_lines(root))
    write_json(
        cache / throughput.BENCH_FILE,
        {"cpu": "another CPU", "llamacpp_batch8": {"sequences": 8, "tok_per_s": 1.0}},
    )
    assert throughput.batched_bench_figure() is None  # another machine's figure says nothing about this one

"""Notebook 02's report: references accepted, mutants rejected, and its metrics record."""

from __future__ import annotations

from criticlab.data.types import Problem, Test
from criticlab.sandbox import LocalExecutor
from criticlab.sandbox.isolation import IsolationReport
from criticlab.sandbox.report import check_mutants, check_references, measure, sandbox_metrics


def _problems() -> list[Problem]:
    return [
        Problem(
            id=f"add-{k}",
            source="test",
            question="q",
            kind="functional",
            entry_point="f",
            tests=[Test(kind="call", args=[k], expected=k + 1)],
            time_limit=2.0,
            solutions=["def f(x):\n    return x + 1\n"],
        )
        for k in range(3)
    ]


def test_the_record_counts_what_the_report_ran(executor: LocalExecutor) -> None:
    problems = _problems()
    references, _ = check_references(executor, problems)
    mutants = check_mutants(executor, problems[:1])
    speed = measure(lambda n: LocalExecutor(workers=n), problems, [1], min_samples=6)
    report = executor.isolation_report()
    record = sandbox_metrics(problems, "test", references, mutants, report, speed)
    assert (record.problems, record.references_accepted, record.references_total) == (3, 3, 3)
    assert record.mutants_total == len(mutants) > 0 and record.mutants_rejected == record.mutants_total
    assert record.isolation_mode == report.mode and record.isolation["job_files_removed"] is not None
    assert set(record.throughput_per_second) == {"1"} and record.throughput_per_second["1"] > 0
    assert 0 < record.latency_ms["p50"] <= record.latency_ms["p90"] <= record.latency_ms["p99"]


def test_a_remote_executor_has_no_isolation_report() -> None:
    speed = [{"workers": 2, "per_second": 10.0, "latencies_ms": [1.0, 2.0, 3.0, 4.0]}]
    record = sandbox_metrics([], "none", [], [], None, speed)
    assert record.isolation_mode == "sandboxfusion" and record.isolation == {}
    assert record.latency_ms == {"p50": 2.5, "p90": 3.7, "p99": 3.9699999999999998}
    local = sandbox_metrics([], "none", [], [], IsolationReport("minimal", {"rlimits": True}), speed)
    assert local.isolation == {"rlimits": True}

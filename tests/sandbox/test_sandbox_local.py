"""LocalExecutor end to end: the three test kinds, verdicts, records, batches and the async API."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from criticlab.data.humaneval import load_humaneval
from criticlab.data.types import Problem, Test
from criticlab.sandbox import GUARANTEES, ExecResult, JudgeOptions, LocalExecutor, Sample, Verdict


def functional(tests: list[Test], entry: str = "f", **kw: object) -> Problem:
    return Problem(
        id=str(kw.pop("id", "fn")),
        source="test",
        question="q",
        kind="functional",
        entry_point=entry,
        tests=tests,
        time_limit=float(kw.pop("time_limit", 2.0)),
        **kw,
    )  # type: ignore[arg-type]


def stdio(pairs: list[tuple[str, str]], **kw: object) -> Problem:
    return Problem(
        id=str(kw.pop("id", "io")),
        source="test",
        question="q",
        kind="stdio",
        tests=[Test(kind="stdio", input=i, output=o) for i, o in pairs],
        time_limit=float(kw.pop("time_limit", 2.0)),
        **kw,
    )  # type: ignore[arg-type]


def call(*args: object, expected: object, atol: float | None = None) -> Test:
    return Test(kind="call", args=list(args), expected=expected, atol=atol)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[LocalExecutor]:
    with LocalExecutor(workers=2) as ex:
        yield ex


# ------------------------------------------------------------------------------------------
# the three test kinds
# ------------------------------------------------------------------------------------------


def test_call_tests_plain_function(sandbox: LocalExecutor) -> None:
    problem = functional(
        [call(2, 3, expected=5), call([1, 2], [3], expected=[1, 2, 3]), call(0.1, 0.2, expected=0.3)],
        entry="add",
    )
    result = sandbox.run(problem, "def add(a, b):\n    return a + b\n")
    assert result.verdict is Verdict.ACCEPTED and (result.passed, result.total) == (3, 3)
    assert [t.rule for t in result.tests] == ["exact", "exact", "float-tol(1e-05)"]


def test_call_tests_class_method_entry_point(sandbox: LocalExecutor) -> None:
    problem = functional(
        [call([2, 7, 11, 15], 9, expected=[0, 1]), call([3, 3], 6, expected=[0, 1])], entry="Solution.twoSum"
    )
    code = (
        "class Solution:\n"
        "    def __init__(self):\n"
        "        self.calls = 0\n"
        "    def twoSum(self, nums, target):\n"
        "        self.calls += 1\n"
        "        assert self.calls == 1  # a fresh instance per test\n"
        "        seen = {}\n"
        "        for i, n in enumerate(nums):\n"
        "            if target - n in seen:\n"
        "                return (seen[target - n], i)\n"
        "            seen[n] = i\n"
    )
    assert sandbox.run(problem, code).accepted


def test_call_test_atol_overrides_the_default(sandbox: LocalExecutor) -> None:
    loose = functional([call(expected=1.0, atol=0.01)])
    strict = functional([call(expected=1.0)])
    code = "def f():\n    return 1.001\n"
    assert sandbox.run(loose, code).accepted
    assert sandbox.run(strict, code).verdict is Verdict.WRONG_ANSWER


def test_wrong_call_result_records_expected_and_actual(sandbox: LocalExecutor) -> None:
    result = sandbox.run(functional([call(2, expected=4)]), "def f(x):\n    return x + 1\n")
    record = result.tests[0]
    assert result.verdict is Verdict.WRONG_ANSWER
    assert (record.input, record.expected, record.actual, record.rule) == ("f(2)", "4", "3", "exact")
    assert "expected 4, got 3" in result.summary()


def test_mbpp_style_asserts_with_setup(sandbox: LocalExecutor) -> None:
    problem = functional(
        [
            Test(kind="assert", code="assert first_even(NUMS) == 4"),
            Test(kind="assert", code="assert first_even([1]) is None"),
        ],
        entry="first_even",
        test_setup="NUMS = [1, 3, 4, 6]",
    )
    good = "def first_even(xs):\n    return next((x for x in xs if x % 2 == 0), None)\n"
    assert sandbox.run(problem, good).accepted
    bad = sandbox.run(problem, "def first_even(xs):\n    return xs[-1]\n")
    assert bad.verdict is Verdict.WRONG_ANSWER and bad.passed == 0
    first = bad.tests[0]
    assert (first.input, first.expected, first.actual) == ("assert first_even(NUMS) == 4", "4", "6")
    assert first.rule.endswith(":probe")


def test_humaneval_check_program_is_called_with_the_entry_point(sandbox: LocalExecutor) -> None:
    check = (
        "METADATA = {}\n\n"
        "def check(candidate):\n"
        "    assert candidate([1, 2, 3]) == 6\n"
        "    assert candidate([]) == 0\n"
        "    for n in range(5):\n"
        "        assert candidate(list(range(n))) == sum(range(n))\n"
    )
    problem = functional([Test(kind="assert", code=check)], entry="total")
    assert sandbox.run(problem, "def total(xs):\n    return sum(xs)\n").accepted
    wrong = sandbox.run(problem, "def total(xs):\n    return len(xs)\n")
    assert wrong.verdict is Verdict.WRONG_ANSWER
    assert wrong.tests[0].input == "assert candidate([1, 2, 3]) == 6" and wrong.tests[0].actual == "3"
    # a wrong answer only the in-child loop can see is still a wrong answer
    sneaky = sandbox.run(problem, "def total(xs):\n    return {(1, 2, 3): 6, (): 0}.get(tuple(xs), -1)\n")
    assert sneaky.verdict is Verdict.WRONG_ANSWER and sneaky.tests[0].rule.endswith(":in-child")


def test_stdio_tests(sandbox: LocalExecutor) -> None:
    problem = stdio([("3 4\n", "7\n"), ("10 -2\n", "8"), ("0 0\n", "0")])
    code = "a, b = map(int, input().split())\nprint(a + b)\n"
    result = sandbox.run(problem, code)
    assert result.accepted and result.passed == 3 and all(t.rule == "tokens" for t in result.tests)
    wrong = sandbox.run(problem, "a, b = map(int, input().split())\nprint(a - b)\n")
    assert [t.verdict for t in wrong.tests] == [Verdict.WRONG_ANSWER, Verdict.WRONG_ANSWER, Verdict.ACCEPTED]
    assert wrong.tests[0].actual == "-1\n" and wrong.tests[0].expected == "7\n"


def test_stdio_exit_codes(sandbox: LocalExecutor) -> None:
    problem = stdio([("", "done")])
    assert sandbox.run(problem, "import sys\nprint('done')\nsys.exit(0)\n").accepted
    assert sandbox.run(problem, "import sys\nprint('done')\nsys.exit(3)\n").verdict is Verdict.RUNTIME_ERROR
    # a program that flushes and leaves with os._exit is judged on its output, like a real judge
    assert sandbox.run(problem, "import os, sys\nprint('done')\nsys.stdout.flush()\nos._exit(0)\n").accepted
    assert sandbox.run(problem, "import os\nprint('done')\nos._exit(0)\n").verdict is Verdict.WRONG_ANSWER


def test_strict_compare_per_problem(sandbox: LocalExecutor) -> None:
    problem = stdio([("", "1.0")], metadata={"compare": "strict"})
    assert sandbox.run(problem, "print('1.0')").accepted
    assert sandbox.run(problem, "print('1.000001')").verdict is Verdict.WRONG_ANSWER
    assert sandbox.run(stdio([("", "1.0")]), "print('1.000001')").accepted  # tokens by default


def test_checker_hook() -> None:
    def any_order(test: Test, actual: object) -> tuple[bool, str]:
        ok = sorted(str(actual).split()) == sorted(test.output.split())
        return ok, "" if ok else "different multiset"

    problem = stdio([("", "1 2 3")], metadata={"checker": "any-order"})
    with LocalExecutor(workers=1, checkers={"any-order": any_order}) as ex:
        result = ex.run(problem, "print(3, 1, 2)")
        assert result.accepted and result.tests[0].rule == "checker:any-order"
        assert ex.run(problem, "print(3, 1, 1)").tests[0].note == "different multiset"
        unknown = ex.run(stdio([("", "1")], metadata={"checker": "nope"}), "print(1)")
        assert unknown.is_infra_error and "nope" in unknown.error


# ------------------------------------------------------------------------------------------
# verdicts and records
# ------------------------------------------------------------------------------------------


def test_runtime_error_traceback_points_at_the_program(sandbox: LocalExecutor) -> None:
    code = "def helper(x):\n    return 10 // x\n\ndef f(x):\n    return helper(x)\n"
    result = sandbox.run(functional([call(0, expected=1)]), code)
    record = result.tests[0]
    assert result.verdict is Verdict.RUNTIME_ERROR
    assert record.exception == "ZeroDivisionError: integer division or modulo by zero"
    assert 'File "solution.py", line 2, in helper' in record.traceback
    assert "return 10 // x" in record.traceback
    assert "_child.py" not in record.traceback and "_worker.py" not in record.traceback
    assert "job-" not in record.traceback  # temp paths are normalized


def test_compile_errors(sandbox: LocalExecutor) -> None:
    problem = functional([call(1, expected=1), call(2, expected=2)])
    syntax = sandbox.run(problem, "def f(x)\n    return x\n")
    assert syntax.verdict is Verdict.COMPILE_ERROR and "SyntaxError" in syntax.error
    assert [t.verdict for t in syntax.tests] == [Verdict.COMPILE_ERROR] * 2
    missing = sandbox.run(problem, "def g(x):\n    return x\n")
    assert missing.verdict is Verdict.COMPILE_ERROR and "'f'" in missing.error
    for code in ("", "   \n", None):
        empty = sandbox.run(problem, code)
        assert empty.verdict is Verdict.COMPILE_ERROR and empty.error == "no code to run"
    io_syntax = sandbox.run(stdio([("", "1"), ("", "2")]), "print(1")
    assert io_syntax.verdict is Verdict.COMPILE_ERROR and io_syntax.total == 2


def test_prelude_runs_before_the_solution(sandbox: LocalExecutor) -> None:
    problem = functional(
        [call([3, 1, 2], expected=[1, 2, 3])],
        entry="Solution.sort",
        prelude="from typing import List\nfrom heapq import heapify, heappop\n",
    )
    code = (
        "class Solution:\n"
        "    def sort(self, xs: List[int]) -> List[int]:\n"
        "        heapify(xs)\n"
        "        return [heappop(xs) for _ in range(len(xs))]\n"
    )
    assert sandbox.run(problem, code).accepted
    io = stdio([("", "3")], prelude="from math import *\n")
    assert sandbox.run(io, "print(isqrt(10))").accepted
    broken = sandbox.run(
        functional([call(1, expected=1)], prelude="import not_a_module_xyz\n"), "def f(x):\n    return x\n"
    )
    assert broken.is_infra_error and "prelude" in broken.error


def test_load_time_exception_fails_every_test(sandbox: LocalExecutor) -> None:
    result = sandbox.run(
        functional([call(1, expected=1)] * 3), "raise ValueError('boom')\ndef f(x):\n    return x\n"
    )
    assert result.verdict is Verdict.RUNTIME_ERROR and len(result.tests) == 3
    assert all(t.exception == "ValueError: boom" for t in result.tests)


def test_runs_all_tests_by_default_and_stops_on_request(sandbox: LocalExecutor) -> None:
    problem = functional([call(1, expected=0), call(2, expected=2), call(3, expected=0)])
    code = "def f(x):\n    return x\n"
    full = sandbox.run(problem, code)
    assert [t.verdict for t in full.tests] == [Verdict.WRONG_ANSWER, Verdict.ACCEPTED, Verdict.WRONG_ANSWER]
    assert full.pass_rate == pytest.approx(1 / 3)
    first = sandbox.run(problem, code, stop_on_first_failure=True)
    assert first.verdict is Verdict.WRONG_ANSWER and first.total == 3 and len(first.tests) < 3
    io_first = sandbox.run(stdio([("", "x"), ("", "y"), ("", "z")]), "print('q')", stop_on_first_failure=True)
    assert io_first.verdict is Verdict.WRONG_ANSWER and len(io_first.tests) < 3
    # a failed assertion stops the sample at once, and still decides the verdict
    checks = functional(
        [
            Test(kind="assert", code="import time\nassert f(1) == 2\ntime.sleep(5)\n"),
            Test(kind="assert", code="assert f(1) == 1"),
        ]
    )
    started = time.monotonic()
    stopped = sandbox.run(checks, code, stop_on_first_failure=True)
    assert stopped.verdict is Verdict.WRONG_ANSWER and [t.index for t in stopped.tests] == [0]
    assert time.monotonic() - started < 4  # the sleeping rest of the test was cut short


def test_a_killed_test_does_not_hide_the_others(sandbox: LocalExecutor) -> None:
    problem = functional([call(1, expected=1), call(0, expected=0), call(3, expected=3)], time_limit=0.3)
    code = "import time, os\ndef f(x):\n    if x == 0:\n        time.sleep(30)\n    return x\n"
    result = sandbox.run(problem, code)
    assert [t.verdict for t in result.tests] == [
        Verdict.ACCEPTED,
        Verdict.TIME_LIMIT_EXCEEDED,
        Verdict.ACCEPTED,
    ]
    assert result.verdict is Verdict.TIME_LIMIT_EXCEEDED and result.passed == 2


def test_sample_deadline_caps_total_time() -> None:
    problem = functional([call(i, expected=i) for i in range(6)], time_limit=0.4)
    code = "import time\ndef f(x):\n    time.sleep(0.3)\n    return x\n"
    with LocalExecutor(workers=1, sample_timeout=0.8) as ex:
        started = time.monotonic()
        result = ex.run(problem, code)
        elapsed = time.monotonic() - started
    assert result.verdict is Verdict.TIME_LIMIT_EXCEEDED
    assert result.passed >= 1 and any("deadline" in t.note for t in result.tests)
    assert elapsed < 10  # not 6 × 0.3 s plus restarts: the deadline was enforced


def test_judge_options_passed_as_a_record_take_effect() -> None:
    wrong = functional([call(1, expected=0), call(2, expected=2), call(3, expected=0)])
    identity = "def f(x):\n    return x\n"
    slow = functional([call(1, expected=1)], time_limit=60.0)  # left to itself: the 60 s sample deadline
    sleepy = "import time\ndef f(x):\n    time.sleep(30)\n    return x\n"
    with LocalExecutor(workers=1, options=JudgeOptions(stop_on_first_failure=True, time_limit=1.0)) as ex:
        assert ex.options.stop_on_first_failure and ex.options.time_limit == 1.0
        stopped = ex.run(wrong, identity)
        assert stopped.verdict is Verdict.WRONG_ANSWER and stopped.total == 3 and len(stopped.tests) < 3
        assert (
            len(ex.run(wrong, identity, stop_on_first_failure=False).tests) == 3
        )  # a call's own choice wins
        started = time.monotonic()
        timed_out = ex.run(slow, sleepy)
        elapsed = time.monotonic() - started
    assert timed_out.verdict is Verdict.TIME_LIMIT_EXCEEDED and "time limit" in timed_out.tests[0].note
    assert elapsed < 20  # the record's 1 s per test, not the problem's 60 s


def test_result_round_trips_through_json(sandbox: LocalExecutor) -> None:
    result = sandbox.run(
        stdio([("", "ok")]), "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe')\nprint('ok')\n"
    )
    assert result.verdict is Verdict.WRONG_ANSWER
    text = result.to_json()
    json.loads(text)
    again = ExecResult.from_json(text)
    assert again == result and again.verdict is Verdict.WRONG_ANSWER
    assert (
        ExecResult.from_dict(json.loads(json.dumps(result.to_dict()))).tests[0].verdict
        is Verdict.WRONG_ANSWER
    )


def test_results_carry_timings_and_isolation(sandbox: LocalExecutor) -> None:
    result = sandbox.run(functional([call(1, expected=1)]), "def f(x):\n    return x\n")
    assert {"queued", "run", "wall"} <= set(result.timings) and result.timings["wall"] >= result.timings[
        "run"
    ] > 0
    assert result.tests[0].time is not None and result.tests[0].time >= 0
    report = sandbox.isolation_report()
    assert result.isolation == report.for_result() and result.isolation["mode"] == sandbox.mode
    assert set(report.guarantees) == set(GUARANTEES)
    assert result.executor == "local" and not result.is_infra_error


def test_isolation_self_test_holds_what_the_machine_allows(sandbox: LocalExecutor) -> None:
    held = sandbox.isolation_report().guarantees
    for name in ("rlimits", "own_session", "scrubbed_env", "single_thread_blas", "no_new_privs"):
        assert held[name], name
    if os.geteuid() == 0:
        assert sandbox.mode == "root"
        for name in (
            "network_isolated",
            "fs_jail",
            "non_root_uid",
            "pid_namespace",
            "ipc_namespace",
            "process_cap",
        ):
            assert held[name], name


def test_trace_reports_phases() -> None:
    with LocalExecutor(workers=1, trace=True) as ex:
        result = ex.run(functional([call(1, expected=1)]), "def f(x):\n    return x\n")
    hops = ("trace_to_worker", "trace_from_worker", "trace_judge")
    assert {"trace_spawn", "trace_load", "trace_tests", *hops} <= set(result.timings)
    # the phases on the shared clock fit inside the sample's wall time
    parts = sum(result.timings[k] for k in ("trace_spawn", "trace_load", "trace_tests", *hops))
    assert 0 < parts <= result.timings["wall"]


# ------------------------------------------------------------------------------------------
# batches and the async API
# ------------------------------------------------------------------------------------------


def test_batch_keeps_order_and_survives_bad_items(sandbox: LocalExecutor) -> None:
    problem = functional([call(5, expected=25)])
    items: list[object] = [
        (problem, "def f(x):\n    return x * x\n"),
        "not a sample",
        Sample(problem, None),
        (problem, "def f(x):\n    return x\n"),
        (problem, "def f(x) return"),
    ]
    results = sandbox.run_batch(items)
    assert [r.verdict for r in results] == [
        Verdict.ACCEPTED,
        Verdict.SANDBOX_ERROR,
        Verdict.COMPILE_ERROR,
        Verdict.WRONG_ANSWER,
        Verdict.COMPILE_ERROR,
    ]
    assert "bad batch item 1" in results[1].error


def test_batch_applies_backpressure() -> None:
    problem = functional([call(1, expected=1)])
    pulled = []
    first_result_at: list[int] = []

    def samples() -> Iterator[tuple[Problem, str]]:
        for i in range(40):
            pulled.append(i)
            yield problem, "import time\ndef f(x):\n    time.sleep(0.01)\n    return x\n"

    def on_result(index: int, result: ExecResult) -> None:
        if not first_result_at:
            first_result_at.append(len(pulled))

    with LocalExecutor(workers=1, max_pending=3) as ex:
        results = ex.run_batch(samples(), on_result=on_result)
    assert len(results) == 40 and all(r.accepted for r in results)
    assert first_result_at[0] <= 4  # only max_pending samples were taken before a result came back


def test_first_use_from_many_threads_starts_once() -> None:
    problem = functional([call(3, expected=9)])
    ex = LocalExecutor(workers=1)
    results: list[ExecResult] = []
    threads = [
        threading.Thread(target=lambda: results.append(ex.run(problem, "def f(x):\n    return x * x\n")))
        for _ in range(4)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 4 and all(r.accepted for r in results)
        assert len(ex.worker_pids()) == 1
    finally:
        ex.close()
    assert ex.closed and not ex.worker_pids()
    with pytest.raises(RuntimeError, match="closed"):
        ex.run(problem, "def f(x):\n    return x\n")


def test_async_api(sandbox: LocalExecutor) -> None:
    problem = functional([call(2, expected=4)])
    good, bad = "def f(x):\n    return 2 * x\n", "def f(x):\n    return x\n"

    async def main() -> tuple[ExecResult, list[ExecResult], list[tuple[int, ExecResult]]]:
        one = await sandbox.arun(problem, good)
        many = await sandbox.arun_batch([(problem, good), (problem, bad)] * 3)
        streamed = [item async for item in sandbox.aiter_results([(problem, bad), (problem, good)])]
        return one, many, streamed

    one, many, streamed = asyncio.run(main())
    assert one.accepted
    assert [r.accepted for r in many] == [True, False] * 3
    assert sorted((i, r.accepted) for i, r in streamed) == [(0, False), (1, True)]


# ------------------------------------------------------------------------------------------
# HumanEval: reference solutions pass, repeatedly and under load; mutants fail
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def humaneval() -> list[Problem]:
    problems = load_humaneval().records
    assert len(problems) == 164
    return problems


def _burn_cpu(seconds: float) -> list[subprocess.Popen]:
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(os.cpu_count() or 2)]


def test_all_humaneval_canonical_solutions_are_accepted_repeatedly_and_under_load(
    sandbox: LocalExecutor, humaneval: list[Problem]
) -> None:
    samples = [(p, p.solutions[0]) for p in humaneval]
    for round_ in range(3):
        burners = _burn_cpu(30) if round_ == 2 else []
        try:
            results = sandbox.run_batch(samples)
        finally:
            for proc in burners:
                proc.kill()
                proc.wait()
        failed = [(p.id, r.summary()) for p, r in zip(humaneval, results) if not r.accepted]
        assert not failed, f"round {round_}: {failed[:5]}"


def _mutate(code: str) -> str:
    """A canonical solution whose every return value is replaced by None."""
    lines = []
    for line in code.splitlines():
        stripped = line.lstrip()
        if stripped.startswith("return "):
            line = line[: len(line) - len(stripped)] + "return None"
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_mutated_humaneval_solutions_fail(sandbox: LocalExecutor, humaneval: list[Problem]) -> None:
    chosen = [dataclasses.replace(p, time_limit=0.5) for p in humaneval[:40]]
    results = sandbox.run_batch([(p, _mutate(p.solutions[0])) for p in chosen])
    assert all(not r.accepted for r in results), [p.id for p, r in zip(chosen, results) if r.accepted]
    # an infinite loop is a fair outcome too (HumanEval/39's is_prime never says True any more)
    assert all(
        r.verdict in (Verdict.WRONG_ANSWER, Verdict.RUNTIME_ERROR, Verdict.TIME_LIMIT_EXCEEDED)
        for r in results
    )
    assert sum(r.verdict is Verdict.WRONG_ANSWER for r in results) > 20


# ------------------------------------------------------------------------------------------
# infrastructure failures are never scored as the program's
# ------------------------------------------------------------------------------------------


def test_worker_crash_is_retried_then_reported_as_infra_error() -> None:
    problem = functional([call(1, expected=1)])
    slow = "import time\ndef f(x):\n    time.sleep(1.0)\n    return x\n"
    with LocalExecutor(workers=1) as ex:
        victim = ex.worker_pids()[0]

        def kill_once() -> None:
            time.sleep(0.4)  # the job is running by then
            os.kill(victim, signal.SIGKILL)

        killer = threading.Thread(target=kill_once)
        killer.start()
        survived = ex.run(problem, slow)
        killer.join()
        assert survived.accepted and ex.stats()["restarts"] >= 1 and ex.stats()["retries"] >= 1

        stop = threading.Event()

        def keep_killing() -> None:
            while not stop.is_set():
                for pid in ex.worker_pids():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.05)

        killer = threading.Thread(target=keep_killing)
        killer.start()
        try:
            lost = ex.run(problem, slow)
        finally:
            stop.set()
            killer.join()
        assert lost.verdict is Verdict.SANDBOX_ERROR and lost.is_infra_error
        assert "infrastructure" in lost.error
        assert ex.run(problem, "def f(x):\n    return x\n").accepted  # and the executor recovers


def test_site_packages_under_tmp_are_visible_to_jobs(tmp_path, monkeypatch) -> None:
    # a virtualenv in a checkout under /tmp (as in CI) must stay importable although the jail
    # mounts its own tmpfs over /tmp; and the job still cannot write there
    import site

    packages = tmp_path / "venv" / "site-packages"
    packages.mkdir(parents=True)
    (packages / "helper_mod.py").write_text("VALUE = 42\n")
    monkeypatch.setattr(site, "getsitepackages", lambda: [str(packages)])
    problem = functional([call(expected=42)], entry="f")
    code = (
        "import sys\nsys.path.append({!r})\nimport helper_mod\n"
        "def f():\n"
        "    try:\n"
        "        open({!r}, 'w')\n"
        "        return -1\n"
        "    except OSError:\n"
        "        return helper_mod.VALUE\n"
    ).format(str(packages), str(packages / "written.txt"))
    with LocalExecutor(workers=1, site_packages=True) as ex:
        result = ex.run(problem, code)
        isolated = ex.isolation_report().guarantees.get("fs_jail", False)
    assert result.verdict is Verdict.ACCEPTED, result.summary()
    if isolated:
        assert not (packages / "written.txt").exists()

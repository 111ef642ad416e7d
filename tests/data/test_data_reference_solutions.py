"""Reference solutions pass the tests the loaders parsed — the strongest check that parsing is right.

Two ways to run them:

- ``test_reference_solutions_pass_in_the_sandbox`` uses ``criticlab.sandbox.LocalExecutor``, the
  project's executor. It runs whenever the executor is importable (it is skipped, saying why, only
  while the sandbox package does not provide it).
- ``test_reference_solutions_pass_a_plain_subprocess_run`` needs nothing but Python: a small
  test-only runner executes each solution in a fresh ``python -I`` process and compares like the
  sandbox's default rules (whitespace tokens for stdout with a 1e-5 float tolerance; JSON-equal
  values for calls, within ``atol`` for floats). It pins the loaders' parsing even without the sandbox.

Sources whose samples carry no solution (SandboxFusion's CodeContests and LiveCodeBench rows,
LiveCodeBench hub rows) are checked field by field in ``test_data_loaders.py``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from criticlab import data
from criticlab.data import Problem

FIXTURES = Path(__file__).parents[1] / "fixtures" / "data"
HUMANEVAL_SAMPLE = 12  # HumanEval problems checked (evenly spread over the 164)


def problems_with_solutions() -> list[Problem]:
    humaneval = data.load_humaneval().records
    out = humaneval[:: len(humaneval) // HUMANEVAL_SAMPLE][:HUMANEVAL_SAMPLE]
    out += data.load_mbpp(FIXTURES / "mbpp_schema_sample.jsonl").records
    out += data.load_mbppplus(FIXTURES / "mbppplus_hub_sample.jsonl").records
    out += data.load_apps(FIXTURES / "apps_schema_sample.jsonl").records
    out += [p for p in data.load_taco(FIXTURES / "taco_hub_sample.jsonl").records if p.tests]
    out += [
        p for p in data.load_codecontests(FIXTURES / "codecontests_hub_sample.jsonl").records if p.solutions
    ]
    assert all(p.solutions for p in out)
    return out


# --------------------------------------------------------------------------------------------
# With the project's sandbox
# --------------------------------------------------------------------------------------------


def _executor_class() -> Any:
    try:
        from criticlab.sandbox import LocalExecutor
    except ImportError:
        try:
            from criticlab.sandbox.local import LocalExecutor
        except ImportError as err:
            pytest.skip(f"criticlab.sandbox does not provide LocalExecutor yet ({err})")
    return LocalExecutor


def test_reference_solutions_pass_in_the_sandbox() -> None:
    executor_class = _executor_class()
    problems = problems_with_solutions()
    failures = []
    # MBPP+ test programs import numpy: the benchmark's own harness runs with the environment's
    # packages, so the sandbox is opened with site-packages visible (still jailed and isolated).
    with executor_class(site_packages=True) as executor:
        for problem in problems:
            # the benchmark harness runs the prelude first; prepending it again is harmless when
            # the executor already does
            code = f"{problem.prelude}\n{problem.solutions[0]}" if problem.prelude else problem.solutions[0]
            result = executor.run(problem, code)
            if result.accepted:
                continue
            failures.append(f"{problem.id}: {result.summary()}")
    assert not failures, "\n".join(failures)


# --------------------------------------------------------------------------------------------
# With a plain subprocess (test-only runner)
# --------------------------------------------------------------------------------------------

_DRIVER = textwrap.dedent(
    """
    import json, sys
    spec = json.loads(sys.stdin.read())
    namespace = {"__name__": "__main__"}
    exec(compile(spec["prelude"] + "\\n" + spec["solution"], "<solution>", "exec"), namespace)
    if spec["setup"]:
        exec(compile(spec["setup"], "<setup>", "exec"), namespace)
    owner, _, method = spec["entry_point"].rpartition(".")
    def target():
        if owner:
            return getattr(namespace[owner](), method)
        return namespace[method]
    results = []
    for test in spec["tests"]:
        try:
            if test["kind"] == "call":
                value = target()(*test["args"])
                results.append({"value": json.loads(json.dumps(value))})
            else:
                exec(compile(test["code"], "<test>", "exec"), namespace)
                if "def check(" in test["code"]:
                    namespace["check"](target())
                results.append({"value": True})
        except Exception as err:
            results.append({"error": f"{type(err).__name__}: {err}"})
    print("\\n__RESULTS__" + json.dumps(results))
    """
)


def _close(actual: Any, expected: Any, atol: float | None) -> bool:
    if isinstance(expected, float) or isinstance(actual, float):
        if not isinstance(actual, (int, float)) or not isinstance(expected, (int, float)):
            return False
        return math.isclose(actual, expected, rel_tol=1e-6, abs_tol=atol or 1e-6)
    if isinstance(expected, list) and isinstance(actual, list):
        return len(actual) == len(expected) and all(
            _close(a, e, atol) for a, e in zip(actual, expected, strict=True)
        )
    if isinstance(expected, dict) and isinstance(actual, dict):
        return actual.keys() == expected.keys() and all(
            _close(actual[k], expected[k], atol) for k in expected
        )
    return actual == expected


def _same_stdout(actual: str, expected: str) -> bool:
    got, want = actual.split(), expected.split()
    if len(got) != len(want):
        return False
    for a, b in zip(got, want, strict=True):
        if a == b:
            continue
        try:
            if not math.isclose(float(a), float(b), rel_tol=1e-5, abs_tol=1e-5):
                return False
        except ValueError:
            return False
    return True


def run_reference(problem: Problem, solution: str) -> list[str]:
    """Failure messages of ``solution`` on ``problem``'s tests (empty: all passed)."""
    failures = []
    if problem.kind == "stdio":
        for index, test in enumerate(problem.tests):
            out = subprocess.run(
                [sys.executable, "-I", "-c", problem.prelude + "\n" + solution],
                input=test.input,
                capture_output=True,
                text=True,
                timeout=max(10.0, problem.time_limit * 5),
            )
            if out.returncode != 0 or not _same_stdout(out.stdout, test.output):
                failures.append(
                    f"test {index}: rc={out.returncode} got {out.stdout[:80]!r} want {test.output[:80]!r}"
                )
        return failures
    spec = {
        "solution": solution,
        "prelude": problem.prelude,
        "setup": problem.test_setup,
        "entry_point": problem.entry_point,
        "tests": [t.to_dict() for t in problem.tests],
    }
    out = subprocess.run(
        [sys.executable, "-I", "-c", _DRIVER],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "__RESULTS__" not in out.stdout:
        return [f"driver failed: {out.stderr[-400:]}"]
    results = json.loads(out.stdout.rsplit("__RESULTS__", 1)[1])
    for index, (test, result) in enumerate(zip(problem.tests, results, strict=True)):
        if "error" in result:
            failures.append(f"test {index}: {result['error'][:200]}")
        elif test.kind == "call" and not _close(result["value"], test.expected, test.atol):
            failures.append(f"test {index}: got {result['value']!r} want {test.expected!r}")
    return failures


def test_reference_solutions_pass_a_plain_subprocess_run() -> None:
    problems = problems_with_solutions()
    assert len(problems) >= 30
    report = {p.id: run_reference(p, p.solutions[0]) for p in problems}
    failed = {pid: msgs for pid, msgs in report.items() if msgs}
    assert not failed, json.dumps(failed, indent=1)


def test_the_subprocess_runner_does_fail_wrong_solutions() -> None:
    """Guard against a runner that passes everything."""
    apps = {p.id: p for p in data.load_apps(FIXTURES / "apps_schema_sample.jsonl").records}
    assert run_reference(apps["apps/train/0001"], "print(0)")
    assert run_reference(apps["apps/train/4184"], "def is_prime(n):\n    return [n > 1]\n")  # wrapped = wrong
    mbppplus = {p.id: p for p in data.load_mbppplus(FIXTURES / "mbppplus_hub_sample.jsonl").records}
    assert run_reference(mbppplus["mbppplus/9003"], "def circle_area(r):\n    return 3.14 * r * r\n")
    assert run_reference(mbppplus["mbppplus/9004"], "def shared(a, b):\n    return ()\n")
    humaneval = data.load_humaneval(limit=1).records[0]
    assert run_reference(humaneval, humaneval.question + "    return True\n")

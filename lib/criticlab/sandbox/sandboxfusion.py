"""``SandboxFusionExecutor``: run samples on a SandboxFusion server, judge them here.

SandboxFusion (``POST /run_code``, ``GET /v1/ping``) runs one program per request in its own
sandbox and returns its stdout/stderr and status. This client sends one request per test:

- a stdin/stdout test runs the program itself with the test's input as ``stdin``;
- a call or assert test runs a program made of the harness (``_child.py``, the same code the
  local executor uses), the job spec for that single test (inputs only, literal expectations
  replaced by probes) and the solution; the harness reports records as marker lines on stdout.

Verdicts are decided here by the same :class:`~criticlab.sandbox.judge.Judge` as locally, so a
result means the same thing whichever executor produced it. Connection errors, HTTP 5xx and
``SandboxError`` answers are retried with exponential backoff; when retries run out the
sample is a ``SandboxError`` result (an infrastructure failure, never a wrong answer).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import random
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from criticlab.sandbox import _child
from criticlab.sandbox.base import AsyncService, Sample
from criticlab.sandbox.compare import Checker
from criticlab.sandbox.judge import JobPlan, Judge, TestPlan, plan_job
from criticlab.sandbox.options import FROM_OPTIONS, JudgeOptions
from criticlab.sandbox.types import ExecResult, TestRecord, tail

if TYPE_CHECKING:
    from criticlab.config import SandboxSection

HARNESS_SOURCE = Path(_child.__file__).read_text(encoding="utf-8")
_MARKER_LINE = re.compile(re.escape(_child.MARKER) + r"([A-Za-z0-9+/=]+)")
_RETRYABLE_STATUS = {500, 502, 503, 504}
DEFAULT_SAMPLE_TIMEOUT = 300.0
"""A sample's overall deadline unless the options set one (requests to a server take longer)."""


class SandboxFusionError(RuntimeError):
    """The server could not be used (unreachable, refusing requests); the message names the URL."""


class _Retryable(Exception):
    pass


def harness_program(spec: dict[str, Any], nonce: str) -> str:
    """A self-contained Python program: the harness, then the spec, then its entry point."""
    payload = json.dumps(spec, ensure_ascii=True)
    return f"{HARNESS_SOURCE}\n\n_SPEC = json.loads({payload!r})\nstandalone(_SPEC, {nonce!r})\n"


def parse_records(stdout: str, nonce: str) -> tuple[list[dict[str, Any]], str]:
    """Harness records (with our nonce) out of a program's stdout, and the stdout without them."""
    records = []
    for match in _MARKER_LINE.finditer(stdout):
        try:
            record = json.loads(base64.b64decode(match.group(1)).decode("utf-8", "surrogatepass"))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            continue
        if isinstance(record, dict) and record.pop("n", None) == nonce:
            records.append(record)
    cleaned = _MARKER_LINE.sub("", stdout).replace("\n\n", "\n")
    return records, cleaned


class SandboxFusionExecutor(AsyncService):
    """Execute samples through a SandboxFusion server; same :class:`ExecResult` as locally.

    ``concurrency`` bounds in-flight requests (and the keep-alive pool); ``retries`` and
    ``backoff`` (seconds, doubled per attempt, with jitter, capped at ``max_backoff``) govern
    retries of connection errors, 5xx answers and ``SandboxError`` statuses. ``memory_mb`` is
    passed as ``memory_limit_MB``. ``http_timeout`` is added to each request's run time limit to
    bound how long a request may take. ``transport`` is for tests (an ``httpx`` transport).
    ``options`` (a :class:`~criticlab.sandbox.options.JudgeOptions`, the same record
    :class:`LocalExecutor` judges by) holds the judging settings; the keywords ``time_limit``,
    ``time_scale``, ``sample_timeout`` (default 300 s here), ``compare``, ``float_tol``,
    ``stop_on_first_failure`` and ``checkers``, when given, replace its fields; the result is
    ``self.options``.
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:8080",
        *,
        concurrency: int = 8,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        http_timeout: float = 30.0,
        memory_mb: int | None = 1024,
        compile_timeout: float = 10.0,
        options: JudgeOptions | None = None,
        time_limit: float | None = FROM_OPTIONS,
        time_scale: float = FROM_OPTIONS,
        sample_timeout: float = FROM_OPTIONS,
        compare: str = FROM_OPTIONS,
        float_tol: float = FROM_OPTIONS,
        stop_on_first_failure: bool = FROM_OPTIONS,
        max_pending: int | None = None,
        checkers: dict[str, Checker] | None = FROM_OPTIONS,
        language: str = "python",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__()
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"SandboxFusion url must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        self.options = JudgeOptions.build(
            options,
            sample_timeout_default=DEFAULT_SAMPLE_TIMEOUT,
            time_limit=time_limit,
            time_scale=time_scale,
            sample_timeout=sample_timeout,
            compare=compare,
            float_tol=float_tol,
            stop_on_first_failure=stop_on_first_failure,
            checkers=checkers,
        )
        self.concurrency = max(1, int(concurrency))
        self.retries = max(0, int(retries))
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.http_timeout = float(http_timeout)
        self.memory_mb = memory_mb
        self.compile_timeout = float(compile_timeout)
        self.max_pending = int(max_pending) if max_pending else 4 * self.concurrency
        self.language = language
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None
        self.stats = {"requests": 0, "retries": 0, "infra_errors": 0}

    @classmethod
    def from_config(cls, cfg: SandboxSection, **overrides: Any) -> SandboxFusionExecutor:
        """Build from a :class:`criticlab.config.SandboxSection` (fields it lacks keep defaults)."""
        kwargs: dict[str, Any] = {"url": getattr(cfg, "sandboxfusion_url", "http://127.0.0.1:8080")}
        if hasattr(cfg, "memory_mb"):
            kwargs["memory_mb"] = cfg.memory_mb
        kwargs["options"] = JudgeOptions.from_config(cfg)
        if getattr(cfg, "workers", None):
            kwargs["concurrency"] = cfg.workers
        kwargs.update(overrides)
        return cls(**kwargs)

    # -- lifecycle ---------------------------------------------------------------------------

    async def _astart(self) -> None:
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        self._client = httpx.AsyncClient(
            base_url=self.url,
            limits=limits,
            transport=self._transport,
            timeout=httpx.Timeout(self.http_timeout),
        )
        self._slots = asyncio.Semaphore(self.concurrency)

    async def _aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def ping(self) -> bool:
        """True when ``GET /v1/ping`` answers (a quick reachability check, no retries)."""

        async def ping() -> bool:
            assert self._client is not None
            try:
                response = await self._client.get("/v1/ping", timeout=5.0)
            except httpx.HTTPError:
                return False
            return response.status_code == 200 and "pong" in response.text

        return bool(self._submit(ping()).result())

    # -- running -----------------------------------------------------------------------------

    def plan(self, problem: Any, code: str | None) -> JobPlan:
        """The job plan for (problem, code) under this executor's settings."""
        return plan_job(problem, code, self.options)

    async def _run_sample(self, sample: Sample, stop_first: bool) -> ExecResult:
        started = time.perf_counter()
        plan = self.plan(sample.problem, sample.code)
        if plan.immediate is not None:
            result = plan.immediate
        else:
            result = await self._judge_sample(plan, stop_first)
        result.timings["wall"] = time.perf_counter() - started
        result.executor = "sandboxfusion"
        result.isolation = {"mode": "sandboxfusion", "server": self.url}
        if result.is_infra_error:
            self.stats["infra_errors"] += 1
        return result

    async def _judge_sample(self, plan: JobPlan, stop_first: bool) -> ExecResult:
        judge = Judge(plan)
        deadline = time.monotonic() + plan.deadline + self.http_timeout
        try:
            if stop_first:
                for test in plan.tests:
                    records = await self._run_test(plan, judge, test, deadline)
                    if any(not r.passed for r in records):
                        break
            else:
                await asyncio.gather(*(self._run_test(plan, judge, t, deadline) for t in plan.tests))
        except SandboxFusionError as err:
            return ExecResult.sandbox_error(str(err), problem_id=plan.problem.id, total=len(plan.tests))
        return judge.result(stop_first=stop_first)

    async def _run_test(
        self, plan: JobPlan, judge: Judge, test: TestPlan, deadline: float
    ) -> list[TestRecord]:
        if time.monotonic() >= deadline:
            record = judge.on_test({"i": test.index, "rec": None, "end": "deadline"})
            return [record] if record else []
        request = self._request(plan, test)
        answer = await self._post(request)
        return self._interpret(plan, judge, test, answer)

    def _request(self, plan: JobPlan, test: TestPlan) -> dict[str, Any]:
        request: dict[str, Any] = {
            "language": self.language,
            "compile_timeout": self.compile_timeout,
            "run_timeout": plan.time_limit,
            "files": {},
            "fetch_files": [],
        }
        if self.memory_mb:
            request["memory_limit_MB"] = int(self.memory_mb)
        if test.test.kind == "stdio":
            request.update(code=plan.code, stdin=test.test.input)
        else:
            wire = (
                {"k": "assert", "c": test.rewritten.code, "check": test.rewritten.call_check}
                if test.rewritten is not None
                else test.wire
            )  # source: the server's Python may differ
            spec = dict(plan.spec, tests=[wire], first=0, last=1)
            # the load phase and the test share one run time limit on the server: allow both
            request.update(code=harness_program(spec, plan.nonce), stdin="", run_timeout=2 * plan.time_limit)
        return request

    async def _post(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._client is not None and self._slots is not None
        timeout = float(request["run_timeout"]) + self.compile_timeout + self.http_timeout
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats["retries"] += 1
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
            try:
                async with self._slots:
                    self.stats["requests"] += 1
                    response = await self._client.post("/run_code", json=request, timeout=timeout)
                return self._check_response(response)
            except _Retryable as err:
                problem = str(err)
            except httpx.TransportError as err:  # connect errors, resets, read timeouts
                problem = f"{type(err).__name__}: {err}"
        raise SandboxFusionError(
            f"SandboxFusion at {self.url} failed after {self.retries + 1} attempts: {problem}"
        )

    def _check_response(self, response: httpx.Response) -> dict[str, Any]:
        where = f"{self.url}/run_code"
        if response.status_code in _RETRYABLE_STATUS:
            raise _Retryable(f"HTTP {response.status_code} from {where}")
        if response.status_code != 200:
            raise SandboxFusionError(f"HTTP {response.status_code} from {where}: {response.text[:300]}")
        try:
            answer = response.json()
        except ValueError:
            raise _Retryable(f"{where} answered with something that is not JSON") from None
        if not isinstance(answer, dict) or "status" not in answer:
            raise _Retryable(f"{where} answered without a status")
        if answer.get("status") == "SandboxError":
            raise _Retryable(f"SandboxError from {where}: {str(answer.get('message', ''))[:300]}")
        return answer

    def _interpret(
        self, plan: JobPlan, judge: Judge, test: TestPlan, answer: dict[str, Any]
    ) -> list[TestRecord]:
        """Turn one /run_code answer into judge events for ``test``."""
        run = answer.get("run_result") or {}
        compile_result = answer.get("compile_result") or {}
        status = run.get("status") or compile_result.get("status")
        stdout = str(run.get("stdout") or "")
        stderr = str(run.get("stderr") or "")
        return_code = run.get("return_code")
        end, detail = None, ""
        if status == "TimeLimitExceeded":
            end = "timeout"
        elif status == "Finished" and isinstance(return_code, int) and return_code != 0:
            end, detail = _exit_reason(return_code, stderr)
        if test.test.kind == "stdio":
            event: dict[str, Any] = {
                "i": test.index,
                "rec": None,
                "stdout": stdout,
                "stderr": tail(stderr, 4000),
            }
            if end is not None:
                event["end"], event["detail"] = end, detail
                exc = _last_exception(stderr)
                if exc and end == "exit":
                    event["rec"] = {
                        "i": test.index,
                        "s": "exc",
                        "e": exc[0],
                        "m": exc[1],
                        "tb": tail(stderr, 3000),
                    }
                    del event["end"]
            record = judge.on_test(event)
            return [record] if record else []
        records, _ = parse_records(stdout, plan.nonce)
        decided: list[TestRecord] = []
        loaded = False
        final = None
        started = False  # the harness handed control to the program: it can forge records now
        for record in records:
            if record.get("ph") == "run":
                started = True
            elif record.get("s") == "prelude" and started:
                outcome = judge.on_test(
                    {
                        "i": test.index,
                        "rec": None,
                        "end": "channel",
                        "detail": "a prelude failure reported after the program started",
                    }
                )
                return decided + ([outcome] if outcome else [])
            elif record.get("ph") == "loaded":
                loaded = True
            elif record.get("ph") == "load":
                decided += judge.on_load({"first": test.index, "last": test.index + 1, "fail": record})
                return decided
            elif record.get("i") == 0 and "p" in record:
                probe = judge.on_probe(test.index, record.get("p"), record.get("v"), bool(record.get("big")))
                decided += [probe] if probe else []
            elif record.get("i") == 0 and "s" in record:
                final = dict(record, i=test.index)
        if final is not None:
            outcome = judge.on_test({"i": test.index, "rec": final})
        elif not loaded and end is not None:
            decided += judge.on_load(
                {"first": test.index, "last": test.index + 1, "fail": None, "end": end, "detail": detail}
            )
            return decided
        else:
            outcome = judge.on_test({"i": test.index, "rec": None, "end": end or "exit", "detail": detail})
        return decided + ([outcome] if outcome else [])


def _exit_reason(code: int, stderr: str) -> tuple[str, str]:
    """Classify a non-zero exit of a server-side run (negative: killed by that signal)."""
    if "MemoryError" in stderr[-2000:]:
        return "memory", "MemoryError"
    if code in (-9, 137):
        return "memory" if "Killed" in stderr or not stderr else "signal", f"exit code {code}"
    if code < 0 or code > 128:
        return "signal", f"exit code {code}"
    return "exit", f"exit code {code}"


def _last_exception(stderr: str) -> tuple[str, str] | None:
    """``(type, message)`` from the last line of a Python traceback in ``stderr``."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    if not lines or not any(line.startswith("Traceback") for line in lines):
        return None
    name, _, message = lines[-1].partition(":")
    if not name or " " in name.strip():
        return None
    return name.strip(), message.strip()

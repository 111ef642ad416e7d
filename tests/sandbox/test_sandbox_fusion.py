"""SandboxFusionExecutor against a loopback server that speaks SandboxFusion's API.

The server runs each program with a plain ``python -I`` subprocess (these tests only send our
own programs) and can be told to answer slowly, fail with 5xx, report ``SandboxError`` or drop
the connection, so retries and the infrastructure-error policy are tested for real.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from criticlab.config import SandboxSection
from criticlab.data.humaneval import load_humaneval
from criticlab.data.types import Problem, Test
from criticlab.sandbox import JudgeOptions, LocalExecutor, SandboxFusionExecutor, Verdict, make_executor
from criticlab.sandbox.sandboxfusion import harness_program, parse_records


class FakeSandboxFusion(ThreadingHTTPServer):
    """``/run_code`` and ``/v1/ping`` with scripted misbehaviour (``script``: one word per request)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[str] = []
        self.lock = threading.Lock()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.client_ports: set[int] = set()
        self.delay = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def next_action(self) -> str:
        with self.lock:
            self.requests += 1
            return self.script.pop(0) if self.script else "ok"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real server
    server: FakeSandboxFusion

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/v1/ping":
            self._send(200, "pong")
        else:
            self._send(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        server = self.server
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server.client_ports.add(self.client_address[1])
        with server.lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            action = server.next_action()
            if action == "500":
                return self._send(500, {"detail": "internal error"})
            if action == "503":
                return self._send(503, {"detail": "overloaded"})
            if action == "400":
                return self._send(400, {"detail": "bad request"})
            if action == "sandbox_error":
                return self._send(
                    200, {"status": "SandboxError", "message": "pod evicted", "run_result": None}
                )
            if action == "drop":
                self.close_connection = True
                self.connection.close()
                return None
            if action == "slow":
                time.sleep(3)
            time.sleep(server.delay)
            return self._send(200, self._run(request))
        finally:
            with server.lock:
                server.in_flight -= 1

    def _run(self, request: dict[str, Any]) -> dict[str, Any]:
        assert request["language"] == "python"
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [sys.executable, "-I", "-c", request["code"]],
                input=request.get("stdin") or "",
                capture_output=True,
                text=True,
                timeout=request["run_timeout"],
            )
            run = {
                "status": "Finished",
                "return_code": proc.returncode,
                "stdout": proc.stdout,
                "stderr": proc.stderr,
            }
        except subprocess.TimeoutExpired as err:
            run = {
                "status": "TimeLimitExceeded",
                "return_code": None,
                "stdout": (err.stdout or b"").decode()
                if isinstance(err.stdout, bytes)
                else (err.stdout or ""),
                "stderr": "",
            }
        run["execution_time"] = time.monotonic() - started
        status = "Success" if run["return_code"] == 0 else "Failed"
        return {
            "status": status,
            "message": "",
            "compile_result": None,
            "run_result": run,
            "executor_pod_name": None,
            "files": {},
        }


@pytest.fixture
def server() -> Iterator[FakeSandboxFusion]:
    srv = FakeSandboxFusion()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def client(server: FakeSandboxFusion) -> Iterator[SandboxFusionExecutor]:
    with SandboxFusionExecutor(server.url, concurrency=4, retries=3, backoff=0.01, http_timeout=1.0) as ex:
        yield ex


def functional(tests: list[Test], entry: str = "f", time_limit: float = 2.0) -> Problem:
    return Problem(
        id="sf",
        source="test",
        question="q",
        kind="functional",
        entry_point=entry,
        tests=tests,
        time_limit=time_limit,
    )


def stdio(pairs: list[tuple[str, str]], time_limit: float = 2.0) -> Problem:
    return Problem(
        id="sf-io",
        source="test",
        question="q",
        kind="stdio",
        tests=[Test(kind="stdio", input=i, output=o) for i, o in pairs],
        time_limit=time_limit,
    )


def test_ping(client: SandboxFusionExecutor) -> None:
    assert client.ping()


def test_humaneval_canonical_solutions_and_mutants_match_the_local_executor(
    client: SandboxFusionExecutor, executor: LocalExecutor
) -> None:
    problems = load_humaneval(limit=8).records
    samples = [(p, p.solutions[0]) for p in problems]
    samples += [(p, p.solutions[0].replace("return ", "return None and ")) for p in problems]
    remote = client.run_batch(samples)
    local = executor.run_batch(samples)
    assert all(r.accepted for r in remote[:8]), [r.summary() for r in remote[:8] if not r.accepted]
    assert [r.verdict for r in remote] == [r.verdict for r in local]
    assert all(r.executor == "sandboxfusion" and r.isolation["mode"] == "sandboxfusion" for r in remote)


def test_call_stdio_and_failure_verdicts(client: SandboxFusionExecutor) -> None:
    calls = functional([Test(kind="call", args=[2], expected=4), Test(kind="call", args=[3], expected=9)])
    assert client.run(calls, "def f(x):\n    return x * x\n").accepted
    wrong = client.run(calls, "def f(x):\n    return x + x\n")
    assert [t.verdict for t in wrong.tests] == [Verdict.ACCEPTED, Verdict.WRONG_ANSWER] and wrong.tests[
        1
    ].actual == "6"
    crash = client.run(calls, "def f(x):\n    return 1 / 0\n")
    assert crash.verdict is Verdict.RUNTIME_ERROR and "ZeroDivisionError" in crash.tests[0].exception
    assert client.run(calls, "def f(x) return").verdict is Verdict.COMPILE_ERROR
    assert (
        client.run(calls, "import os\nos._exit(0)\ndef f(x):\n    return x * x\n").verdict
        is Verdict.NO_RESULT
    )
    always = "class A:\n    def __eq__(self, o): return True\ndef f(x):\n    return A()\n"
    assert client.run(calls, always).verdict is Verdict.WRONG_ANSWER

    io = stdio([("2 3\n", "5"), ("1 1\n", "2")])
    assert client.run(io, "a, b = map(int, input().split())\nprint(a + b)\n").accepted
    assert client.run(io, "print(0)").verdict is Verdict.WRONG_ANSWER
    failed = client.run(io, "raise KeyError('k')")
    assert failed.verdict is Verdict.RUNTIME_ERROR and failed.tests[0].exception.startswith("KeyError")
    slow = client.run(stdio([("", "1")], time_limit=0.3), "import time\ntime.sleep(10)\n")
    assert slow.verdict is Verdict.TIME_LIMIT_EXCEEDED


def test_stop_on_first_failure_sends_fewer_requests(
    server: FakeSandboxFusion, client: SandboxFusionExecutor
) -> None:
    problem = functional([Test(kind="call", args=[i], expected=-1) for i in range(5)])
    before = server.requests
    result = client.run(problem, "def f(x):\n    return x\n", stop_on_first_failure=True)
    assert result.verdict is Verdict.WRONG_ANSWER and len(result.tests) == 1 and result.total == 5
    assert server.requests - before == 1


@pytest.mark.parametrize("failures", [["500", "503"], ["sandbox_error", "sandbox_error"], ["drop"], ["slow"]])
def test_transient_failures_are_retried(server: FakeSandboxFusion, failures: list[str]) -> None:
    server.script = list(failures)
    # a request may take its run time limit (2 x 0.3 s here) plus 0.1 s + 1 s before it counts as lost
    with SandboxFusionExecutor(
        server.url, retries=3, backoff=0.01, http_timeout=1.0, compile_timeout=0.1
    ) as client:
        result = client.run(
            functional([Test(kind="call", args=[1], expected=1)], time_limit=0.3), "def f(x):\n    return x\n"
        )
    assert result.accepted, result.summary()
    assert client.stats["retries"] >= len(failures)


@pytest.mark.parametrize("failure", ["500", "sandbox_error"])
def test_persistent_failures_are_infrastructure_errors(
    server: FakeSandboxFusion, client: SandboxFusionExecutor, failure: str
) -> None:
    server.script = [failure] * 10
    result = client.run(functional([Test(kind="call", args=[1], expected=1)]), "def f(x):\n    return x\n")
    assert result.verdict is Verdict.SANDBOX_ERROR and result.is_infra_error
    assert server.url in result.error and not result.tests
    assert server.requests == 4  # one try and three retries


def test_client_errors_are_not_retried(server: FakeSandboxFusion, client: SandboxFusionExecutor) -> None:
    server.script = ["400"]
    result = client.run(functional([Test(kind="call", args=[1], expected=1)]), "def f(x):\n    return x\n")
    assert result.is_infra_error and "HTTP 400" in result.error and server.requests == 1


def test_unreachable_server() -> None:
    with SandboxFusionExecutor("http://127.0.0.1:9", retries=1, backoff=0.01, http_timeout=1.0) as ex:
        assert not ex.ping()
        result = ex.run(functional([Test(kind="call", args=[1], expected=1)]), "def f(x):\n    return x\n")
    assert result.verdict is Verdict.SANDBOX_ERROR and "127.0.0.1:9" in result.error


def test_keep_alive_and_bounded_concurrency(server: FakeSandboxFusion, client: SandboxFusionExecutor) -> None:
    server.delay = 0.05
    problem = functional([Test(kind="call", args=[i], expected=i) for i in range(3)])
    results = client.run_batch([(problem, "def f(x):\n    return x\n")] * 8)
    assert all(r.accepted for r in results)
    assert server.requests == 24
    assert server.max_in_flight <= 4
    assert len(server.client_ports) <= 4  # connections are reused, not opened per request


def test_harness_program_reports_through_stdout() -> None:
    spec = {
        "code": "def f(x):\n    print('noise')\n    return x + 1\n",
        "entry": "f",
        "needs_entry": True,
        "tests": [{"k": "call", "a": "[1]"}],
        "first": 0,
        "last": 1,
    }
    program = harness_program(spec, "nonce123")
    out = subprocess.run(
        [sys.executable, "-I", "-c", program], capture_output=True, text=True, timeout=30
    ).stdout
    records, rest = parse_records(out, "nonce123")
    assert [r.get("ph") or r.get("s") for r in records] == ["run", "loaded", "ok"] and records[2]["v"] == 2
    assert "noise" in rest and "@@criticlab" not in rest
    assert parse_records(out, "other-nonce")[0] == []  # records need the run's nonce


# ------------------------------------------------------------------------------------------
# one JudgeOptions record for both executors (constructed only: nothing is started)
# ------------------------------------------------------------------------------------------


def test_executors_built_from_one_profile_judge_by_equal_options() -> None:
    cfg = SandboxSection(
        time_limit=1.5,
        time_scale=2.0,
        sample_timeout=45.0,
        compare="strict",
        float_tol=1e-3,
        stop_on_first_failure=True,
    )
    local = make_executor(cfg)
    remote = make_executor(dataclasses.replace(cfg, executor="sandboxfusion"))
    assert isinstance(local, LocalExecutor) and isinstance(remote, SandboxFusionExecutor)
    expected = JudgeOptions(
        time_limit=1.5,
        time_scale=2.0,
        sample_timeout=45.0,
        compare="strict",
        float_tol=1e-3,
        stop_on_first_failure=True,
    )
    assert local.options == remote.options == expected
    problem = functional([Test(kind="call", args=[1], expected=1)])
    assert (
        local.plan(problem, "x = 1").deadline == remote.plan(problem, "x = 1").deadline == 8.0
    )  # 2 × 1.5 × 2 + 2
    # keywords given to make_executor still win over the profile, even None (the problem's own limit)
    assert make_executor(cfg, time_limit=None, compare="tokens").options == dataclasses.replace(
        expected, time_limit=None, compare="tokens"
    )
    # a section without a sample timeout leaves each executor its own default
    partial = SimpleNamespace(compare="strict", stop_on_first_failure=True)
    assert LocalExecutor.from_config(partial).options == JudgeOptions(
        compare="strict", stop_on_first_failure=True, sample_timeout=60.0
    )
    assert SandboxFusionExecutor.from_config(partial).options == JudgeOptions(
        compare="strict", stop_on_first_failure=True, sample_timeout=300.0
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda: JudgeOptions(compare="exact"),
        lambda: LocalExecutor(workers=1, compare="exact"),
        lambda: SandboxFusionExecutor(compare="exact"),
        lambda: SandboxFusionExecutor.from_config(SimpleNamespace(compare="exact")),
        lambda: LocalExecutor(workers=1, options=JudgeOptions(compare="strict"), compare="exact"),
    ],
    ids=["record", "local", "sandboxfusion", "sandboxfusion-config", "local-over-record"],
)
def test_an_unknown_compare_rule_is_rejected_naming_the_argument(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=r"compare must be 'tokens' or 'strict', got 'exact'"):
        build()


@pytest.mark.parametrize("executor_class", [LocalExecutor, SandboxFusionExecutor])
def test_an_options_record_and_the_loose_keywords_give_the_same_record(executor_class: type) -> None:
    def any_order(_test: Any, _actual: Any) -> bool:
        return True

    keywords: dict[str, Any] = {
        "time_limit": 0.7,
        "time_scale": 1.5,
        "sample_timeout": 20.0,
        "compare": "strict",
        "float_tol": 1e-3,
        "stop_on_first_failure": True,
        "checkers": {"any": any_order},
    }
    record = JudgeOptions(**keywords)
    from_record = executor_class(options=record)
    from_keywords = executor_class(**keywords)
    assert from_record.options == from_keywords.options == record
    # the old attributes read through to the record
    assert (
        from_keywords.time_limit,
        from_keywords.time_scale,
        from_keywords.sample_timeout,
        from_keywords.compare,
        from_keywords.float_tol,
        from_keywords.stop_on_first_failure,
    ) == (0.7, 1.5, 20.0, "strict", 1e-3, True)
    assert dict(from_keywords.checkers) == {"any": any_order}
    # keywords given next to a record replace its fields; the record itself is frozen
    assert executor_class(options=record, compare="tokens").options == dataclasses.replace(
        record, compare="tokens"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.compare = "tokens"  # type: ignore[misc]
    # a record that leaves the sample timeout open gets the executor's own default
    own_default = 60.0 if executor_class is LocalExecutor else 300.0
    assert executor_class(options=JudgeOptions()).options == executor_class().options
    assert executor_class(options=JudgeOptions()).sample_timeout == own_default

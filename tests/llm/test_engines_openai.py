"""The OpenAI-compatible backend against loopback servers: a scripted one and llama.cpp's own."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from criticlab.llm.base import EngineError, SamplingParams
from criticlab.llm.cache import CachedEngine
from criticlab.llm.openai_server import OpenAIEngine

CONV = [{"role": "user", "content": "Say hi."}]


class Scripted(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions by what the last user message asks for."""

    calls: dict[str, int] = {}
    lock = threading.Lock()

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._send(200, json.dumps({"data": [{"id": "scripted"}]}))
        else:
            self._send(404, "{}")

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        with self.lock:
            Scripted.calls[prompt] = Scripted.calls.get(prompt, 0) + 1
            count = Scripted.calls[prompt]
        if prompt == "flaky" and count <= 2:
            return self._send(503, '{"error": "overloaded"}')
        if prompt == "broken":
            return self._send(500, '{"error": "always"}')
        if prompt == "slow":
            time.sleep(1.5)
        if prompt == "malformed":
            return self._send(200, '{"choices": []}')
        if prompt == "not json":
            return self._send(200, "<html>proxy error</html>")
        if prompt == "bad request":
            return self._send(400, '{"error": "context too long"}')
        content = None if prompt == "empty" else f"echo {prompt} seed={body['seed']} t={body['temperature']}"
        answer = {
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "length" if prompt == "long" else "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7},
        }
        self._send(200, json.dumps(answer))


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # a client that timed out hung up: expected
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Scripted.calls = {}
    httpd = QuietServer(("127.0.0.1", 0), Scripted)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def ask(engine: OpenAIEngine, *prompts: str, n: int = 1, **sampling):
    convs = [[{"role": "user", "content": p}] for p in prompts]
    return engine.generate(convs, SamplingParams(**sampling), n=n)


def test_samples_carry_their_own_seed_and_shape(server: str) -> None:
    engine = OpenAIEngine(server, "scripted", backoff=0.01)
    out = ask(engine, "a", "b", n=3, seed=10)
    assert [[c.text for c in row] for row in out] == [
        [f"echo {p} seed={10 + i} t=0.7" for i in range(3)] for p in ("a", "b")
    ]
    assert out[0][0].completion_tokens == 7 and out[0][0].finish_reason == "stop"
    assert ask(engine, "long")[0][0].finish_reason == "length"
    assert engine.check() == ["scripted"]


def test_retries_5xx_then_succeeds(server: str) -> None:
    engine = OpenAIEngine(server, "scripted", retries=3, backoff=0.01)
    [[completion]] = ask(engine, "flaky")
    assert completion.ok and completion.text.startswith("echo flaky")
    assert Scripted.calls["flaky"] == 3


def test_persistent_errors_become_recorded_outcomes(server: str) -> None:
    engine = OpenAIEngine(server, "scripted", retries=1, backoff=0.01)
    out = ask(engine, "broken", "malformed", "not json", "bad request", "empty", "fine")
    broken, malformed, not_json, bad, empty, fine = (row[0] for row in out)
    assert broken.finish_reason == "error" and "after 2 attempts" in broken.error and server in broken.error
    assert Scripted.calls["broken"] == 2
    assert malformed.finish_reason == "error" and "malformed" in malformed.error
    assert not_json.finish_reason == "error"
    assert bad.finish_reason == "error" and "HTTP 400" in bad.error and Scripted.calls["bad request"] == 1
    assert empty.ok and empty.text == ""  # an empty answer is an answer, recorded as such
    assert fine.ok


def test_timeout_is_retried_then_recorded(server: str) -> None:
    engine = OpenAIEngine(server, "scripted", timeout=0.3, retries=1, backoff=0.01)
    [[completion]] = ask(engine, "slow")
    assert completion.finish_reason == "error" and "ReadTimeout" in completion.error
    assert Scripted.calls["slow"] == 2


def test_unreachable_server_is_named() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        engine = OpenAIEngine(f"http://127.0.0.1:{port}/v1", "x", retries=0)
        with pytest.raises(EngineError, match=f"127.0.0.1:{port}/v1/models"):
            engine.check()
        [[completion]] = ask(engine, "a")
    assert completion.finish_reason == "error" and "ConnectError" in completion.error


def test_cache_makes_the_second_call_free(server: str, tmp_path) -> None:
    cached = CachedEngine(OpenAIEngine(server, "scripted"), tmp_path / "cache.sqlite")
    first = cached.generate([CONV], SamplingParams(), n=2)
    assert cached.calls == 2
    second = cached.generate([CONV], SamplingParams(), n=2)
    assert cached.calls == 2 and [c.text for c in second[0]] == [c.text for c in first[0]]
    assert all(c.cached for c in second[0])
    third = cached.generate([CONV], SamplingParams(), n=3)  # only the new sample index is generated
    assert cached.calls == 3 and third[0][2].text.endswith("seed=2 t=0.7")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """llama.cpp's own OpenAI-compatible server on loopback, serving the embedded SmolLM2."""
    pytest.importorskip("llama_cpp.server", reason="the cpu extra (llama-cpp-python[server]) is required")
    from criticlab.llm import models

    path = models.fetch("smollm2-135m-instruct", quiet=True)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--model_alias",
            "smollm2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{base}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited during start-up (code {proc.returncode})")
            time.sleep(0.25)
        else:
            raise RuntimeError("llama.cpp server did not answer /v1/models within 60 s")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_against_llama_cpp_server(llama_server: str) -> None:
    engine = OpenAIEngine(llama_server, "smollm2", max_concurrency=2)
    assert "smollm2" in engine.check()
    out = engine.generate(
        [CONV, [{"role": "user", "content": "Count to three."}]],
        SamplingParams(temperature=0.0, max_tokens=8),
        n=1,
    )
    assert all(row[0].ok and row[0].text for row in out)
    assert out[0][0].completion_tokens <= 8
    again = engine.generate([CONV], SamplingParams(temperature=0.0, max_tokens=8), n=1)
    assert again[0][0].text == out[0][0].text  # greedy is deterministic

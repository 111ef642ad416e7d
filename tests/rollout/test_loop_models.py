"""The loop with real engines: the tiny random model (fast) and the embedded Qwen (one short run).

Beyond the scripted tests in test_loop.py, these check what only real engines can break:
complete trajectories from real (possibly garbage) text, a second run served entirely from the
response cache, and a run killed with SIGKILL mid-way that a re-run finishes without repeating
finished work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from scripted import ADD, ECHO

from criticlab.io import read_jsonl
from criticlab.llm.base import SamplingParams
from criticlab.llm.cache import CachedEngine
from criticlab.rollout.loop import LoopConfig, run_loop
from criticlab.rollout.trajectory import load_trajectories

SHORT = SamplingParams(temperature=0.7, max_tokens=12, seed=3)
CONFIG = LoopConfig(
    method="self",
    critic_mode="self_critique",
    rounds=1,
    samples=2,
    chunk_size=1,
    solution_sampling=SHORT,
    critique_sampling=SHORT,
    revision_sampling=SHORT.with_(temperature=0.0),
)


@pytest.fixture(scope="module")
def tiny():
    from criticlab.llm import models
    from criticlab.llm.hf import HFEngine

    return HFEngine(models.save_tiny_qwen2(models.cache_dir() / models.TINY_RANDOM))


def test_tiny_model_trajectories_are_complete_and_cached(tiny, executor, tmp_path) -> None:
    cached = CachedEngine(tiny, tmp_path / "cache.sqlite")
    first = run_loop([ADD, ECHO], cached, executor, CONFIG, out_path=tmp_path / "a.jsonl")
    assert [(t.problem_id, t.sample) for t in first] == [("add", 0), ("add", 1), ("echo", 0), ("echo", 1)]
    for t in first:
        assert len(t.rounds) == 2 and t.rounds[0].critique is not None
        assert all(r.result.total == 2 and not r.result.is_infra_error for r in t.rounds)
    calls = cached.calls
    assert calls == 4 * 3  # solution, critique, revision per trajectory
    again = run_loop([ADD, ECHO], cached, executor, CONFIG, out_path=tmp_path / "b.jsonl")
    assert cached.calls == calls  # everything came from the cache
    assert [t.to_dict() for t in again] == [t.to_dict() for t in first]


DRIVER = textwrap.dedent("""
    import sys, time
    sys.path[:0] = [{tests!r}, {here!r}]  # scripted.py, and this test module
    from scripted import ADD, ECHO
    from criticlab.llm.cache import CachedEngine
    from criticlab.llm import models
    from criticlab.llm.hf import HFEngine
    from criticlab.rollout.loop import run_loop
    from criticlab.sandbox import LocalExecutor
    from test_loop_models import CONFIG

    class Slow(CachedEngine):  # give the test time to kill us after the first chunk
        def generate(self, *a, **k):
            out = super().generate(*a, **k)
            time.sleep(0.3)
            return out

    tiny = HFEngine(models.save_tiny_qwen2(models.cache_dir() / models.TINY_RANDOM))
    with LocalExecutor(workers=1) as ex:
        run_loop([ADD, ECHO, ADD.__class__(**{{**ADD.to_dict(), "id": "add2"}})], Slow(tiny, {cache!r}),
                 ex, CONFIG, out_path={out!r})
""")


def test_killed_run_resumes_without_repeating_work(tiny, executor, tmp_path) -> None:
    out, cache = tmp_path / "t.jsonl", tmp_path / "cache.sqlite"
    script = tmp_path / "driver.py"
    script.write_text(
        DRIVER.format(
            tests=str(Path(__file__).parents[1]),
            here=str(Path(__file__).parent),
            cache=str(cache),
            out=str(out),
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)], start_new_session=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if out.is_file() and len(read_jsonl(out, skip_truncated_tail=True)) >= 2:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the driver finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = set(load_trajectories(out))
    assert {("add", 0), ("add", 1)} <= done_before and len(done_before) < 6

    problems = [ADD, ECHO, ADD.__class__(**{**ADD.to_dict(), "id": "add2"})]
    resumed = CachedEngine(tiny, cache)
    trajectories = run_loop(problems, resumed, executor, CONFIG, out_path=out)
    assert len(trajectories) == 6 and len(read_jsonl(out)) == 6
    assert resumed.calls <= (6 - len(done_before)) * 3  # nothing finished was generated again


@pytest.mark.network
def test_one_short_run_with_the_embedded_model(executor, tmp_path) -> None:
    from criticlab.llm.llamacpp import LlamaCppEngine

    with LlamaCppEngine("qwen2.5-coder-0.5b-instruct", n_ctx=2048) as engine:
        cached = CachedEngine(engine, tmp_path / "cache.sqlite")
        sampling = SamplingParams(temperature=0.7, max_tokens=160, seed=0)
        config = LoopConfig(
            method="self",
            critic_mode="self_critique",
            rounds=1,
            solution_sampling=sampling,
            critique_sampling=sampling,
            revision_sampling=sampling.with_(temperature=0.0),
        )
        [t] = run_loop([ADD], cached, executor, config)
        assert len(t.rounds) == 2 and t.rounds[0].code is not None  # the real coder answers with code
        assert t.rounds[0].critique and not t.has_infra_error
        calls = cached.calls
        run_loop([ADD], cached, executor, config)
        assert cached.calls == calls

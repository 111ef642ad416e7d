"""The vllm backend's pure parts on the CPU suite: CPU engine arguments, the code stop, the
dependency filter of ``make setup-vllm``, and the content key of converted GGUF checkpoints.
(The backend against the real vLLM: tests/real_vllm, run in .venv-vllm.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from criticlab.llm import EngineError, SamplingParams
from criticlab.llm.vllm_engine import (
    FENCE_STOP,
    cpu_dtype,
    cpu_threads_env,
    engine_args,
    needs_continuing,
    sampling_args,
)
from criticlab.tools.vllm_cpu_requirements import requirement_name, wanted


def test_a_cpu_engine_takes_a_kv_cache_in_gib_and_runs_eagerly() -> None:
    args = engine_args("m", max_model_len=2048, kv_cache_gb=1.5, dtype="bfloat16", eager=True, lora_rank=8)
    assert args["kv_cache_memory_bytes"] == int(1.5 * 2**30) and "gpu_memory_utilization" not in args
    assert args["enforce_eager"] is True and args["max_lora_rank"] == 8
    # whole prompts only on the CPU (a split prefill of a seeded request kills vLLM 0.32's CPU engine)
    assert args["enable_chunked_prefill"] is False and args["max_num_batched_tokens"] == 8192
    long = engine_args("m", max_model_len=16384, kv_cache_gb=1.5, dtype="bfloat16")
    assert long["max_num_batched_tokens"] == 16384  # the longest prompt always fits one step
    card = engine_args("m", max_model_len=2048, memory_share=0.3, dtype="auto")
    assert "enable_chunked_prefill" not in card and "max_num_batched_tokens" not in card
    assert "enforce_eager" not in engine_args("m", max_model_len=1, kv_cache_gb=1, dtype="float32")
    with pytest.raises(EngineError, match="one of them"):
        engine_args("m", max_model_len=1, memory_share=0.3, kv_cache_gb=1, dtype="auto")
    with pytest.raises(EngineError, match="one of them"):
        engine_args("m", max_model_len=1, dtype="auto")
    with pytest.raises(EngineError, match="positive size in GiB, got -1"):
        engine_args("m", max_model_len=1, kv_cache_gb=-1, dtype="auto")
    assert cpu_dtype(True) == "bfloat16" and cpu_dtype(False) == "float32"


def test_stop_after_code_stops_at_fence_lines_and_goes_on_past_other_blocks() -> None:
    sampling = SamplingParams(temperature=0.0, max_tokens=50, stop=("###",), stop_after_code=True)
    args = sampling_args(sampling, 1, max_tokens=20)
    assert args["stop"] == ["###", FENCE_STOP] and args["include_stop_str_in_output"] is True
    assert args["max_tokens"] == 20 and args["seed"] == 1
    assert "include_stop_str_in_output" not in sampling_args(sampling.with_(stop_after_code=False), 0)
    python = "Here:\n```python\nx = 1\n```\n"
    assert not needs_continuing(python, FENCE_STOP, sampling)
    assert needs_continuing("```bash\nls\n```\n", FENCE_STOP, sampling)  # no Python block closed
    assert needs_continuing("Code:\n```\n", FENCE_STOP, sampling)  # an unlabelled block opened
    assert not needs_continuing("```bash\nls\n```\n", "###", sampling)  # another stop: the end
    assert not needs_continuing("```bash\nls\n```\n", FENCE_STOP, sampling.with_(stop_after_code=False))


def test_setup_vllm_leaves_out_the_media_packages() -> None:
    requirements = [
        "regex",
        "torch==2.13.0+cpu; platform_machine == 'x86_64'",
        "torchvision; platform_machine != 'riscv64'",
        "torch_audio>=1",
        "TorchCodec>=0.14; platform_machine != 'riscv64'",
        "pandas; extra == 'bench'",
        'scipy; extra=="audio"',
        "numba; extra=='jit'",
    ]
    assert wanted(requirements) == [*requirements[:2], "torch_audio>=1"]
    assert requirement_name("Torch_Codec.x>=1") == "torch-codec-x"
    with pytest.raises(ValueError, match="not a requirement"):
        requirement_name(";")


def test_a_converted_gguf_is_keyed_by_its_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from criticlab.llm import hf, models

    monkeypatch.setattr(models, "cache_dir", lambda: tmp_path / "cache")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF-one")
    first = hf.gguf_cache_dir(gguf)
    gguf.write_bytes(b"GGUF-two")  # same name, same size, other weights
    os.utime(gguf, ns=(1, 1))
    assert hf.gguf_cache_dir(gguf) != first and first.name.startswith("m-")


def test_a_small_machine_keeps_no_core_for_the_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_CPU_NUM_OF_RESERVED_CPU", raising=False)
    assert cpu_threads_env(2) == {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"} and cpu_threads_env(16) == {}
    monkeypatch.setenv("VLLM_CPU_NUM_OF_RESERVED_CPU", "1")
    assert cpu_threads_env(2) == {}  # the user's setting stands


def test_repetition_penalty_reaches_vllm_and_servers_only_when_set() -> None:
    from criticlab.llm.base import SamplingParams
    from criticlab.llm.openai_server import OpenAIEngine
    from criticlab.llm.vllm_engine import sampling_args

    plain, penalised = SamplingParams(), SamplingParams(repetition_penalty=1.05)
    assert "repetition_penalty" not in sampling_args(plain, 0)
    assert sampling_args(penalised, 0)["repetition_penalty"] == 1.05
    engine = OpenAIEngine("http://127.0.0.1:9/v1", "m")
    assert "repetition_penalty" not in engine.body([], plain, 0)
    assert engine.body([], penalised, 0)["repetition_penalty"] == 1.05
    assert "repetition_penalty" not in plain.to_dict()  # cache keys of earlier requests unchanged
    assert penalised.to_dict()["repetition_penalty"] == 1.05

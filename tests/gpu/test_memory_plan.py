"""The one-GPU memory plan: the arithmetic by hand, and the check when a profile loads."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from criticlab import config, gpu_plan
from criticlab.config import ConfigError, load_profile
from criticlab.gpu_plan import GIB, PlanError


def test_weights_come_from_the_table_the_name_a_checkpoint_or_the_profile(tmp_path: Path) -> None:
    gpu = config.GPUSection(weights_gb={"my-model": 3.5})
    assert gpu_plan.weights_gb("Qwen/Qwen2.5-Coder-7B-Instruct", gpu) == pytest.approx(7.62e9 * 2 / GIB)
    assert gpu_plan.weights_gb("someone/Llama-3-8B-chat", gpu) == pytest.approx(8e9 * 2 / GIB)
    assert gpu_plan.weights_gb("org/tiny-0.5b", gpu) == pytest.approx(0.5e9 * 2 / GIB)  # not "5b"
    assert gpu_plan.weights_gb("my-model", gpu) == 3.5
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "model.safetensors").write_bytes(b"\0" * 4096)
    assert gpu_plan.weights_gb(str(ckpt), gpu) == pytest.approx(4096 / GIB)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(ckpt)}))
    (adapter / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    assert gpu_plan.weights_gb(str(adapter), gpu) == pytest.approx(
        4096 / GIB
    )  # the base's, not the adapter's
    with pytest.raises(PlanError, match=r"gpu.weights_gb.*'mystery-model'"):
        gpu_plan.weights_gb("mystery-model", gpu)


def test_training_memory_by_hand() -> None:
    assert gpu_plan.training_gb(10.0, lora=True, load_in_4bit=False, reference_copy=True) == [
        ("policy weights (bf16)", 10.0)
    ]
    parts = gpu_plan.training_gb(10.0, lora=False, load_in_4bit=False, reference_copy=True)
    assert sum(gb for _, gb in parts) == pytest.approx(10 + 30 + 10)
    four = gpu_plan.training_gb(10.0, lora=True, load_in_4bit=True, reference_copy=False)
    assert four == [("policy weights (4 bit)", pytest.approx(2.8))]


def test_the_gpu_profile_states_80_gb_and_its_plan_adds_up() -> None:
    cfg = load_profile("gpu")
    assert cfg.gpu.memory_gb == 80
    lines, short = gpu_plan.memory_plan(cfg)
    assert short == []
    by = {line.notebook: line for line in lines}
    seven = 7.62e9 * 2 / GIB
    # 05: generator 0.3×80 + critic weights (LoRA, bf16) + TRL's vLLM 0.25×80 + reserve 12
    assert by["05"].total == pytest.approx(24 + seven + 20 + 12)
    # 07: LoRA critics are requests on the generator's engine: no second engine
    assert by["07"].total == pytest.approx(24 + 12)
    assert "gpu.yaml" in Path(cfg.source).name and "80 GB" in Path(cfg.source).read_text().splitlines()[0]


def test_a_24_gb_card_is_refused_with_the_numbers(tmp_path: Path) -> None:
    profile = tmp_path / "small.yaml"
    gpu_yaml = Path(config.project_root()) / "params" / "gpu.yaml"
    profile.write_text(f"extends: {gpu_yaml}\ngpu:\n  memory_gb: 24\n")
    with pytest.raises(ConfigError) as err:
        load_profile(profile)
    text = str(err.value)
    assert "small.yaml" in text and "24 GiB card (gpu.memory_gb)" in text
    # the failure: TRL's 30%-ish share of 24 GB is smaller than the 7B model's bf16 weights
    assert "TRL vLLM share 0.25 × 24 = 6.0 GiB cannot hold the policy's 14.2 GiB" in text
    assert (
        "generator vLLM share 0.3 × 24 = 7.2 GiB cannot hold Qwen/Qwen2.5-Coder-7B-Instruct's 14.2 GiB"
        in text
    )
    assert (
        "notebook 05: generator vLLM 0.3×24 7.2 + policy weights (bf16) 14.2 + TRL vLLM 0.25×24 6.0 + reserve 12.0 = 39.4 GiB > 24 GiB"
        in text
    )


def test_vllms_default_share_is_refused_next_to_trls() -> None:
    """The issue's first failure: a generator at vLLM's default 0.9 plus TRL's colocated vLLM."""
    cfg = load_profile("gpu")
    cfg = dataclasses.replace(cfg, gpu=dataclasses.replace(cfg.gpu, generator_memory=0.9))
    with pytest.raises(PlanError, match=r"notebook 05: generator vLLM 0.9×80 72.0 .* > 80 GiB"):
        gpu_plan.check_memory_plan(cfg)


def test_the_paper_profile_needs_more_than_one_card() -> None:
    cfg = load_profile("paper")
    assert cfg.gpu.memory_gb is None  # a cluster, as its header says
    one_card = dataclasses.replace(cfg, gpu=dataclasses.replace(cfg.gpu, memory_gb=80.0))
    with pytest.raises(
        PlanError, match=r"notebook 04: policy weights \(bf16\) 61.0 \+ gradients \+ AdamW moments 183.1"
    ):
        gpu_plan.check_memory_plan(one_card)
    header = Path(cfg.source).read_text()
    assert "61 GiB" in header and "183 GiB" in header and "80 GB cards" in header


def test_shares_must_be_fractions(tmp_path: Path) -> None:
    cfg = load_profile("gpu")
    bad = dataclasses.replace(cfg, grpo=dataclasses.replace(cfg.grpo, vllm_memory=30.0))
    with pytest.raises(PlanError, match=r"grpo.vllm_memory is a share of the card between 0 and 1, got 30.0"):
        gpu_plan.check_memory_plan(bad)


def test_a_server_generator_is_not_on_the_card() -> None:
    cfg = load_profile("gpu")
    served = dataclasses.replace(cfg, models=dataclasses.replace(cfg.models, engine="openai"))
    by = {line.notebook: line for line in gpu_plan.memory_plan(served)[0]}
    assert by["03"].total == pytest.approx(12)  # only the reserve: the generator is a `vllm serve` elsewhere

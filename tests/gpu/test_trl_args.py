"""What we pass to TRL, checked against the installed TRL's real signatures; the start plans and
GRPO from an SFT adapter (continued or merged) on the tiny model, on a CPU."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import trl
from safetensors.torch import load_file
from transformers import TrainerCallback

from criticlab import training
from criticlab.config import GRPOSection, SFTSection, load_profile
from criticlab.llm.adapters import merged_dir, read_adapter
from criticlab.llm.models import TINY_RANDOM
from criticlab.training import (
    grpo_args,
    grpo_max_length,
    plan_start,
    policy_dtype,
    sft_args,
    unsloth_load_args,
)


def fields_of(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu", "paper"])
def test_every_trl_config_keyword_is_a_field_of_the_installed_trl(profile: str, tmp_path: Path) -> None:
    cfg = load_profile(profile)
    sft, grpo = sft_args(cfg.sft, tmp_path), grpo_args(cfg.grpo, tmp_path)
    assert set(sft) <= fields_of(trl.SFTConfig), set(sft) - fields_of(trl.SFTConfig)
    assert set(grpo) <= fields_of(trl.GRPOConfig), set(grpo) - fields_of(trl.GRPOConfig)
    # and TRL accepts the values (its __post_init__ checks them)
    built = trl.GRPOConfig(**{**grpo, "use_cpu": True, "bf16": False, "gradient_checkpointing": False})
    assert built.vllm_mode == cfg.grpo.vllm_mode and built.vllm_gpu_memory_utilization == cfg.grpo.vllm_memory
    trl.SFTConfig(**{**sft, "use_cpu": True, "bf16": False, "gradient_checkpointing": False})


def test_the_gpu_profile_asks_trl_for_colocated_vllm_with_its_share(tmp_path: Path) -> None:
    args = grpo_args(load_profile("gpu").grpo, tmp_path)
    assert args["use_vllm"] and args["vllm_mode"] == "colocate"  # never TRL's old default "server"
    assert args["vllm_gpu_memory_utilization"] == 0.25 and args["vllm_enable_sleep_mode"] is True
    assert args["vllm_max_model_length"] == 1536 + 768


def test_trainer_keywords_exist_in_the_installed_trainers() -> None:
    used = {"model", "args", "train_dataset", "processing_class", "peft_config", "callbacks"}
    assert used <= set(inspect.signature(trl.SFTTrainer.__init__).parameters)
    assert used | {"reward_funcs"} <= set(inspect.signature(trl.GRPOTrainer.__init__).parameters)


FIRST_TRL_WITH = {
    "steps_per_generation": "0.18",
    "vllm_mode": "0.18",
    "vllm_enable_sleep_mode": "0.23",
    "vllm_max_model_length": "0.26",
}
"""The TRL release where each of the newest GRPOConfig fields grpo_args passes first appears (read
from TRL's tagged grpo_config.py: vllm_max_model_length is in v0.26.0, not in v0.25.1); every other
field is older than all of them."""


def test_the_trl_floor_in_pyproject_has_every_grpo_field_we_use() -> None:
    """pyproject's TRL floor is the newest of the releases that brought the GRPOConfig fields
    grpo_args passes (:data:`FIRST_TRL_WITH`); the field list here is what that floor was read
    against, so a new field fails here until its release is added and the floor checked."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    declared = [Requirement(r) for r in re.findall(r'^\s*"(trl[^"]*)",', text, re.MULTILINE)]
    assert len(declared) == 1, declared
    floors = [Version(s.version) for s in declared[0].specifier if s.operator == ">="]
    assert floors == [max(Version(v) for v in FIRST_TRL_WITH.values())] == [Version("0.26")]
    assert not declared[0].specifier.contains("0.25.1") and declared[0].specifier.contains("0.26.0")
    assert set(FIRST_TRL_WITH) <= set(grpo_args(GRPOSection(), Path("x")))
    assert set(grpo_args(GRPOSection(), Path("x"))) - set(sft_args(SFTSection(), Path("x"))) == {
        "num_generations",
        "beta",
        "epsilon",
        "temperature",
        "top_p",
        "max_completion_length",
        "mask_truncated_completions",
        "use_vllm",
        "vllm_mode",
        "vllm_gpu_memory_utilization",
        "vllm_enable_sleep_mode",
        "vllm_max_model_length",
        "steps_per_generation",
        "log_completions",
    } - {"per_device_train_batch_size", "gradient_accumulation_steps"}


def test_unsloth_sees_prompt_plus_completion_and_an_explicit_4bit(tmp_path: Path) -> None:
    cfg = load_profile("gpu").grpo
    assert grpo_max_length(cfg) == 2304
    plan = plan_start("Qwen/Qwen2.5-Coder-7B-Instruct", lora=True)
    args = unsloth_load_args(plan, max_seq_length=grpo_max_length(cfg), load_in_4bit=cfg.load_in_4bit)
    assert args == {
        "model_name": "Qwen/Qwen2.5-Coder-7B-Instruct",
        "max_seq_length": 2304,
        "load_in_4bit": False,
        "dtype": None,
        "use_exact_model_name": True,
    }
    full = unsloth_load_args(plan_start("m", lora=False), max_seq_length=10, load_in_4bit=False)
    assert full["full_finetuning"] is True


def make_adapter(path: Path, base: str) -> Path:
    import json

    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base, "r": 4}))
    (path / "adapter_model.safetensors").write_bytes(b"w")
    return path


def test_start_plans(tmp_path: Path) -> None:
    assert plan_start("m", lora=True).attach == "new"
    assert plan_start("m", lora=False).attach == "none"
    adapter = make_adapter(tmp_path / "sft" / "final", "base-model")
    cont = plan_start(str(adapter), lora=True, from_adapter="continue")
    assert (cont.load, cont.attach, cont.peft_config_to_trl) == ("base-model", "continue", False)
    continued = unsloth_load_args(cont, max_seq_length=8, load_in_4bit=True)
    assert continued["model_name"] == str(adapter.resolve())
    # 4-bit loading is where unsloth would swap the base for its -bnb-4bit mirror
    assert continued["use_exact_model_name"] is True
    merged = plan_start(str(adapter), lora=True, from_adapter="merge")
    assert (
        merged.merge and merged.load == str(merged_dir(read_adapter(adapter))) and merged.peft_config_to_trl
    )


def test_bf16_on_cuda_float32_on_cpu() -> None:
    assert policy_dtype(cuda=True, cuda_bf16=True) == "bfloat16"
    assert policy_dtype(cuda=True, cuda_bf16=False) == "float16"
    assert policy_dtype(cuda=False, cuda_bf16=False) == "float32"


def test_step_timer_answers_every_trainer_event() -> None:
    timer = training.StepTimer()
    events = [name for name in dir(TrainerCallback) if name.startswith("on_")]
    assert events and all(callable(getattr(timer, name)) for name in events)
    with pytest.raises(AttributeError):
        timer.not_an_event  # noqa: B018


@pytest.fixture(scope="module")
def sft_adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [
        {
            "prompt": [{"role": "user", "content": f"Critique {i}: return a - b"}],
            "completion": [{"role": "assistant", "content": "Overall judgment: Incorrect"}],
        }
        for i in range(2)
    ]
    cfg = SFTSection(
        batch_size=2, per_device_batch_size=2, max_steps=1, max_length=64, lora=True, lora_r=4, lora_alpha=8
    )
    result = training.train_sft(
        TINY_RANDOM, rows, cfg, tmp_path_factory.mktemp("sft") / "sft", progress=False
    )
    assert read_adapter(result.final_dir) is not None
    return result.final_dir


def length_reward(completions: list, **kwargs: object) -> list[float]:
    return [float(len(str(c))) / 100 for c in completions]


class KLReference(TrainerCallback):
    """Records, at the first and last step, the adapters the policy holds and the weights of the
    frozen ``ref`` adapter TRL computes the KL reference with (when there is one)."""

    def __init__(self) -> None:
        self.adapters: list[list[str]] = []
        self.ref: list[dict[str, torch.Tensor]] = []

    def record(self, model: Any) -> None:
        self.adapters.append(sorted(getattr(model, "peft_config", {})))
        self.ref.append({n: p.detach().clone() for n, p in model.named_parameters() if ".ref." in n})

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.record(model)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.record(model)


@pytest.mark.parametrize("from_adapter", ["continue", "merge"])
def test_grpo_starts_from_an_sft_adapter(sft_adapter: Path, tmp_path: Path, from_adapter: str) -> None:
    """TRL refuses a PeftModel together with a peft_config: both ways of starting from 04's adapter
    train. And the KL reference is the SFT critic both ways under plain TRL (train_grpo's
    docstring): continued, a frozen copy of the SFT adapter (``ref``) rather than the adapter
    disabled (the base); merged, the new adapter disabled (the merged SFT critic)."""
    rows = [{"prompt": [{"role": "user", "content": f"Critique {i}"}]} for i in range(2)]
    cfg = GRPOSection(
        group_size=2,
        prompts_per_step=1,
        max_steps=1,
        max_completion_length=4,
        max_prompt_length=64,
        lora=True,
        lora_r=4,
        lora_alpha=8,
        from_adapter=from_adapter,
    )  # type: ignore[arg-type]
    assert cfg.kl_coef != 0  # with no KL term there is no reference at all
    kl = KLReference()
    result = training.train_grpo(
        str(sft_adapter), rows, length_reward, cfg, tmp_path / "grpo", progress=False, callbacks=[kl]
    )
    assert result.global_step == 1
    if from_adapter == "continue":
        assert kl.adapters == [["default", "ref"], ["default", "ref"]]
        sft = load_file(str(sft_adapter / "adapter_model.safetensors"))
        ref = {n.replace(".ref.", "."): t for n, t in kl.ref[-1].items()}
        assert ref.keys() == sft.keys() and len(sft) > 0
        assert all(torch.equal(ref[n], sft[n].to(ref[n].dtype)) for n in sft)  # the SFT adapter, untrained
    else:
        assert kl.adapters == [["default"], ["default"]] and kl.ref == [{}, {}]
    trained = read_adapter(result.final_dir)
    assert trained is not None
    if from_adapter == "continue":
        assert trained.base == read_adapter(sft_adapter).base  # the same adapter, trained further
    else:
        assert Path(trained.base) == merged_dir(
            read_adapter(sft_adapter)
        )  # a new adapter on the merged SFT critic

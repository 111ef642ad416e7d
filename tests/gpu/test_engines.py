"""Engine choice per profile, adapter resolution and the vLLM engine's arguments, on a CPU.

vLLM cannot run here, so a stand-in ``vllm`` module records what the engine asks of it: the
engine's keyword arguments (memory share, LoRA slots), the LoRA request of each call, and close.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import criticlab.llm as llm
from criticlab.config import load_profile
from criticlab.llm import EngineError, SamplingParams, choose_engine, read_adapter, to_release
from criticlab.llm.adapters import lora_rank_slot, merge_adapter, merged_dir, same_model
from criticlab.llm.vllm_engine import engine_args, sampling_args, vllm_dtype


def make_adapter(root: Path, base: str, rank: int = 16, payload: bytes = b"w") -> Path:
    path = root / "final"
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base, "r": rank}))
    (path / "adapter_model.safetensors").write_bytes(payload)
    return path


def gpu_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **gpu: Any):
    monkeypatch.setenv("CRITICLAB_OUTPUTS", str(tmp_path / "outputs"))
    cfg = load_profile("gpu")
    return dataclasses.replace(cfg, gpu=dataclasses.replace(cfg.gpu, **gpu)) if gpu else cfg


def test_adapter_resolution(tmp_path: Path) -> None:
    adapter = make_adapter(tmp_path, "Qwen/Qwen2.5-Coder-7B-Instruct", rank=12)
    found = read_adapter(adapter)
    assert found is not None and found.base == "Qwen/Qwen2.5-Coder-7B-Instruct" and found.rank == 12
    assert found.name == f"lora-{found.digest}" and found.int_id > 0
    # other weights → another name (the response cache never mixes two trainings)
    other = read_adapter(make_adapter(tmp_path / "b", "Qwen/Qwen2.5-Coder-7B-Instruct", payload=b"v"))
    assert other is not None and other.name != found.name
    assert merged_dir(found) == adapter.parent / f"final-merged-{found.digest}"
    assert read_adapter(tmp_path) is None  # not an adapter
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "adapter_config.json").write_text("{}")
    with pytest.raises(EngineError, match=r"c/adapter_config.json names no base_model_name_or_path"):
        read_adapter(tmp_path / "c")


def test_lora_rank_slots_and_same_model(tmp_path: Path) -> None:
    assert [lora_rank_slot(r) for r in (1, 8, 12, 16, 64)] == [8, 8, 16, 16, 64]
    with pytest.raises(EngineError, match="above the largest"):
        lora_rank_slot(1024)
    assert same_model("a/b", "a/b") and not same_model("a/b", "a/c")
    assert same_model(str(tmp_path), str(tmp_path / ".." / tmp_path.name))


def test_engine_args_take_the_plans_share_never_vllms_default() -> None:
    args = engine_args("m", max_model_len=4096, memory_share=0.3, dtype="bfloat16", lora_rank=12, seed=3)
    assert args == {
        "model": "m",
        "max_model_len": 4096,
        "gpu_memory_utilization": 0.3,
        "dtype": "bfloat16",
        "seed": 3,
        "enable_lora": True,
        "max_lora_rank": 16,
        "max_loras": 2,
    }
    assert "enable_lora" not in engine_args("m", max_model_len=1, memory_share=0.5, dtype="float16")
    with pytest.raises(EngineError, match="between 0 and 1, got 1.2"):
        engine_args("m", max_model_len=1, memory_share=1.2, dtype="auto")
    assert vllm_dtype(True) == "bfloat16" and vllm_dtype(False) == "float16"
    s = sampling_args(SamplingParams(temperature=0.0, top_p=0.8, max_tokens=9, seed=5, stop=("x",)), 2)
    assert s == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 9, "seed": 7, "stop": ["x"]}


def test_engine_choice_per_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = load_profile("cpu-llamacpp")
    assert choose_engine(cpu, "qwen2.5-coder-0.5b-instruct").backend == "llamacpp"
    assert choose_engine(cpu, str(tmp_path)).backend == "hf"  # a checkpoint dir under llama.cpp
    cfg = gpu_profile(tmp_path, monkeypatch)
    gen = choose_engine(cfg, cfg.models.generator)
    assert (gen.backend, gen.slot, gen.memory_share, gen.lora_rank) == ("vllm", "generator", 0.3, 16)
    adapter = make_adapter(tmp_path / "sft", cfg.models.generator, rank=32)
    lora = choose_engine(cfg, str(adapter))
    # a LoRA critic of the generator's model: a request on the generator's engine, rank slot widened
    assert (lora.model, lora.slot, lora.memory_share, lora.lora_rank, lora.merge) == (
        cfg.models.generator,
        "generator",
        0.3,
        32,
        False,
    )
    merged = choose_engine(gpu_profile(tmp_path, monkeypatch, serve_adapters="merge"), str(adapter))
    assert merged.merge and merged.model.endswith(f"final-merged-{merged.adapter.digest}")
    assert (merged.slot, merged.memory_share, merged.lora_rank) == ("critic", 0.3, None)
    other = choose_engine(cfg, "Qwen/Qwen2.5-Coder-1.5B-Instruct")
    assert (other.slot, other.memory_share) == ("critic", cfg.gpu.critic_memory)
    assert choose_engine(cfg, cfg.models.generator, policy=True).slot == "policy"


def test_release_plan() -> None:
    live = {("g",): "generator", ("c1",): "critic", ("p",): "policy"}
    assert to_release(live, "generator") == []
    assert to_release(live, "critic") == [("c1",), ("p",)]


class WordTokenizer:
    """A prompt's words are its tokens (the engine checks that every prompt fits the context)."""

    def apply_chat_template(self, messages: list, **_: Any) -> str:
        return " ".join(m["content"] for m in messages)

    def __call__(self, text: str, **_: Any) -> dict[str, list[int]]:
        return {"input_ids": list(range(len(text.split())))}


class FakeLLM:
    made: list[FakeLLM] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.calls: list[Any] = []
        self.closed = False
        self.llm_engine = types.SimpleNamespace(shutdown=self._shutdown)
        FakeLLM.made.append(self)

    def _shutdown(self) -> None:
        self.closed = True

    def get_tokenizer(self) -> WordTokenizer:
        return WordTokenizer()

    def chat(self, messages: list, params: list, use_tqdm: bool = False, lora_request: Any = None) -> list:
        self.calls.append(lora_request)
        out = types.SimpleNamespace(text="ok", finish_reason="stop", token_ids=[1, 2])
        return [types.SimpleNamespace(outputs=[out], prompt_token_ids=[1]) for _ in messages]


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch):
    vllm = types.ModuleType("vllm")
    vllm.LLM = FakeLLM
    vllm.SamplingParams = lambda **kw: kw
    lora = types.ModuleType("vllm.lora")
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = lambda name, int_id, path: (name, int_id, path)
    for name, module in (("vllm", vllm), ("vllm.lora", lora), ("vllm.lora.request", request)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(llm, "POOL", llm.EnginePool())
    monkeypatch.setattr("criticlab.llm.vllm_engine.on_cpu", lambda: False)  # these stand for a card
    FakeLLM.made = []
    return FakeLLM


def test_07_serves_a_trained_lora_critic_on_the_generators_engine(
    fake_vllm: type[FakeLLM], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = gpu_profile(tmp_path, monkeypatch)
    adapter = make_adapter(tmp_path / "grpo", cfg.models.generator)
    generator = llm.engine_for(cfg, "generator", cached=False)
    critic = llm.engine_for(cfg, "critic", model=str(adapter), cached=False)
    assert len(fake_vllm.made) == 1  # one engine per model per process
    made = fake_vllm.made[0]
    assert made.kwargs["model"] == cfg.models.generator and made.kwargs["gpu_memory_utilization"] == 0.3
    assert made.kwargs["enable_lora"] is True and made.kwargs["dtype"] == "float16"  # no CUDA here: not bf16
    critic.generate([[{"role": "user", "content": "hi"}]], SamplingParams())
    generator.generate([[{"role": "user", "content": "hi"}]], SamplingParams())
    name, _, path = made.calls[0]
    assert name == read_adapter(adapter).name and path == str(adapter.resolve())
    assert made.calls[1] is None  # the generator itself: no adapter
    assert critic.model_id == f"{cfg.models.generator}+{name}"


def test_a_second_critic_engine_closes_the_first(
    fake_vllm: type[FakeLLM], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = gpu_profile(tmp_path, monkeypatch)
    llm.engine_for(cfg, "generator", cached=False)
    llm.engine_for(cfg, "critic", model="org/critic-A-1.5B", cached=False)
    llm.engine_for(cfg, "critic", model="org/critic-B-1.5B", cached=False)
    gen, a, b = fake_vllm.made
    assert a.closed and not gen.closed and not b.closed
    assert a.kwargs["gpu_memory_utilization"] == cfg.gpu.critic_memory
    assert llm.release_engines() == ["org/critic-B-1.5B"] and b.closed and not gen.closed


def test_merge_serves_a_cached_merged_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real LoRA adapter on the tiny model, merged once; the second call reuses the copy."""
    import torch
    from peft import LoraConfig, get_peft_model

    from criticlab.llm import models

    base = models.save_tiny_qwen2(tmp_path / "base")
    model, _ = models.build_tiny_qwen2()
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj"], init_lora_weights=False))
    peft_model.peft_config["default"].base_model_name_or_path = str(base)
    peft_model.save_pretrained(tmp_path / "sft" / "final")
    adapter = read_adapter(tmp_path / "sft" / "final")
    assert adapter is not None and adapter.base == str(base)
    target = merge_adapter(adapter, dtype="float32")
    assert (target / "config.json").is_file() and target == merged_dir(adapter)
    from transformers import AutoModelForCausalLM

    merged = AutoModelForCausalLM.from_pretrained(str(target))
    plain = AutoModelForCausalLM.from_pretrained(str(base))
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(merged.state_dict()[q], plain.state_dict()[q])  # the adapter is in it
    stamp = (target / "config.json").stat().st_mtime_ns
    assert merge_adapter(adapter) == target and (target / "config.json").stat().st_mtime_ns == stamp


def test_critics_that_each_need_an_engine_run_in_turn(
    fake_vllm: type[FakeLLM], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One critic engine at a time (the plan's critic slot): 07's methods run in groups, one per
    such critic, and the pairwise critics are started as each is used, so none is used closed."""
    from criticlab import evaluation
    from criticlab.evaluation.methods import Method, critic_groups

    cfg = gpu_profile(tmp_path, monkeypatch)
    adapter = make_adapter(tmp_path / "grpo", cfg.models.generator)  # served on the generator's engine
    methods = [
        Method("zero_shot", "none"),
        Method("self_critique", "self"),
        Method("critic_a", "critic", "org/critic-A-1.5B"),
        Method("lora", "critic", str(adapter)),
        Method("critic_b", "critic", "org/critic-B-1.5B"),
    ]
    groups = [[m.name for m in group] for group in critic_groups(cfg, methods)]
    assert groups == [["zero_shot", "self_critique", "lora"], ["critic_a"], ["critic_b"]]
    llamacpp = dataclasses.replace(cfg, models=dataclasses.replace(cfg.models, engine="llamacpp"))
    assert [len(g) for g in critic_groups(llamacpp, methods)] == [5]  # no slots: all together
    hi = [[{"role": "user", "content": "hi"}]]
    for name, critic in evaluation.pairwise_critics(cfg, methods).items():
        assert critic.generate(hi, SamplingParams())[0][0].text == "ok", name  # a closed engine raises
    assert [m.closed for m in fake_vllm.made] == [False, True, False]  # generator, A (closed for B), B


def test_on_the_cpu_vllm_engines_are_held_side_by_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vLLM's CPU build sizes each engine in GiB of system memory: no card plan, no critic slot,
    so 07's critics run together and none is closed for another."""
    from criticlab.evaluation.methods import Method, critic_groups

    monkeypatch.setattr("criticlab.llm.vllm_engine.on_cpu", lambda: True)
    cfg = gpu_profile(tmp_path, monkeypatch)
    assert not llm.follows_card_plan("vllm") and not llm.follows_card_plan("llamacpp")
    methods = [Method("a", "critic", "org/critic-A-1.5B"), Method("b", "critic", "org/critic-B-1.5B")]
    assert [[m.name for m in g] for g in critic_groups(cfg, methods)] == [["a", "b"]]

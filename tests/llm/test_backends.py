"""The engine backend registry and the engine pool: capabilities, not names, decide what serves a model."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

import pytest

import criticlab.llm as llm
from criticlab.config import ModelsSection, load_profile
from criticlab.llm import backends
from criticlab.llm.backends import BackendSpec, EngineOptions, get_backend
from criticlab.llm.base import EngineError
from criticlab.llm.pool import EnginePool

FAKE_MODULE = "fake_backend_module"


class FakeEngine:
    """Records how it was built; ``close`` marks it."""

    def __init__(self, backend: str, reference: str, options: EngineOptions, log: list) -> None:
        self.backend, self.model_id, self.options, self.closed = backend, reference, options, False
        self.log = log

    def close(self) -> None:
        self.closed = True
        self.log.append(("close", self.model_id))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    """A backend module standing in for every backend (registered under any name a test gives)."""
    module = types.ModuleType(FAKE_MODULE)
    module.built = []
    module.log = []

    def build(reference: str, options: EngineOptions) -> FakeEngine:
        engine = FakeEngine("fake", reference, options, module.log)
        module.built.append(engine)
        module.log.append(("start", reference))
        return engine

    module.build = build
    module.with_adapter = lambda engine, adapter: ("with", engine, adapter.name)
    monkeypatch.setitem(sys.modules, FAKE_MODULE, module)
    monkeypatch.setattr(backends, "BACKENDS", dict(backends.BACKENDS))
    monkeypatch.setattr(llm, "POOL", EnginePool())
    return module


def register_fake(name: str, **capabilities: bool) -> BackendSpec:
    return backends.register(
        BackendSpec(name=name, description="a test backend", module=FAKE_MODULE, **capabilities)
    )


def profile_on(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **models: Any):
    monkeypatch.setenv("CRITICLAB_OUTPUTS", str(tmp_path / "outputs"))
    cfg = load_profile("cpu")
    return dataclasses.replace(cfg, models=dataclasses.replace(cfg.models, engine=name, **models))


def adapter_dir(root: Path, base: str, rank: int = 8) -> Path:
    root.mkdir(parents=True)
    (root / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base, "r": rank}))
    (root / "adapter_model.safetensors").write_bytes(b"w")
    return root


def test_an_unknown_backend_is_an_error_naming_it_and_the_known_ones(tmp_path, monkeypatch) -> None:
    with pytest.raises(
        EngineError,
        match=r"unknown engine backend 'llama\.cpp' \(did you mean 'llamacpp'\?\); known: "
        r"hf, llamacpp, openai, vllm",
    ):
        get_backend("llama.cpp")
    with pytest.raises(EngineError, match="unknown engine backend 'torch'"):
        llm.make_engine("m", "torch")
    cfg = profile_on("torch", tmp_path, monkeypatch)
    with pytest.raises(EngineError, match="unknown engine backend 'torch'"):
        llm.choose_engine(cfg, "m")


def test_the_profile_schema_names_exactly_the_registered_backends() -> None:
    """The schema cannot import the registry (it is a lower layer): this keeps the two lists one."""
    assert set(typing.get_args(typing.get_type_hints(ModelsSection)["engine"])) == set(backends.BACKENDS)


def test_every_registered_backend_names_a_module_that_exists() -> None:
    for spec in backends.BACKENDS.values():
        assert importlib.util.find_spec(spec.module) is not None, spec.name
    assert get_backend(backends.CHECKPOINT_BACKEND).serves_checkpoints


def test_make_engine_builds_through_the_backends_module_with_the_options(fake) -> None:
    register_fake("fake")
    engine = llm.make_engine(
        "some-model", "fake", context_length=512, threads=3, parallel=2, hf_dtype="float32"
    )
    assert engine is fake.built[0] and engine.model_id == "some-model"
    assert (engine.options.context_length, engine.options.threads, engine.options.parallel) == (512, 3, 2)


def test_a_backend_that_cannot_serve_checkpoints_leaves_them_to_the_checkpoint_backend(
    fake, tmp_path, monkeypatch
) -> None:
    register_fake("gguf-only", reads_gguf=True)
    register_fake("dirs", serves_checkpoints=True)
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    assert llm.choose_engine(profile_on("gguf-only", tmp_path, monkeypatch), "m.gguf").backend == "gguf-only"
    assert llm.choose_engine(profile_on("gguf-only", tmp_path, monkeypatch), str(checkpoint)).backend == "hf"
    assert llm.choose_engine(profile_on("dirs", tmp_path, monkeypatch), str(checkpoint)).backend == "dirs"


def test_a_gguf_reader_serves_a_checkpoint_as_its_conversion_unless_turned_off(
    fake, tmp_path, monkeypatch
) -> None:
    from criticlab.llm import gguf_export

    register_fake("gguf-only", reads_gguf=True)
    register_fake(backends.CHECKPOINT_BACKEND, serves_checkpoints=True)
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    converted = tmp_path / "ckpt-f16.gguf"
    monkeypatch.setattr(gguf_export, "gguf_for_checkpoint", lambda path, precision: converted)
    cfg = profile_on("gguf-only", tmp_path, monkeypatch)
    llm.engine_for(cfg, "critic", model=str(checkpoint), cached=False)
    assert fake.built[-1].model_id == str(converted)
    off = profile_on("gguf-only", tmp_path, monkeypatch, checkpoint_gguf=False)
    assert llm.checkpoint_as_gguf(off.models, str(checkpoint)) == (
        str(checkpoint),
        backends.CHECKPOINT_BACKEND,
    )
    # the policy being trained is never converted: the checkpoint backend samples it
    llm.policy_engine(cfg, str(checkpoint))
    assert fake.built[-1].model_id == str(checkpoint) and len(fake.built) == 2


def test_lora_requests_put_an_adapter_on_its_base_models_engine(fake, tmp_path, monkeypatch) -> None:
    register_fake("lora", serves_checkpoints=True, lora_requests=True)
    cfg = profile_on("lora", tmp_path, monkeypatch)
    cfg = dataclasses.replace(
        cfg, sft=dataclasses.replace(cfg.sft, lora=True, lora_r=8)
    )  # trains LoRA critics
    adapter = adapter_dir(tmp_path / "adapter", cfg.models.generator, rank=12)
    choice = llm.choose_engine(cfg, str(adapter))
    # the rank slot widens to the adapter's, and the generator's engine is started with it
    assert (choice.backend, choice.model, choice.lora_rank, choice.slot) == (
        "lora",
        cfg.models.generator,
        12,
        "generator",
    )
    cfg = dataclasses.replace(cfg, sft=dataclasses.replace(cfg.sft, lora_r=16))
    assert choice.memory_share is None  # not on a card
    generator = llm.engine_for(cfg, "generator", cached=False)
    critic = llm.engine_for(cfg, "critic", model=str(adapter), cached=False)
    assert len(fake.built) == 1  # no engine of its own: a request on the generator's
    assert critic[0] == "with" and critic[1] is fake.built[0] and critic[2] == choice.adapter.name
    assert generator is fake.built[0] and generator.options.lora_rank == 16
    # without the capability, the adapter directory is served as it is
    register_fake("plain", serves_checkpoints=True)
    plain = llm.choose_engine(profile_on("plain", tmp_path, monkeypatch), str(adapter))
    assert (plain.model, plain.adapter, plain.lora_rank) == (str(adapter), None, None)


def test_an_in_process_gpu_backend_takes_its_share_and_one_critic_slot(fake, tmp_path, monkeypatch) -> None:
    register_fake("card", serves_checkpoints=True, in_process_gpu=True)
    monkeypatch.setattr("criticlab.llm.vllm_engine.on_cpu", lambda: False)  # a CUDA card: the plan's slots
    cfg = profile_on("card", tmp_path, monkeypatch)
    gen = llm.choose_engine(cfg, cfg.models.generator)
    other = llm.choose_engine(cfg, "org/other-1.5B")
    assert (gen.slot, gen.memory_share) == ("generator", cfg.gpu.generator_memory)
    assert (other.slot, other.memory_share) == ("critic", cfg.gpu.critic_memory)
    assert llm.choose_engine(cfg, cfg.models.generator, policy=True).slot == "policy"
    llm.engine_for(cfg, "generator", cached=False)
    llm.engine_for(cfg, "critic", model="org/critic-A-1.5B", cached=False)
    llm.engine_for(cfg, "critic", model="org/critic-B-1.5B", cached=False)
    # the first critic closes before the second starts: the plan holds the generator and one critic
    assert fake.log[-3:] == [
        ("start", "org/critic-A-1.5B"),
        ("close", "org/critic-A-1.5B"),
        ("start", "org/critic-B-1.5B"),
    ]
    assert [e.options.memory_share for e in fake.built] == [
        cfg.gpu.generator_memory,
        cfg.gpu.critic_memory,
        cfg.gpu.critic_memory,
    ]
    assert llm.release_engines() == ["org/critic-B-1.5B"] and not fake.built[0].closed


def test_other_backends_share_one_engine_per_settings(fake, tmp_path, monkeypatch) -> None:
    register_fake("plain", serves_checkpoints=True)
    cfg = profile_on("plain", tmp_path, monkeypatch, generator="m", critic="m")
    assert llm.engine_for(cfg, "generator", cached=False) is llm.engine_for(cfg, "critic", cached=False)
    assert len(fake.built) == 1 and llm.release_engines() == []  # no plan slot: kept for the process


class Closing:
    def __init__(self, model_id: str, log: list) -> None:
        self.model_id, self.log = model_id, log

    def close(self) -> None:
        self.log.append(f"close {self.model_id}")


def test_the_pool_starts_an_engine_once_and_closes_what_the_plan_replaces() -> None:
    pool, log = EnginePool(), []

    def start(name: str):
        def go() -> Closing:
            log.append(f"start {name}")
            return Closing(name, log)

        return go

    gen = pool.get(("g",), start("g"), slot="generator")
    assert pool.get(("g",), start("again"), slot="generator") is gen and log == ["start g"]
    pool.get(("c1",), start("c1"), slot="critic")
    pool.get(("p",), start("p"), slot="policy")  # a policy replaces the critic
    assert log[-2:] == ["close c1", "start p"]
    assert pool.slots() == {("g",): "generator", ("p",): "policy"}
    pool.get(("free",), start("free"))  # no slot: never released by the plan
    assert pool.release() == ["p"] and ("p",) not in pool and ("free",) in pool and len(pool) == 2
    pool.close()
    assert len(pool) == 0 and log[-2:] == ["close g", "close free"]


def test_the_pool_holds_engines_without_close() -> None:
    pool = EnginePool()
    plain = types.SimpleNamespace(model_id="x")
    assert pool.get(("x",), lambda: plain, slot="critic") is plain
    assert pool.release(("critic",)) == ["x"] and len(pool) == 0

"""TRL's colocated vLLM engine is shut down when a GRPO run ends, so the next run in the same
kernel (06 trains four on params/gpu.yaml) starts on a card without it. Stand-in engines record
what was asked of them; the last test runs real GRPO on the tiny model with one attached."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import trl

from criticlab import training
from criticlab.config import GRPOSection
from criticlab.llm.models import TINY_RANDOM
from criticlab.training import release_trl_vllm


class Core:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def shutdown(self) -> None:
        self.log.append("engine_core.shutdown")


def a_vllm_llm(log: list[str]) -> Any:
    """A ``vllm.LLM`` as far as shutting down goes: its engine's core has ``shutdown``."""
    return SimpleNamespace(llm_engine=SimpleNamespace(engine_core=Core(log)))


def test_trl_1x_engine_is_shut_down_and_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: log.append("empty_cache"))
    trainer = SimpleNamespace(vllm_generation=SimpleNamespace(llm=a_vllm_llm(log)))
    assert release_trl_vllm(trainer) is True
    assert log == ["engine_core.shutdown", "empty_cache"]
    assert trainer.vllm_generation.llm is None
    assert release_trl_vllm(trainer) is False and len(log) == 2  # once only


def test_older_trl_keeps_it_on_the_trainer_and_newer_vllm_shuts_down_itself() -> None:
    log: list[str] = []
    llm = SimpleNamespace(shutdown=lambda: log.append("LLM.shutdown"), llm_engine=None)
    trainer = SimpleNamespace(llm=llm)
    assert release_trl_vllm(trainer) is True
    assert log == ["LLM.shutdown"] and trainer.llm is None


def test_no_engine_no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Server mode (a client, no engine), rollouts without vLLM, and SFT trainers."""
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: pytest.fail("nothing to free"))
    assert release_trl_vllm(SimpleNamespace(vllm_generation=SimpleNamespace(vllm_client=object()))) is False
    assert release_trl_vllm(SimpleNamespace(vllm_generation=None)) is False
    assert release_trl_vllm(object()) is False


def length_reward(completions: list, **kwargs: object) -> list[float]:
    return [float(len(str(c))) / 100 for c in completions]


@pytest.mark.parametrize("fails", [False, True])
def test_train_grpo_releases_the_engine_after_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    """Real GRPO on the tiny model; the trainer carries a stand-in engine where TRL keeps its own.
    Released after a finished run, and after a failed one (the kernel lives on)."""
    log: list[str] = []
    made: list[Any] = []

    class WithEngine(trl.GRPOTrainer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.vllm_generation = SimpleNamespace(llm=a_vllm_llm(log))
            made.append(self)

        def train(self, *args: Any, **kwargs: Any) -> Any:
            if fails:
                raise RuntimeError("CUDA out of memory")
            return super().train(*args, **kwargs)

    monkeypatch.setattr(trl, "GRPOTrainer", WithEngine)
    rows = [{"prompt": [{"role": "user", "content": f"Critique {i}"}]} for i in range(2)]
    cfg = GRPOSection(
        group_size=2, prompts_per_step=1, max_steps=1, max_completion_length=4, max_prompt_length=64
    )
    if fails:
        with pytest.raises(RuntimeError, match="out of memory"):
            training.train_grpo(TINY_RANDOM, rows, length_reward, cfg, tmp_path / "grpo", progress=False)
    else:
        result = training.train_grpo(TINY_RANDOM, rows, length_reward, cfg, tmp_path / "grpo", progress=False)
        assert result.global_step == 1
    assert log == ["engine_core.shutdown"]
    assert made[0].vllm_generation.llm is None

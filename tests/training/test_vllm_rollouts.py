"""GRPO with vLLM rollouts on the CPU (``use_vllm`` + LoRA): TRL's ``rollout_func`` contract, on the
tiny model with a stand-in engine that records what it was asked. The real vLLM side
(``sample_tokens`` with a LoRA request) is in tests/real_vllm; seconds per step in ``bench train``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from scripted import ADD, ECHO, WRONG, fenced

from criticlab import ctrl, training
from criticlab.config import ConfigError, GRPOSection
from criticlab.io import read_json
from criticlab.llm.models import TINY_RANDOM
from criticlab.training import trainers, vllm_rollouts
from criticlab.training.step_timer import StepTimer
from criticlab.training.vllm_rollouts import STEP_SEED_STRIDE, LoRARollouts, cpu_vllm_rollouts, groups


class RecordingEngine:
    """Answers ``sample_tokens`` with fixed token runs and keeps each call's adapter digest and seed."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.closed = False

    def sample_tokens(self, prompt_ids, sampling, counts, adapter=None):
        self.calls.append(
            {"counts": counts, "seed": sampling.seed, "digest": adapter.digest, "prompts": prompt_ids}
        )
        return [[([7 + j, 8, 9], [-0.5, -0.5, -0.5]) for j in range(count)] for count in counts]

    def close(self) -> None:
        self.closed = True


def rows() -> list[dict]:
    return ctrl.grpo_rows(
        [{"problem": p.to_dict(), "response": fenced(WRONG[p.id]), "code": WRONG[p.id]} for p in (ADD, ECHO)]
    )


def reward(prompts, completions, **kwargs) -> list[float]:
    return [float(i % 2 == 0) for i in range(len(completions))]


def test_a_lora_run_samples_each_step_with_that_steps_adapter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = RecordingEngine()
    made: list[LoRARollouts] = []

    def fake_rollouts(base, tokenizer, cfg, output_dir, seed):
        made.append(LoRARollouts(engine, tokenizer, cfg, Path(output_dir) / "rollout-adapter", seed=seed))
        return made[-1]

    monkeypatch.setattr(trainers, "lora_rollouts", fake_rollouts)
    cfg = GRPOSection(
        group_size=2,
        prompts_per_step=2,
        max_steps=2,
        max_completion_length=8,
        learning_rate=1e-2,
        max_prompt_length=1024,
        lora=True,
        lora_r=4,
        lora_alpha=8,
        use_vllm=True,
    )
    timer = StepTimer()
    result = training.train_grpo(
        TINY_RANDOM, rows(), reward, cfg, tmp_path / "grpo", progress=False, seed=3, callbacks=[timer]
    )
    assert read_json(tmp_path / "grpo" / trainers.POLICY_FILE)["rollouts"] == "vllm-lora"
    assert len(engine.calls) == 2 and all(c["counts"] == [2, 2] for c in engine.calls)  # 2 prompts × 2
    assert [c["seed"] for c in engine.calls] == [3, 3 + STEP_SEED_STRIDE]
    assert engine.calls[0]["digest"] != engine.calls[1]["digest"]  # step 1 saw the adapter step 0 trained
    assert engine.closed and result.final_dir is not None
    assert result.series("completions/mean_length")[-1][1] == 3  # TRL read the engine's token ids
    assert all(t.sampling > 0 for t in timer.times)  # the rollouts' seconds are the step's sampling
    kept = list((tmp_path / "grpo" / "rollout-adapter").iterdir())
    assert [p.name for p in kept] == ["step-1"]  # the latest adapter only


def test_full_fine_tuning_with_use_vllm_on_the_cpu_is_refused() -> None:
    with pytest.raises(ConfigError, match="needs grpo.lora: true"):
        cpu_vllm_rollouts(GRPOSection(use_vllm=True, lora=False), cuda=False)
    assert cpu_vllm_rollouts(GRPOSection(use_vllm=True, lora=False), cuda=True) is False  # TRL's own vLLM
    assert cpu_vllm_rollouts(GRPOSection(use_vllm=True, lora=True), cuda=False) is True
    assert cpu_vllm_rollouts(dataclasses.replace(GRPOSection(), use_vllm=False), cuda=False) is False


def test_groups_are_runs_of_equal_prompts() -> None:
    a, b = [{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]
    assert groups([a, a, b, b, a]) == [(a, 2), (b, 2), (a, 1)]
    assert vllm_rollouts.groups([]) == []

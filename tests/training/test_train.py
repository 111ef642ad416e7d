"""SFT and GRPO on the tiny random Qwen2 (CPU, seconds): loss falls, resume works, bad configs stop early."""

from __future__ import annotations

import dataclasses
import json

import pytest
from scripted import ADD, ECHO, WRONG, ScriptedEngine, fenced
from transformers import TrainerCallback

from criticlab import ctrl, stages, stats, training
from criticlab.config import ConfigError, GRPOSection, SFTSection
from criticlab.llm.models import TINY_RANDOM, cache_dir, save_tiny_qwen2
from criticlab.rewards import CTRLReward

CRITIQUE = (
    "Analysis:\nThe sign is wrong.\nImprovement suggestions:\nAdd instead.\nOverall judgment: Incorrect"
)


def sft_rows(n: int = 4) -> list[dict]:
    return [
        {
            "prompt": [{"role": "user", "content": f"Critique solution {i}: return a - b"}],
            "completion": [{"role": "assistant", "content": CRITIQUE}],
        }
        for i in range(n)
    ]


def rl_rows() -> list[dict]:
    return [
        {"problem": p.to_dict(), "response": fenced(WRONG[p.id]), "code": WRONG[p.id]} for p in (ADD, ECHO)
    ]


class StopAt(TrainerCallback):
    """Simulates an interrupted run: raise once training reaches ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            raise KeyboardInterrupt("interrupted")


class CountSteps(TrainerCallback):
    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def test_sft_loss_falls_and_the_model_is_saved(tmp_path) -> None:
    cfg = SFTSection(
        learning_rate=5e-3,
        lr_scheduler="constant",
        batch_size=2,
        per_device_batch_size=2,
        max_steps=12,
        max_length=128,
    )
    result = training.train_sft(
        TINY_RANDOM, sft_rows(), cfg, tmp_path / "sft", progress=False, save_steps=100
    )
    losses = [v for _, v in result.series("loss")]
    assert len(losses) == 12 and losses[-1] < losses[0] * 0.8
    assert (result.final_dir / "config.json").is_file() and (
        result.final_dir / "tokenizer_config.json"
    ).is_file()
    assert (tmp_path / "sft" / "history.jsonl").is_file()


def test_sft_resumes_from_the_last_checkpoint(tmp_path) -> None:
    cfg = SFTSection(
        learning_rate=1e-3,
        batch_size=2,
        per_device_batch_size=1,
        max_steps=4,
        max_length=128,
        lora=True,
        lora_r=4,
        lora_alpha=8,
    )
    with pytest.raises(KeyboardInterrupt):
        training.train_sft(
            TINY_RANDOM,
            sft_rows(),
            cfg,
            tmp_path / "sft",
            progress=False,
            save_steps=2,
            callbacks=[StopAt(3)],
        )
    assert training.last_checkpoint(tmp_path / "sft").endswith("checkpoint-2")
    counter = CountSteps()
    result = training.train_sft(
        TINY_RANDOM, sft_rows(), cfg, tmp_path / "sft", progress=False, save_steps=2, callbacks=[counter]
    )
    assert result.resumed_from.endswith("checkpoint-2") and result.global_step == 4
    assert counter.steps == [3, 4]  # steps 1-2 were not trained again
    assert [s for s, _ in result.series("loss")] == [1, 2, 3, 4]  # and the history is whole, without repeats
    assert (result.final_dir / "adapter_config.json").is_file()


def test_misconfiguration_stops_before_training(tmp_path) -> None:
    with pytest.raises(ConfigError, match="multiple of sft.per_device_batch_size"):
        training.train_sft(
            TINY_RANDOM, sft_rows(), SFTSection(batch_size=3, per_device_batch_size=2), tmp_path
        )
    with pytest.raises(ConfigError, match=r"row 0 has no column\(s\) \['completion'\]"):
        training.train_sft(
            TINY_RANDOM, [{"prompt": []}], SFTSection(batch_size=1, per_device_batch_size=1), tmp_path
        )
    with pytest.raises(ConfigError, match="group_size must be at least 2"):
        training.train_grpo(
            TINY_RANDOM, ctrl.grpo_rows(rl_rows()), lambda **k: [], GRPOSection(group_size=1), tmp_path
        )
    with pytest.raises(ConfigError, match="fewer than grpo.prompts_per_step"):
        training.train_grpo(
            TINY_RANDOM,
            ctrl.grpo_rows(rl_rows()),
            lambda **k: [],
            GRPOSection(group_size=2, prompts_per_step=3),
            tmp_path,
        )
    with pytest.raises(ConfigError, match=r"grpo.max_prompts \(1\) is below grpo.prompts_per_step \(2\)"):
        training.train_grpo(
            TINY_RANDOM,
            ctrl.grpo_rows(rl_rows()),
            lambda **k: [],
            GRPOSection(group_size=2, prompts_per_step=2, max_prompts=1),
            tmp_path,
        )
    with pytest.raises(ConfigError, match="rl.jsonl: row 0 has no column"):
        ctrl.grpo_rows([{"problem": ADD.to_dict()}])


def test_an_unreachable_generator_stops_grpo_before_training(tmp_path, executor) -> None:
    import socket

    from criticlab.llm.cache import CachedEngine
    from criticlab.llm.openai_server import OpenAIEngine

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    generator = CachedEngine(OpenAIEngine(url, "coder", retries=0), tmp_path / "cache.sqlite")
    reward = CTRLReward(generator, executor)
    cfg = GRPOSection(group_size=2, prompts_per_step=1, max_steps=1)
    with pytest.raises(ConfigError, match=rf"ctrl_reward.*{url}/models is not reachable"):
        training.train_grpo(
            TINY_RANDOM, ctrl.grpo_rows(rl_rows()), reward, cfg, tmp_path / "grpo", progress=False
        )
    assert not (tmp_path / "grpo").exists()  # nothing was loaded, trained or written


def test_grpo_with_the_ctrl_reward_runs_and_logs(tmp_path, executor) -> None:
    reward = CTRLReward(ScriptedEngine(), executor, log_path=tmp_path / stages.REWARDS)
    cfg = GRPOSection(
        group_size=2,
        prompts_per_step=2,
        max_steps=2,
        max_completion_length=8,
        learning_rate=1e-4,
        max_prompt_length=1024,
    )
    result = training.train_grpo(
        TINY_RANDOM, ctrl.grpo_rows(rl_rows()), reward, cfg, tmp_path / "grpo", progress=False
    )
    assert result.global_step == 2 and (result.final_dir / "config.json").is_file()
    rewards = [json.loads(line) for line in (tmp_path / stages.REWARDS).read_text().splitlines()]
    assert len(rewards) == 2 * 2 * 2  # steps × prompts × group
    # random weights write no judgment; every critique is revised all the same (the scripted
    # generator then fixes the code), so the reward is the revision's
    assert all(r["judgment"] is None and r["outcome"] == "Accepted" and r["reward"] == 1.0 for r in rewards)
    assert result.series("reward")


def test_grpo_trains_on_the_first_max_prompts(tmp_path, executor) -> None:
    reward = CTRLReward(ScriptedEngine(), executor, log_path=tmp_path / stages.REWARDS)
    cfg = GRPOSection(
        group_size=2,
        prompts_per_step=1,
        max_steps=3,
        max_prompts=1,
        max_completion_length=4,
        max_prompt_length=1024,
    )
    training.train_grpo(
        TINY_RANDOM, ctrl.grpo_rows(rl_rows()), reward, cfg, tmp_path / "grpo", progress=False
    )
    rewards = [json.loads(line) for line in (tmp_path / stages.REWARDS).read_text().splitlines()]
    assert len(rewards) == 3 * 2 and {r["problem_id"] for r in rewards} == {ADD.id}  # ECHO never sampled


def alternating_reward(prompts, completions, **kwargs) -> list[float]:
    """1, 0, 1, 0, …: every group of two has one better critique, so the policy gradient is not zero."""
    return [float(i % 2 == 0) for i in range(len(completions))]


@pytest.mark.parametrize("mask_truncated", [True, False])
def test_truncated_critiques_are_left_out_of_the_loss_when_masked(tmp_path, mask_truncated) -> None:
    import torch

    from criticlab.llm.hf import load_model

    # 4 tokens from random weights never reach end-of-sequence: every critique is cut at the limit
    cfg = GRPOSection(
        group_size=2,
        prompts_per_step=1,
        max_steps=1,
        max_completion_length=4,
        learning_rate=1e-3,
        max_prompt_length=1024,
        mask_truncated=mask_truncated,
    )
    result = training.train_grpo(
        TINY_RANDOM, ctrl.grpo_rows(rl_rows()), alternating_reward, cfg, tmp_path / "grpo", progress=False
    )
    assert result.series("completions/clipped_ratio")[-1][1] == 1.0
    before = load_model(str(save_tiny_qwen2(cache_dir() / TINY_RANDOM)), torch.float32)[0].state_dict()
    after = load_model(str(result.final_dir), torch.float32)[0].state_dict()
    changed = any(not torch.equal(before[k], after[k]) for k in before)
    assert changed is not mask_truncated


def test_long_prompts_are_dropped() -> None:
    from criticlab.llm.hf import load_model

    _, tokenizer, _, _ = load_model(str(save_tiny_qwen2(cache_dir() / TINY_RANDOM)), "auto")
    rows = ctrl.grpo_rows(rl_rows())
    kept, dropped = training.drop_long_prompts(rows, tokenizer, 50)
    assert (len(kept), dropped) == (0, 2)
    assert training.drop_long_prompts(rows, tokenizer, 4096) == (rows, 0)


def test_quarter_means() -> None:
    first, last, se = stats.quarter_means([0, 0, 0, 0, 1, 1, 1, 1])
    assert (first, last) == (0.0, 1.0) and se == 0.0


def test_grpo_step_times_and_the_reward_log_continue_after_resume(tmp_path, executor) -> None:
    from criticlab.training.step_timer import StepTimer, summarize

    log = tmp_path / stages.REWARDS
    cfg = GRPOSection(
        group_size=2,
        prompts_per_step=1,
        max_steps=3,
        max_completion_length=8,
        learning_rate=1e-4,
        max_prompt_length=1024,
    )
    reward = CTRLReward(ScriptedEngine(), executor, log_path=log)
    with pytest.raises(KeyboardInterrupt):
        training.train_grpo(
            TINY_RANDOM,
            ctrl.grpo_rows(rl_rows()),
            reward,
            cfg,
            tmp_path / "grpo",
            progress=False,
            save_steps=1,
            callbacks=[StepTimer(reward), StopAt(2)],
        )
    reward = CTRLReward(ScriptedEngine(), executor, log_path=log)
    timer = StepTimer(reward, log_path=tmp_path / "times.jsonl")
    result = training.train_grpo(
        TINY_RANDOM,
        ctrl.grpo_rows(rl_rows()),
        reward,
        cfg,
        tmp_path / "grpo",
        progress=False,
        save_steps=1,
        callbacks=[timer],
    )
    assert result.resumed_from.endswith("checkpoint-1")  # step 2 ended but was interrupted before its save
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == [0, 0, 1, 1, 2, 2]  # each step once: step 1 (not checkpointed) replaced by its re-run
    assert [t.step for t in timer.times] == [2, 3]
    t = timer.times[-1]
    assert t.sampling > 0 and t.optimisation > 0
    assert t.seconds >= t.sampling + t.revision + t.execution
    assert summarize(timer.times)["seconds"] == t.seconds  # the first step is warm-up
    assert [json.loads(x)["step"] for x in (tmp_path / "times.jsonl").read_text().splitlines()] == [2, 3]


def test_step_timer_splits_reward_seconds() -> None:
    from types import SimpleNamespace

    from criticlab.training.step_timer import StepTimer

    reward = SimpleNamespace(seconds={"revision": 1.0, "execution": 2.0}, step=None)
    timer = StepTimer(reward)
    timer.on_step_begin(None, SimpleNamespace(global_step=4), None)
    assert reward.step == 4
    reward.seconds["revision"] += 0.5
    reward.seconds["execution"] += 0.25
    timer.on_step_end(None, SimpleNamespace(global_step=5), None)
    (t,) = timer.times
    assert (t.step, t.revision, t.execution, t.sampling) == (5, 0.5, 0.25, 0.0)
    assert t.optimisation == 0.0  # the reward's seconds came from the counters, not the clock


def test_precision_auto_resolves_to_a_real_dtype() -> None:
    from criticlab.llm.precision import native_bf16, resolve_dtype

    assert isinstance(native_bf16(), bool)
    assert resolve_dtype("auto") == ("bfloat16" if native_bf16() else "float32")
    assert resolve_dtype("float32") == "float32"


def test_a_run_resumes_only_with_its_own_settings(tmp_path) -> None:
    cfg = SFTSection(learning_rate=1e-3, max_steps=4)
    out = tmp_path / "sft"
    training.guard_resume(
        out, training.run_settings("model-a", sft_rows(), cfg)
    )  # a new run records its settings
    (out / "checkpoint-2").mkdir()
    longer = dataclasses.replace(cfg, max_steps=8, epochs=3)  # training longer may resume
    training.guard_resume(out, training.run_settings("model-a", sft_rows(), longer))
    with pytest.raises(
        ConfigError, match=r"other settings \(changed: learning_rate\).*delete that directory"
    ):
        training.guard_resume(
            out, training.run_settings("model-a", sft_rows(), dataclasses.replace(cfg, learning_rate=1e-4))
        )
    with pytest.raises(ConfigError, match=r"changed: model\)"):
        training.guard_resume(out, training.run_settings("model-b", sft_rows(), cfg))
    with pytest.raises(ConfigError, match=r"changed: data_sha256, rows\)"):
        training.guard_resume(out, training.run_settings("model-a", sft_rows()[:1], cfg))
    assert (out / "checkpoint-2").is_dir()  # nothing is deleted


def test_a_starting_model_retrained_in_place_is_not_resumed(tmp_path) -> None:
    start = tmp_path / "sft" / "final"  # the same path, new weights: 04 re-run before 05
    start.mkdir(parents=True)
    (start / "model.safetensors").write_bytes(b"first weights")
    cfg = GRPOSection(group_size=2)
    out = tmp_path / "grpo"
    training.guard_resume(out, training.run_settings(str(start), [], cfg))
    (out / "checkpoint-2").mkdir()
    training.guard_resume(out, training.run_settings(str(start), [], cfg))  # unchanged: resumes
    (start / "model.safetensors").write_bytes(b"retrained weights")
    with pytest.raises(ConfigError, match=r"changed: model_sha256\)"):
        training.guard_resume(out, training.run_settings(str(start), [], cfg))
    assert (
        training.weights_digest("HuggingFaceTB/SmolLM2-135M-Instruct") is None
    )  # a hub id: nothing local to hash

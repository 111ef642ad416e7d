"""Training benchmark: seconds per CTRL GRPO step, split into critic sampling, generator revision,
execution and optimisation.

Runs a few real GRPO steps of the profile's critic with the profile's generator and sandbox,
exactly as notebook 05 does, but into a temporary directory and with the response cache off (a
cached revision would cost nothing). The RL rows are the profile's ``03_synthesis/rl.jsonl`` when
notebook 03 has run, otherwise fresh zero-shot solutions to the profile's first training problems.
The first step (model warm-up) is reported but left out of the means.

``--rollouts transformers vllm`` times both ways of sampling the critic's groups in one run, one
after the other: TRL's ``generate`` (transformers) and, where vLLM is installed, vLLM's CPU build
with the policy's LoRA adapter swapped in each step (:mod:`criticlab.training.vllm_rollouts`).
Both then train a LoRA adapter (``grpo.lora: true``), so they differ by their sampling alone; the
vLLM engine's start-up is in the whole run's seconds, not in the steps'.

    python -m criticlab.bench train --profile smoke [--steps 4] [--rollouts transformers vllm] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from criticlab import config, stages
from criticlab.io import read_jsonl


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="smoke", help="profile name or YAML path (default: smoke)")
    parser.add_argument(
        "--steps", type=int, default=4, help="GRPO steps to time (default 4; the first is warm-up)"
    )
    parser.add_argument("--start", default=None, help="critic to train (default: the profile's critic model)")
    parser.add_argument(
        "--rollouts",
        nargs="+",
        choices=["transformers", "vllm"],
        default=None,
        help="time these ways of sampling, in turn (default: the profile's own); both: LoRA training",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")


def rl_rows_for(cfg: config.Profile, executor: Any, needed: int) -> tuple[list[dict[str, Any]], str]:
    """The profile's RL rows, or zero-shot solutions to its first ``needed`` training problems."""
    path = cfg.paths.stage_dir(stages.SYNTHESIS) / stages.RL_ROWS
    if path.is_file():
        rows = read_jsonl(path)
        if rows:
            return rows, str(path)
    from criticlab.ctrl.datasets import build_rl_rows
    from criticlab.ctrl.synthesis import SynthesisRecord
    from criticlab.data import prepare_data
    from criticlab.llm import engine_for, sampling_for
    from criticlab.rollout.loop import zero_shot

    problems = prepare_data(cfg.data, progress=False).train[:needed]
    solved = zero_shot(problems, engine_for(cfg, "generator"), executor, sampling_for(cfg, "solution"), n=1)
    records = [SynthesisRecord(p.id, i, rnd.response, rnd.code, rnd.result) for p, i, rnd in solved]
    return build_rl_rows(
        records, {p.id: p for p in problems}
    ), f"zero-shot solutions to {len(problems)} problems"


def bench_train(args: argparse.Namespace) -> int:
    variants = args.rollouts or [None]
    results = {}
    for rollouts in variants:
        results[rollouts or "profile"] = _time_steps(args, rollouts)
    if len(results) > 1 and all(r["mean"] for r in results.values()):
        base, other = (results[v]["mean"]["seconds"] for v in variants[:2])
        print(
            f"\nseconds per step: {variants[1]} {other:.1f} / {variants[0]} {base:.1f} = {other / base:.2f}x"
        )
        sampling = [results[v]["mean"]["sampling"] for v in variants[:2]]
        print(
            f"sampling seconds per step: {sampling[1]:.1f} / {sampling[0]:.1f} = {sampling[1] / max(sampling[0], 1e-9):.2f}x"
        )
    if args.json:
        args.json.write_text(
            json.dumps(results if len(results) > 1 else next(iter(results.values())), indent=2)
        )
    return 0


def _time_steps(args: argparse.Namespace, rollouts: str | None) -> dict[str, Any]:
    """A few GRPO steps of the profile, sampled by ``rollouts`` (None: as the profile says)."""
    from criticlab import ctrl
    from criticlab.llm import engine_for, vllm_server
    from criticlab.sandbox import make_executor
    from criticlab.training.step_timer import PARTS, StepTimer, summarize

    grpo: dict[str, Any] = {"max_steps": args.steps}
    if rollouts is not None:
        grpo.update(use_vllm=rollouts == "vllm", lora=True)
    cfg = config.load_profile(args.profile, overrides={"grpo": grpo})
    start = args.start or cfg.models.critic
    print(
        f"\nprofile {cfg.name}: critic {start}, generator {cfg.models.generator} ({cfg.models.engine}); "
        f"group {cfg.grpo.group_size} × {cfg.grpo.prompts_per_step} prompt(s)/step, "
        f"completions ≤ {cfg.grpo.max_completion_length} tokens, {args.steps} steps, "
        f"rollouts {rollouts or 'as the profile says'}{', LoRA' if cfg.grpo.lora else ''}"
    )
    began = time.perf_counter()
    with (
        vllm_server.if_served(cfg),
        make_executor(cfg.sandbox) as executor,
        tempfile.TemporaryDirectory(prefix="criticlab-bench-") as tmp,
    ):
        # some prompts run over grpo.max_prompt_length and are dropped: solve more problems than steps need
        rows, source = rl_rows_for(cfg, executor, 3 * cfg.grpo.prompts_per_step * args.steps)
        print(f"RL rows: {len(rows)} from {source}")
        reward = ctrl.reward_for(cfg, engine_for(cfg, "generator", cached=False), executor)
        timer = StepTimer(reward)
        ctrl.train_critic(
            cfg,
            start,
            ctrl.grpo_rows(rows, source),
            reward,
            Path(tmp) / "grpo",
            progress=False,
            save_steps=10**9,
            callbacks=[timer],
        )
    total = time.perf_counter() - began
    print(f"\n{'step':>4} {'total s':>8} " + " ".join(f"{p:>12}" for p in PARTS))
    for t in timer.times:
        print(f"{t.step:>4} {t.seconds:>8.1f} " + " ".join(f"{getattr(t, p):>12.1f}" for p in PARTS))
    mean = summarize(timer.times)
    if mean:
        shares = " ".join(f"{p} {mean[p]:.1f} s ({100 * mean[p] / mean['seconds']:.0f}%)," for p in PARTS)
        print(f"\nmean of steps 2..{len(timer.times)}: {mean['seconds']:.1f} s/step — {shares.rstrip(',')}")
    print(f"whole benchmark (loading, data, steps): {total:.0f} s")
    return {
        "profile": cfg.name,
        "critic": start,
        "generator": cfg.models.generator,
        "rollouts": rollouts or ("vllm" if cfg.grpo.use_vllm else "transformers"),
        "lora": cfg.grpo.lora,
        "group_size": cfg.grpo.group_size,
        "prompts_per_step": cfg.grpo.prompts_per_step,
        "max_completion_length": cfg.grpo.max_completion_length,
        "steps": [t.to_dict() for t in timer.times],
        "mean": mean,
        "total_seconds": total,
    }

"""Which model to train as the critic: candidates scored on the validation prompts, beside always-Correct.

A critic is worth training only if its verdicts can beat the base rate. Each candidate (a registry
name, a GGUF path or a checkpoint directory) writes ``--critiques`` critiques of every held-out
prompt of notebook 03 (``03_synthesis/rl_heldout.jsonl``: zero-shot solutions to the validation
problems, passing and failing, which no stage trains on), sampled as notebook 05 samples its
critics (``grpo.temperature``, ``grpo.max_completion_length`` tokens, on the policy's backend); the
generator revises under each critique. Reported per candidate, with 95% intervals over prompts
(:func:`criticlab.ctrl.measure_heldout`, as 05 measures its critics before and after GRPO): the
CTRL reward, verdict accuracy, accuracy on passing and on failing solutions, the share without a
judgment, and the wall time — beside always-Correct, whose accuracy is the passing share.

    python -m criticlab.tools.critic_choice --profile cpu \\
        --candidates outputs/cpu/checkpoints/sft/final qwen2.5-coder-0.5b-instruct --out outputs/cpu/critic-choice

What it cannot say is what training would make of a candidate: pair it with
``python -m criticlab.bench train --start <model>`` for what a GRPO step of each costs.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from criticlab import config, ctrl, stages
from criticlab.evaluation import ALWAYS_CORRECT
from criticlab.io import read_jsonl, write_json, write_text
from criticlab.llm import engine_for, policy_engine, sampling_for
from criticlab.sandbox import make_executor


def always_correct(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The base rate: every solution judged Correct (its accuracy is the passing share)."""
    passing = sum(bool(r["passed"]) for r in rows)
    return {"candidate": ALWAYS_CORRECT, "prompts": len(rows), "accuracy": passing / len(rows),
            "accuracy_correct": 1.0 if passing else float("nan"),
            "accuracy_incorrect": 0.0 if passing < len(rows) else float("nan"), "unparsed": 0.0}


def score_candidates(profile: config.Profile, candidates: Sequence[str], critiques: int,
                     log_dir: Path) -> list[dict[str, Any]]:
    """Each candidate's :class:`~criticlab.stages.HeldoutScore` on the profile's held-out prompts, as a row."""
    path = profile.paths.stage_dir(stages.SYNTHESIS) / stages.RL_HELDOUT
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no held-out prompts; run notebook 03 for profile {profile.name} first")
    rows = read_jsonl(path)[: profile.grpo.heldout_prompts]
    if not rows:
        raise ValueError(f"{path} holds no prompt")
    grpo_rows = ctrl.grpo_rows(rows, str(path))
    sampling = ctrl.heldout_sampling(profile.grpo, profile.seed)
    out = [always_correct(rows)]
    with make_executor(profile.sandbox) as executor:
        generator = engine_for(profile, "generator")
        for i, candidate in enumerate(candidates):
            log = log_dir / f"candidate_{i}.jsonl"
            log.unlink(missing_ok=True)
            reward = ctrl.CTRLReward(generator, executor, sampling_for(profile, "revision"), log_path=log,
                                     judgment_gate=profile.grpo.judgment_gate)
            started = time.perf_counter()
            score = ctrl.measure_heldout(policy_engine(profile, candidate), grpo_rows, reward, sampling, critiques,
                                         seed=profile.seed)
            out.append({"candidate": candidate, **dataclasses.asdict(score),
                        "seconds": time.perf_counter() - started})
            print(f"{candidate}: accuracy {score.accuracy:.3f} [{score.accuracy_lo:.3f}, {score.accuracy_hi:.3f}], "
                  f"reward {score.reward:.3f}, no judgment {score.unparsed:.3f}", flush=True)
    return out


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if f"{key}_lo" in row:
        return f"{value:.3f} [{row[f'{key}_lo']:.3f}, {row[f'{key}_hi']:.3f}]"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def table(rows: Sequence[dict[str, Any]]) -> str:
    keys = ("prompts", "critiques", "accuracy", "accuracy_correct", "accuracy_incorrect", "reward", "unparsed",
            "seconds")
    lines = ["| candidate | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {row['candidate']} | " + " | ".join(_cell(row, k) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m criticlab.tools.critic_choice",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=None, help="profile name or YAML path (notebook 03 must have run)")
    parser.add_argument("--candidates", nargs="+", required=True, help="registry names, GGUF paths or checkpoint dirs")
    parser.add_argument("--critiques", type=int, default=2, help="critiques per held-out prompt (default 2)")
    parser.add_argument("--out", type=Path, default=None, help="write table.md and scores.json here")
    args = parser.parse_args(argv)
    profile = config.load_profile(args.profile)
    rows = score_candidates(profile, args.candidates, args.critiques, profile.paths.stage_dir(stages.GRPO) / "critic_choice")
    text = table(rows)
    print(text)
    if args.out:
        write_text(args.out / "table.md", text + "\n")
        write_json(args.out / "scores.json", {"profile": profile.name, "critiques": args.critiques, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())

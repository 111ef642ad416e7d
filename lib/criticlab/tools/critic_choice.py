"""Which model to train as the critic: candidates scored on the validation prompts, beside always-Correct.

A critic is worth training only if its verdicts can beat the base rate. Each candidate (a registry
name, a GGUF path or a checkpoint directory) writes ``--critiques`` critiques of every held-out
prompt of notebook 03 (``03_synthesis/rl_heldout.jsonl``: zero-shot solutions to the validation
problems, passing and failing, which no stage trains on), sampled as notebook 05 samples its
critics (``grpo.temperature``, ``grpo.max_completion_length`` tokens, on the policy's backend); the
generator revises under each critique. Reported per candidate, with 95% intervals over prompts
(:func:`criticlab.ctrl.heldout_score`, as 05 measures its critics before and after GRPO): the
CTRL reward, verdict accuracy, accuracy on passing and on failing solutions, the share without a
judgment, and the wall time — beside always-Correct, whose accuracy is the passing share.

    python -m criticlab.tools.critic_choice --profile cpu \\
        --candidates outputs/cpu/checkpoints/sft/final qwen2.5-coder-0.5b-instruct --out outputs/cpu/critic-choice

A candidate named ``NAME+sft`` (full fine-tuning) or ``NAME+sft-lora`` (a LoRA adapter) is first
fine-tuned as notebook 04 fine-tunes the critic — on 03's SFT critiques, with the profile's ``sft``
settings and ``--sft key=value`` over them — into ``checkpoints/critic_choice/<candidate>/`` (kept,
not trained again), and scored so; its row gives the training time. This is how the issue's two
critics compare on one footing: the 135M model fully fine-tuned and the 0.5B coder with LoRA.

    python -m criticlab.tools.critic_choice --profile cpu --candidates smollm2-135m-instruct+sft \
        qwen2.5-coder-0.5b-instruct qwen2.5-coder-0.5b-instruct+sft-lora --sft learning_rate=2e-4

What it cannot say is what GRPO would make of a candidate: pair it with
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

from criticlab import config, ctrl, records, stages, training
from criticlab.io import write_json, write_text

TRAINED_DIR = "critic_choice"
"""Where fine-tuned candidates go, under the profile's checkpoints."""
SFT_SUFFIXES = {"+sft-lora": True, "+sft": False}
"""A candidate's suffix → whether its SFT trains a LoRA adapter (else every weight)."""


def sft_spec(candidate: str) -> tuple[str, bool] | None:
    """``NAME+sft`` → ``(NAME, False)``, ``NAME+sft-lora`` → ``(NAME, True)``; None for a plain candidate."""
    for suffix, lora in SFT_SUFFIXES.items():
        if candidate.endswith(suffix) and len(candidate) > len(suffix):
            return candidate[: -len(suffix)], lora
    return None


def train_candidates(profile: config.Profile, candidates: Sequence[str]) -> dict[str, tuple[str, float]]:
    """Fine-tune every ``+sft``/``+sft-lora`` candidate on notebook 03's SFT critiques, as 04 does.

    Returns ``{candidate: (final checkpoint, seconds spent training)}`` (0 s when it was already
    trained: a kept checkpoint is not trained again). ``profile.sft`` holds the settings; only
    ``lora`` comes from the suffix.
    """
    wanted = {c: spec for c in candidates if (spec := sft_spec(c)) is not None}
    if not wanted:
        return {}
    path = profile.paths.stage_dir(stages.SYNTHESIS) / stages.SFT_ROWS
    rows = ctrl.read_sft_rows(path)
    if not rows:
        raise FileNotFoundError(
            f"{path}: no SFT critiques to fine-tune {', '.join(wanted)} on; "
            f"run notebook 03 for profile {profile.name} first"
        )
    out: dict[str, tuple[str, float]] = {}
    for candidate, (base, lora) in wanted.items():
        target = profile.paths.checkpoints_dir / TRAINED_DIR / candidate
        seconds = 0.0
        if not (target / stages.FINAL).is_dir():
            print(
                f"fine-tuning {base} ({'LoRA' if lora else 'every weight'}) on {len(rows)} critiques",
                flush=True,
            )
            started = time.perf_counter()
            training.train_sft(
                base,
                rows,
                dataclasses.replace(profile.sft, lora=lora),
                target,
                seed=profile.seed,
                progress=profile.progress,
                source=str(path),
            )
            seconds = time.perf_counter() - started
        out[candidate] = (str(target / stages.FINAL), seconds)
    return out


def compare(profile: config.Profile, candidates: Sequence[str], critiques: int) -> list[dict[str, Any]]:
    """Fine-tune the ``+sft`` candidates (:func:`train_candidates`), then score every candidate
    beside always-Correct (:func:`criticlab.ctrl.score_candidates`); rows keep the names given."""
    trained = train_candidates(profile, candidates)
    references = [trained[c][0] if c in trained else c for c in candidates]
    rows = ctrl.score_candidates(
        profile, references, critiques, profile.paths.stage_dir(stages.GRPO) / "critic_choice"
    )
    for row, candidate in zip(rows[1:], candidates):  # rows[0] is always-Correct
        row["candidate"] = candidate
        if candidate in trained:
            checkpoint, row["sft_seconds"] = trained[candidate]
            row["checkpoint"] = ctrl.outputs_name(profile, checkpoint)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m criticlab.tools.critic_choice", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--profile", default=None, help="profile name or YAML path (notebook 03 must have run)"
    )
    parser.add_argument(
        "--candidates", nargs="+", required=True, help="registry names, GGUF paths or checkpoint dirs"
    )
    parser.add_argument("--critiques", type=int, default=2, help="critiques per held-out prompt (default 2)")
    parser.add_argument(
        "--heldout",
        type=int,
        default=None,
        help="held-out prompts to score on (default: the profile's grpo.heldout_prompts)",
    )
    parser.add_argument(
        "--sft",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="sft settings for the +sft/+sft-lora candidates, over the profile's (e.g. learning_rate=2e-4)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write table.md and scores.json here")
    args = parser.parse_args(argv)
    sft: dict[str, Any] = {}
    for item in args.sft:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"--sft {item!r}: expected key=value (a key of the profile's sft section)")
        sft[key.strip()] = records.parse_scalar(value)
    try:
        profile = config.load_profile(
            args.profile, overrides={"sft": sft, "grpo": {"heldout_prompts": args.heldout}}
        )
    except config.ConfigError as err:
        parser.error(str(err))
    rows = compare(profile, args.candidates, args.critiques)
    text = ctrl.choice_table(rows)
    print(text)
    if args.out:
        write_text(args.out / "table.md", text + "\n")
        write_json(
            args.out / "scores.json",
            {
                "profile": profile.name,
                "critiques": args.critiques,
                "sft": sft,
                "heldout_prompts": profile.grpo.heldout_prompts,
                "rows": rows,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

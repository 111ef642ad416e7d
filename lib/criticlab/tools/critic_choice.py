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

from criticlab import config, ctrl, stages, training
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
        raise FileNotFoundError(f"{path}: no SFT critiques to fine-tune {', '.join(wanted)} on; "
                                f"run notebook 03 for profile {profile.name} first")
    out: dict[str, tuple[str, float]] = {}
    for candidate, (base, lora) in wanted.items():
        target = profile.paths.checkpoints_dir / TRAINED_DIR / candidate
        seconds = 0.0
        if not (target / stages.FINAL).is_dir():
            print(f"fine-tuning {base} ({'LoRA' if lora else 'every weight'}) on {len(rows)} critiques", flush=True)
            started = time.perf_counter()
            training.train_sft(base, rows, dataclasses.replace(profile.sft, lora=lora), target, seed=profile.seed,
                               progress=profile.progress, source=str(path))
            seconds = time.perf_counter() - started
        out[candidate] = (str(target / stages.FINAL), seconds)
    return out


def score_candidates(profile: config.Profile, candidates: Sequence[str], critiques: int, log_dir: Path,
                     grpo: Sequence[config.GRPOSection] | None = None) -> list[dict[str, Any]]:
    """Each candidate's :class:`~criticlab.stages.HeldoutScore` on the profile's held-out prompts, as a row.

    ``grpo`` gives each candidate the GRPO section it is sampled with (:func:`ctrl.heldout_sampling`:
    temperature, completion length), e.g. each trained setting its own; default the profile's for all.
    Each row records the ``max_tokens`` its critiques were allowed."""
    path = profile.paths.stage_dir(stages.SYNTHESIS) / stages.RL_HELDOUT
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no held-out prompts; run notebook 03 for profile {profile.name} first")
    rows = read_jsonl(path)[: profile.grpo.heldout_prompts]
    if not rows:
        raise ValueError(f"{path} holds no prompt")
    grpo_rows = ctrl.grpo_rows(rows, str(path))
    sections = list(grpo) if grpo is not None else [profile.grpo] * len(candidates)
    if len(sections) != len(candidates):
        raise ValueError(f"{len(sections)} GRPO sections for {len(candidates)} candidates")
    out = [always_correct(rows)]
    with make_executor(profile.sandbox) as executor:
        generator = engine_for(profile, "generator")
        for i, (candidate, section) in enumerate(zip(candidates, sections)):
            sampling = ctrl.heldout_sampling(section, profile.seed)
            log = log_dir / f"candidate_{i}.jsonl"
            log.unlink(missing_ok=True)
            reward = ctrl.CTRLReward(generator, executor, sampling_for(profile, "revision"), log_path=log,
                                     judgment_gate=section.judgment_gate)
            started = time.perf_counter()
            score = ctrl.measure_heldout(policy_engine(profile, candidate), grpo_rows, reward, sampling, critiques,
                                         seed=profile.seed)
            out.append({"candidate": candidate, **dataclasses.asdict(score), "max_tokens": sampling.max_tokens,
                        "seconds": time.perf_counter() - started})
            print(f"{candidate}: accuracy {score.accuracy:.3f} [{score.accuracy_lo:.3f}, {score.accuracy_hi:.3f}], "
                  f"reward {score.reward:.3f}, no judgment {score.unparsed:.3f}", flush=True)
    return out


def outputs_name(profile: config.Profile, reference: str) -> str:
    """A reference inside the profile's outputs as those name it (``checkpoints/sft/final``), so a
    saved table carries no path of the machine it ran on; any other reference unchanged."""
    path = Path(reference)
    return str(path.relative_to(profile.paths.root)) if path.is_relative_to(profile.paths.root) else reference


def compare(profile: config.Profile, candidates: Sequence[str], critiques: int) -> list[dict[str, Any]]:
    """Fine-tune the ``+sft`` candidates (:func:`train_candidates`), then score every candidate
    beside always-Correct (:func:`score_candidates`); rows keep the names given."""
    trained = train_candidates(profile, candidates)
    references = [trained[c][0] if c in trained else c for c in candidates]
    rows = score_candidates(profile, references, critiques, profile.paths.stage_dir(stages.GRPO) / "critic_choice")
    for row, candidate in zip(rows[1:], candidates):  # rows[0] is always-Correct
        row["candidate"] = candidate
        if candidate in trained:
            checkpoint, row["sft_seconds"] = trained[candidate]
            row["checkpoint"] = outputs_name(profile, checkpoint)
    return rows


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if f"{key}_lo" in row:
        return f"{value:.3f} [{row[f'{key}_lo']:.3f}, {row[f'{key}_hi']:.3f}]"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def table(rows: Sequence[dict[str, Any]]) -> str:
    keys = ("prompts", "critiques", "max_tokens", "accuracy", "accuracy_correct", "accuracy_incorrect", "reward",
            "unparsed", "seconds", "sft_seconds")
    lines = ["| candidate | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {row['candidate']} | " + " | ".join(_cell(row, k) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m criticlab.tools.critic_choice",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=None, help="profile name or YAML path (notebook 03 must have run)")
    parser.add_argument("--candidates", nargs="+", required=True, help="registry names, GGUF paths or checkpoint dirs")
    parser.add_argument("--critiques", type=int, default=2, help="critiques per held-out prompt (default 2)")
    parser.add_argument("--heldout", type=int, default=None,
                        help="held-out prompts to score on (default: the profile's grpo.heldout_prompts)")
    parser.add_argument("--sft", nargs="+", default=[], metavar="KEY=VALUE",
                        help="sft settings for the +sft/+sft-lora candidates, over the profile's (e.g. learning_rate=2e-4)")
    parser.add_argument("--out", type=Path, default=None, help="write table.md and scores.json here")
    args = parser.parse_args(argv)
    sft: dict[str, Any] = {}
    for item in args.sft:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            parser.error(f"--sft {item!r}: expected key=value (a key of the profile's sft section)")
        sft[key.strip()] = config.parse_scalar(value)
    try:
        profile = config.load_profile(args.profile, overrides={"sft": sft, "grpo": {"heldout_prompts": args.heldout}})
    except config.ConfigError as err:
        parser.error(str(err))
    rows = compare(profile, args.candidates, args.critiques)
    text = table(rows)
    print(text)
    if args.out:
        write_text(args.out / "table.md", text + "\n")
        write_json(args.out / "scores.json", {"profile": profile.name, "critiques": args.critiques, "sft": sft,
                                              "heldout_prompts": profile.grpo.heldout_prompts, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A Markdown summary of a profile's run, from the files its notebooks wrote.

Stage times come from ``run.json``; each stage's headline numbers from its ``metrics.json``; the
tables from ``tables/*.md``. Nothing is recomputed, so the summary says exactly what the
notebooks measured; a stage that has not run is listed as such. The README's results section
is this output::

    python -m criticlab.tools.report --profile cpu [--out summary.md]

``--snapshot DIR`` keeps the small files a reported result rests on, to commit (outputs/ is not
kept): this summary as ``summary.md``, ``run.json``, every stage's ``metrics.json``, the tables
(Markdown) and figures, and ``provenance.json`` — the command that made the run, the commit of the
checkout it ran in, and the machine's CPU model. No checkpoint, cache or trajectory is copied::

    python -m criticlab.tools.report --profile cpu-study --snapshot docs/results/cpu-study \
        --command "make run PROFILE=cpu-study"
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from criticlab import config, stages
from criticlab.io import atomic_dir, read_json, write_json, write_text
from criticlab.llm.throughput import batched_bench_figure
from criticlab.machine import cpu_model

TABLES = (
    (stages.TABLE_FINAL, "Pass@1, Δ↑, Δ↓ after the last round (%), 95% bootstrap intervals over problems"),
    (stages.TABLE_DIFFERENCES, "Each method against self-critique: paired differences, 95% intervals"),
    (stages.TABLE_DISCRIMINATION, "Discrimination: the critics' judgments against execution"),
    (stages.TABLE_MAJORITY, "Pairwise accuracy against critiques per response (Maj@k; a tie is not correct)"),
    (stages.TABLE_TRANSITION_RATES, "Markov transition rates per round"),
)


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def stage_times(root: Path) -> list[str]:
    """The notebooks' wall times from ``run.json``. When a notebook ran more than once (an interrupted
    run resumed, or a stage re-run on cached generations), every recorded run is listed in order,
    because the latest run alone (``runs``) would hide what the stage cost when it generated."""
    path = root / stages.RUN_FILE
    if not path.is_file():
        return [f"No `{stages.RUN_FILE}`: no notebook has run for this profile."]
    saved = read_json(path)
    runs = saved.get("runs", [])
    history = saved.get("history", runs)
    repeated = len({r["notebook"] for r in history}) < len(history)
    shown = history if repeated else runs
    lines = ["| notebook | status | minutes |", "|---|---|---|"]
    seen: set[str] = set()
    for r in shown:
        again = " (again)" if r["notebook"] in seen else ""
        seen.add(r["notebook"])
        lines.append(f"| {r['notebook']}{again} | {r['status']} | {r['seconds'] / 60:.1f} |")
    total = sum(r["seconds"] for r in shown)
    label = "total of every recorded run" if repeated else "total"
    lines.append(f"| **{label}** | | **{total / 60:.1f}** |")
    return lines


def training_lines(root: Path) -> list[str]:
    lines = []
    sft = stages.read_metrics(root, stages.SFT)
    if isinstance(sft, stages.SFTMetrics) and sft.run.trained and sft.loss is not None:
        lines.append(
            f"- SFT ({sft.rows} critiques, {sft.run.steps} steps): loss {_fmt(sft.loss.first_quarter)} "
            f"(first quarter of steps) → {_fmt(sft.loss.last_quarter)} (last quarter), "
            f"s.e. of the difference {_fmt(sft.loss.se)}."
        )
    grpo = stages.read_metrics(root, stages.GRPO)
    if isinstance(grpo, stages.GRPOMetrics) and grpo.learned is not None:
        learned = grpo.learned
        rose = "above its noise" if learned.above_noise else "not beyond its noise (2 s.e.)"
        lines.append(
            f"- GRPO ({grpo.run.steps} steps): mean reward {_fmt(learned.first_quarter)} (first quarter) → "
            f"{_fmt(learned.last_quarter)} (last quarter), difference {learned.difference:+.3f} ± "
            f"{_fmt(learned.se)} (1 s.e.): {rose}."
        )
        seconds = grpo.seconds_per_step or {}
        if seconds:
            parts = ", ".join(
                f"{k} {seconds[k]:.1f} s" for k in ("sampling", "revision", "execution", "optimisation")
            )
            lines.append(f"  Seconds per step {seconds['seconds']:.1f}: {parts}.")
        if len(grpo.seeds) > 1:
            rise = grpo.across_seeds["reward rise"]
            lines.append(
                f"  Over {len(grpo.seeds)} seeds the reward rise is {rise['mean']:+.3f} (sd {_fmt(rise['sd'])}, "
                f"from {rise['min']:+.3f} to {rise['max']:+.3f})."
            )
        for name, score in [("start", grpo.heldout_before)] + [
            (f"seed {r.seed}", r.after) for r in grpo.seeds
        ]:
            if score is not None:
                lines.append(
                    f"  Held-out prompts, {name}: reward {_fmt(score.reward)} [{_fmt(score.reward_lo)}, "
                    f"{_fmt(score.reward_hi)}], verdict accuracy {_fmt(score.accuracy)} "
                    f"[{_fmt(score.accuracy_lo)}, {_fmt(score.accuracy_hi)}]."
                )
    crl = stages.read_metrics(root, stages.CRL)
    for run in crl.ratios if isinstance(crl, stages.CRLMetrics) else []:
        row = run.summary
        seed = "" if run.seed is None else f" (seed {run.seed})"
        lines.append(
            f"- CRL ratio {run.ratio:g}{seed}: code reward {_fmt(row['code_reward'])}, conclusion accuracy "
            f"{_fmt(row['crl_accuracy'])}; first → last quarter {_fmt(row['crl_accuracy_first_quarter'])} → "
            f"{_fmt(row['crl_accuracy_last_quarter'])} (s.e. {_fmt(row['crl_accuracy_se'])})."
        )
    return lines or ["No training stage has run."]


THROUGHPUT_STAGES = (stages.SYNTHESIS, stages.GRPO, stages.CRL, stages.EVALUATION)


def throughput_lines(root: Path) -> list[str]:
    """Each generating stage's tokens, seconds and tokens/s, beside the engine benchmark's batched
    figure on this machine (or "not measured" when ``bench engines`` has not run here)."""
    lines = [
        "| stage | tokens generated | sequences | generation s | wall s | tok/s |",
        "|---|---|---|---|---|---|",
    ]
    any_stage = False
    for stage in THROUGHPUT_STAGES:
        record = stages.read_metrics(root, stage)
        made = getattr(record, "throughput", None)
        if made is None:
            continue
        any_stage = True
        runs = f" ({made.runs} runs added up)" if made.runs > 1 else ""
        lines.append(
            f"| {stage}{runs} | {made.tokens} | {made.sequences} | {made.generation_seconds:.1f} | "
            f"{made.wall_seconds:.1f} | {made.tokens_per_second:.1f} |"
        )
        for part, row in made.parts.items():
            lines.append(
                f"| {stage}: {part} | {int(row['tokens'])} | {int(row['sequences'])} | {row['seconds']:.1f} | "
                f"| {row['tokens_per_second']:.1f} |"
            )
    if not any_stage:
        return ["No generating stage has recorded its throughput."]
    bench = batched_bench_figure()
    if bench is None:
        lines += [
            "",
            "Engine benchmark (`python -m criticlab.bench engines`) batched figure: not measured on "
            "this machine.",
        ]
    else:
        lines += [
            "",
            f"Engine benchmark on this machine ({bench['cpu']}, {bench['measured']}): llama.cpp "
            f"{bench['model']} {bench['tok_per_s']:.1f} tok/s with {bench['sequences']} sequences batched.",
        ]
    return lines


def summarize_run(root: str | Path) -> str:
    """The Markdown summary of ``outputs/<profile>`` (see the module docstring)."""
    root = Path(root)
    out = [f"## Run summary: `{root.name}`", "", "### Stage times", "", *stage_times(root), ""]
    synthesis = stages.read_metrics(root, stages.SYNTHESIS)
    if isinstance(synthesis, stages.SynthesisMetrics):
        datasets = synthesis.datasets
        out += [
            "### Data synthesis",
            "",
            f"{datasets.samples} zero-shot samples on {synthesis.problems} problems, "
            f"{100 * synthesis.zero_shot_pass_rate:.1f}% passing; {datasets.sft_rows} SFT critiques "
            f"{datasets.sft_judgments}, {datasets.rl_rows} RL rows.",
            "",
            *(f"- {step}: {mix}" for step, mix in datasets.judgments.items()),
            "",
        ]
    out += ["### Training", "", *training_lines(root), ""]
    out += ["### Generation throughput", "", *throughput_lines(root), ""]
    for stem, title in TABLES:
        path = root / stages.TABLES_DIR / f"{stem}.md"
        out += [f"### {title}", "", path.read_text().strip() if path.is_file() else "(not written)", ""]
    return "\n".join(out)


SNAPSHOT_SUFFIXES = {stages.TABLES_DIR: (".md",), stages.FIGURES_DIR: (".png", ".svg")}


def checkout_commit(path: Path) -> str:
    """The commit checked out at ``path`` (``+dirty`` when tracked files changed), or ``unknown``."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(path), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_free(text: str, root: Path, checkout: Path) -> str:
    """``text`` without this machine's absolute paths: the outputs directory (``root``'s parent)
    becomes ``outputs``, the checkout's own path is dropped — a committed snapshot names the files
    it speaks of the way a reader's clone would."""
    for prefix, replacement in ((root.resolve().parent, "outputs"), (checkout.resolve(), "")):
        text = text.replace(f"{prefix}{os.sep}", f"{replacement}{os.sep}" if replacement else "")
    return text


def snapshot(root: str | Path, out: str | Path, command: str, checkout: str | Path = ".") -> Path:
    """Copy a run's small result files from ``root`` (``outputs/<profile>``) into ``out``, replacing
    it whole (see the module docstring); returns ``out``."""
    root, out = Path(root), Path(out)
    if not (root / stages.RUN_FILE).is_file():
        raise FileNotFoundError(
            f"{root / stages.RUN_FILE}: no notebook has run for this profile, nothing to snapshot"
        )

    def portable(source: Path, target: Path) -> None:
        write_text(target, machine_free(source.read_text(), root, Path(checkout)))

    with atomic_dir(out) as tmp:
        portable(root / stages.RUN_FILE, tmp / stages.RUN_FILE)
        for stage in stages.STAGES:
            if stages.metrics_path(root, stage).is_file():
                (tmp / stage).mkdir()
                portable(stages.metrics_path(root, stage), tmp / stage / stages.METRICS_FILE)
        for folder, suffixes in SNAPSHOT_SUFFIXES.items():
            for path in sorted((root / folder).glob("*")) if (root / folder).is_dir() else []:
                if path.suffix in suffixes:
                    (tmp / folder).mkdir(exist_ok=True)
                    shutil.copy2(path, tmp / folder / path.name)
        write_text(tmp / "summary.md", summarize_run(root) + "\n")
        write_json(
            tmp / "provenance.json",
            {
                "command": command,
                "commit": checkout_commit(Path(checkout)),
                "cpu": cpu_model(),
                "profile": root.name,
                "snapshot_made": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m criticlab.tools.report", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--profile", default=None, help="profile name or YAML path (default: $CRITICLAB_PROFILE or smoke)"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown here instead of stdout")
    parser.add_argument(
        "--snapshot", type=Path, default=None, help="copy the run's small result files to this directory"
    )
    parser.add_argument(
        "--command",
        default=None,
        help="with --snapshot: the command that made the run (default: make run PROFILE=<profile>)",
    )
    args = parser.parse_args(argv)
    profile = config.load_profile(args.profile)
    if args.snapshot:
        command = args.command or f"make run PROFILE={profile.name}"
        print(f"snapshot of {profile.paths.root} in {snapshot(profile.paths.root, args.snapshot, command)}")
        return 0
    text = summarize_run(profile.paths.root)
    if args.out:
        write_text(args.out, text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

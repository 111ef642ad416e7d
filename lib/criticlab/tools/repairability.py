"""Measure a generator's repairability: failing solutions fixed, passing ones broken, code unchanged.

For each benchmark, ``--problems`` problems (a stable random subset by id) get ``--samples``
zero-shot solutions from the generator at the profile's solution sampling; each solution is
critiqued under every ``--feedback`` kind and revised greedily and ``--sampled`` times more at the
solution temperature, with the profile's revision request; every revision is run in the sandbox.
The table (:func:`criticlab.evaluation.repairability.repairability_table`) reports, per benchmark
and pooled, the three shares with 95% bootstrap intervals over problems.

    python -m criticlab.tools.repairability --profile cpu --generator qwen2.5-coder-1.5b-instruct \\
        --benchmarks humaneval mbpp:test --problems 20 --samples 4 --sampled 2 \\
        --feedback execution_feedback hinted self_critique --out docs/results/repairability/1.5b

A trained critic is a feedback ``critic:<checkpoint or model>``. Work is kept in ``--out`` as it is
done (``solutions.jsonl`` once, then ``repairs.jsonl`` per benchmark and feedback), so an
interrupted run continues where it stopped; the response cache serves repeated requests.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from criticlab import config, records
from criticlab.data import Problem, id_score, load_source, sample_by_id
from criticlab.evaluation import repairability as rep
from criticlab.evaluation.metrics import per_benchmark
from criticlab.io import append_jsonl, iter_jsonl, read_json, write_json, write_text
from criticlab.llm import engine_for, models, sampling_for, vllm_server
from criticlab.llm.base import Engine
from criticlab.outputs import to_markdown
from criticlab.rollout.loop import zero_shot
from criticlab.rollout.trajectory import Round
from criticlab.sandbox import make_executor

SOLUTIONS, REPAIRS, TABLE, SUMMARY = "solutions.jsonl", "repairs.jsonl", "table.md", "repairability.json"


def load_problems(benchmarks: Sequence[str], per_benchmark: int, seed: int, cfg: Any) -> list[Problem]:
    """``per_benchmark`` problems of each benchmark entry (``name`` or ``name:split``), chosen by id."""
    problems: list[Problem] = []
    for entry in benchmarks:
        loaded = load_source(entry, role="eval", cfg=cfg).problems
        if not loaded:
            raise SystemExit(f"benchmark {entry!r}: no problems loaded")
        problems += sample_by_id(loaded, per_benchmark, seed)
    return problems


def solutions_for(
    problems: Sequence[Problem],
    generator: Engine,
    executor: Any,
    profile: config.Profile,
    samples: int,
    out: Path,
) -> list[tuple[Problem, int, Round]]:
    """The zero-shot solutions, read back from ``out`` when an earlier run wrote them."""
    by_id = {p.id: p for p in problems}
    path = out / SOLUTIONS
    if path.is_file():
        rows = list(iter_jsonl(path))
        kept = [
            (by_id[r["problem_id"]], r["sample"], Round.from_dict(r["round"]))
            for r in rows
            if r["problem_id"] in by_id
        ]
        if len(kept) == len(problems) * samples:
            return kept
        path.unlink()
    solved = zero_shot(problems, generator, executor, sampling_for(profile, "solution"), samples)
    append_jsonl(path, [{"problem_id": p.id, "sample": i, "round": r.to_dict()} for p, i, r in solved])
    return solved


def revised_solutions(
    solved: Sequence[tuple[Problem, int, Round]], max_passing: int | None, seed: int
) -> list[tuple[Problem, int, Round]]:
    """Every failing solution and at most ``max_passing`` passing ones per benchmark (a stable
    random choice by id): failing solutions bound Δ↑, and a few passing ones suffice for the
    broken share, so a small budget is spent where the ceiling is measured."""
    if max_passing is None:
        return list(solved)
    passing: dict[str, list[tuple[str, int]]] = {}
    for p, i, r in solved:
        if r.result.accepted:
            passing.setdefault(p.source, []).append((p.id, i))
    kept = set()
    for keys in passing.values():
        keys.sort(key=lambda k: (id_score(f"{k[0]}#{k[1]}", seed), k))
        kept.update(keys[:max_passing])
    return [(p, i, r) for p, i, r in solved if not r.result.accepted or (p.id, i) in kept]


def measure(
    profile: config.Profile,
    benchmarks: Sequence[str],
    problems_per_benchmark: int,
    samples: int,
    sampled: int,
    feedbacks: Sequence[str],
    out: Path,
    max_passing: int | None = None,
) -> tuple[list[Problem], list[rep.Repair], dict[str, float]]:
    """Run every feedback over the solutions (skipping what ``out`` already holds); returns the
    problems, every repair and the seconds each feedback took in this run."""
    problems = load_problems(benchmarks, problems_per_benchmark, profile.seed, profile.data)
    out.mkdir(parents=True, exist_ok=True)
    done = [rep.Repair.from_dict(r) for r in iter_jsonl(out / REPAIRS)] if (out / REPAIRS).is_file() else []
    have = {r.feedback for r in done}
    seconds: dict[str, float] = {}
    if all(f in have for f in feedbacks):  # only the table again: no engine, no server
        return problems, done, seconds
    with vllm_server.if_served(profile), make_executor(profile.sandbox) as executor:
        generator = engine_for(profile, "generator")
        solved = revised_solutions(
            solutions_for(problems, generator, executor, profile, samples, out), max_passing, profile.seed
        )
        for feedback in feedbacks:
            if feedback in have:
                continue
            critic = None
            if feedback in (rep.HINTED, rep.SELF_CRITIQUE):
                critic = generator
            elif feedback.startswith(rep.CRITIC_PREFIX):
                critic = engine_for(profile, "critic", model=feedback.removeprefix(rep.CRITIC_PREFIX))
            print(f"{feedback}: {len(solved)} solutions, {1 + sampled} revisions each", flush=True)
            started = time.perf_counter()
            repairs = rep.revise(
                feedback,
                [p for p, _, _ in solved],
                [(i, r) for _, i, r in solved],
                generator,
                executor,
                critic=critic,
                critique_sampling=sampling_for(profile, "critique"),
                revision_sampling=sampling_for(profile, "revision"),
                sampled_revisions=sampled,
                sampled_temperature=profile.sampling.temperature,
                request=profile.prompts.revision_request,
            )
            seconds[feedback] = time.perf_counter() - started
            append_jsonl(out / REPAIRS, [r.to_dict() for r in repairs])
            done += repairs
    return problems, done, seconds


def provenance(profile: config.Profile) -> dict[str, Any]:
    """What produced a snapshot: commit, generator (and its checksum when embedded), engine, machine."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    generator = profile.models.generator
    spec = models.REGISTRY.get(generator)
    return {
        "commit": commit,
        "generator": generator,
        "generator_sha256": spec.sha256 if spec else None,
        "engine": profile.models.engine,
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m criticlab.tools.repairability", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--profile", default=None, help="profile name or YAML path")
    parser.add_argument("--generator", default=None, help="the generator (default: the profile's)")
    parser.add_argument("--benchmarks", nargs="+", default=None, help="default: the profile's eval_sources")
    parser.add_argument("--problems", type=int, default=20, help="problems per benchmark (default 20)")
    parser.add_argument("--samples", type=int, default=4, help="zero-shot solutions per problem (default 4)")
    parser.add_argument("--sampled", type=int, default=2, help="sampled revisions besides the greedy one")
    parser.add_argument(
        "--feedback", nargs="+", default=list(rep.FEEDBACKS), help="feedback kinds, or critic:<model>"
    )
    parser.add_argument("--out", type=Path, required=True, help="directory for the records and the table")
    parser.add_argument(
        "--max-passing",
        type=int,
        default=None,
        help="revise at most this many passing solutions per benchmark (default: all)",
    )
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="profile settings over the profile's (e.g. models.parallel=48 sampling.max_tokens=512)",
    )
    args = parser.parse_args(argv)
    overrides: dict[str, dict[str, Any]] = {"models": {"generator": args.generator}}
    for item in args.set:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            parser.error(f"--set {item!r}: expected section.key=value (e.g. models.parallel=48)")
        overrides.setdefault(section, {})[name] = records.parse_scalar(value)
    for feedback in args.feedback:
        if not rep.is_feedback(feedback):
            parser.error(f"--feedback {feedback!r}: one of {', '.join(rep.FEEDBACKS)} or critic:<model>")
    try:
        profile = config.load_profile(args.profile, overrides=overrides)
    except config.ConfigError as err:
        parser.error(str(err))
    benchmarks = args.benchmarks or list(profile.data.eval_sources)
    made_by = provenance(profile)  # before the work: the code that generates the records
    started = time.perf_counter()
    problems, repairs, seconds = measure(
        profile,
        benchmarks,
        args.problems,
        args.samples,
        args.sampled,
        args.feedback,
        args.out,
        args.max_passing,
    )
    sources = {p.id: p.source for p in problems}
    repairs = [r for r in repairs if r.problem_id in sources and r.feedback in args.feedback]
    table = per_benchmark(
        rep.repairability_table, repairs, sources, resamples=args.resamples, seed=profile.seed
    )
    text = to_markdown(rep.readable(table))
    print(text)
    write_text(args.out / TABLE, text + "\n")
    command = "python -m criticlab.tools.repairability " + " ".join(sys.argv[1:] if argv is None else argv)
    earlier = read_json(args.out / SUMMARY) if (args.out / SUMMARY).is_file() else {}
    spent = {**earlier.get("seconds_per_feedback", {}), **{k: round(v, 1) for k, v in seconds.items()}}
    write_json(
        args.out / SUMMARY,
        {
            # the commands that generated records, each with its commit (a table-only rerun adds none)
            "commands": [
                *earlier.get("commands", []),
                *([{"command": command, "commit": made_by["commit"]}] if seconds or not earlier else []),
            ],
            **made_by,
            "benchmarks": benchmarks,
            "problems_per_benchmark": args.problems,
            "samples": args.samples,
            "revisions_per_solution": {
                f: 1 + max((r.draw for r in repairs if r.feedback == f), default=-1) for f in args.feedback
            },
            "max_passing": args.max_passing,
            "revision_request": profile.prompts.revision_request,
            "settings": args.set,
            "seconds_this_run": round(time.perf_counter() - started, 1),
            "seconds_per_feedback": spent,
            "rows": table.to_dict(orient="records"),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Evaluation benchmark: notebook 07's methods run one after another vs together, same machine, same run.

    python -m criticlab.bench eval --profile cpu [--problems 4] [--rounds 1] [--methods ...] [--critic DIR]

Both ways run :func:`criticlab.evaluation.run_methods` on the profile's first evaluation problems
with the profile's engines, each into its own empty output directory (so the response cache
starts empty and every sample is generated), the llama.cpp prefix cache cleared in between:

- ``per-method``: each method runs alone, each request its own engine call (the workbench before
  the methods shared batches);
- ``together``: a round's requests of every method go to each engine in one call.

Reported per way: wall seconds, tokens generated, tokens/s, engine calls and sequences per call,
and the ratio of wall times; the trajectories of the two ways are compared (greedy revisions and
seeded samples on llama.cpp's CPU backend give the same ones). ``--critic DIR`` adds a trained
critic checkpoint as a ``critic:DIR`` method (served as GGUF on llama.cpp profiles).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from criticlab import config

WAYS = ("per-method", "together")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="cpu", help="profile name or YAML path (default: cpu)")
    parser.add_argument("--problems", type=int, default=4, help="first N evaluation problems (default 4)")
    parser.add_argument("--rounds", type=int, default=1, help="critique→revision rounds (default 1)")
    parser.add_argument("--methods", nargs="+", default=None, help="methods (default: the profile's)")
    parser.add_argument("--critic", default=None, help="a trained critic checkpoint to add as critic:<dir>")
    parser.add_argument("--parallel", type=int, default=None, help="llama.cpp slots (default: the profile's)")
    parser.add_argument("--order", choices=["before-first", "after-first"], default="before-first")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")


def _untimed(row: Any) -> Any:
    if isinstance(row, dict):
        return {k: _untimed(v) for k, v in row.items() if k not in ("time", "timings", "seconds")}
    if isinstance(row, list):
        return [_untimed(v) for v in row]
    return row


def _run(cfg: config.Profile, problems: list, names: list[str], together: bool, root: Path) -> dict[str, Any]:
    from criticlab import evaluation
    from criticlab.llm import engine_for
    from criticlab.llm.base import GENERATED
    from criticlab.sandbox import make_executor

    os.environ[config.OUTPUTS_ENV] = str(root)
    methods, _ = evaluation.resolve_methods(cfg, names)
    engines = {
        id(e): e
        for e in [engine_for(cfg, "generator", cached=False)]
        + [engine_for(cfg, "critic", model=m.critic_model, cached=False) for m in methods if m.critic_model]
    }
    for engine in engines.values():
        if hasattr(engine, "clear_prefix_cache"):
            engine.clear_prefix_cache()
    calls = {key: e.meter.copy() for key, e in engines.items() if hasattr(e, "meter")}
    before = GENERATED.copy()
    with make_executor(cfg.sandbox) as executor:
        started = time.perf_counter()
        results = evaluation.run_methods(problems, cfg, executor, methods, root / "07", together=together)
        seconds = time.perf_counter() - started
    made = GENERATED.since(before)
    used = [engines[key].meter.since(calls[key]) for key in calls]
    return {
        "seconds": seconds,
        "tokens": made.tokens,
        "sequences": made.sequences,
        "tok_per_s": made.tokens / seconds if seconds else 0.0,
        "generation_tok_per_s": made.tokens_per_second,
        "engine_calls": sum(m.calls for m in used),
        "sequences_per_call": made.sequences / max(1, sum(m.calls for m in used)),
        "methods": [m.name for m in methods],
        "trajectories": {name: _untimed([t.to_dict() for t in ts]) for name, ts in results.items()},
    }


def bench_evaluation(args: argparse.Namespace) -> int:
    from criticlab.data import prepare_data

    names = list(args.methods) if args.methods else None
    overrides: dict[str, Any] = {"evaluation": {"rounds": args.rounds}}
    if args.parallel:
        overrides["models"] = {"parallel": args.parallel}
    cfg = config.load_profile(args.profile, overrides=overrides)
    names = names or list(cfg.evaluation.methods)
    if args.critic:
        names.append(f"critic:{Path(args.critic).resolve()}")
    problems = prepare_data(cfg.data).eval[: args.problems]
    print(
        f"evaluation benchmark: profile {cfg.name}, {len(problems)} problems, {args.rounds} round(s), "
        f"generator {cfg.models.generator} ({cfg.models.engine}, {cfg.models.parallel} slots), methods {', '.join(names)} (+stop variants)",
        flush=True,
    )
    ways = WAYS if args.order == "before-first" else WAYS[::-1]
    results: dict[str, Any] = {"profile": cfg.name, "problems": len(problems), "rounds": args.rounds}
    saved = os.environ.get(config.OUTPUTS_ENV)
    try:
        with tempfile.TemporaryDirectory(prefix="criticlab-bench-eval-") as tmp:
            for way in ways:
                row = _run(cfg, problems, names, way == "together", Path(tmp) / way)
                results[way] = row
                print(
                    f"  {way:10s} {row['seconds']:7.1f} s, {row['tokens']:5d} tokens = {row['tok_per_s']:5.1f} tok/s "
                    f"over the wall time, {row['engine_calls']} engine calls, "
                    f"{row['sequences_per_call']:.1f} sequences per call",
                    flush=True,
                )
    finally:
        if saved is None:
            os.environ.pop(config.OUTPUTS_ENV, None)
        else:
            os.environ[config.OUTPUTS_ENV] = saved
    before, after = results["per-method"], results["together"]
    results["wall_ratio"] = before["seconds"] / after["seconds"]
    same = before["trajectories"] == after["trajectories"]
    differing = [
        m for m in before["trajectories"] if before["trajectories"][m] != after["trajectories"].get(m)
    ]
    results["same_trajectories"] = same
    print(
        f"per-method / together wall time: {results['wall_ratio']:.2f}x; "
        f"trajectories {'identical' if same else 'differ in ' + ', '.join(differing)}"
    )
    if args.json:
        trimmed = {
            k: ({kk: vv for kk, vv in v.items() if kk != "trajectories"} if isinstance(v, dict) else v)
            for k, v in results.items()
        }
        args.json.write_text(json.dumps(trimmed, indent=2))
    return 0

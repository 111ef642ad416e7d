"""Trained-critic benchmark: a checkpoint on transformers vs its GGUF conversion on llama.cpp.

    python -m criticlab.bench critic --checkpoint DIR [--precision f16] [--parallel 8] [--max-tokens 64]

The checkpoint (e.g. notebook 04's ``checkpoints/sft/final``) is converted with
:func:`criticlab.llm.gguf_export.gguf_for_checkpoint` (cached; the conversion time is printed
when it happens), then the same prompts go through both engines exactly as in
``python -m criticlab.bench engines``: greedy, fixed ``max_tokens``, single-stream (one call per
prompt) and batched (all in one call), end-to-end and decode-only tokens/s. Reported: the ratios
llama.cpp/transformers single-stream and batched, and whether the greedy texts agree.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from criticlab.bench.engines import PROMPTS, _conversation, _line, _measure
from criticlab.llm.base import SamplingParams
from criticlab.machine import usable_cores


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, type=Path, help="a transformers checkpoint or LoRA adapter dir"
    )
    parser.add_argument("--precision", choices=["f32", "f16", "q8_0"], default="f16")
    parser.add_argument("--parallel", type=int, default=8, help="sequences in the batched runs (default 8)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--single", type=int, default=2, help="prompts of the single-stream runs (default 2)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")


def bench_critic(args: argparse.Namespace) -> int:
    from criticlab.llm.gguf_export import gguf_for_checkpoint
    from criticlab.llm.hf import HFEngine
    from criticlab.llm.llamacpp import LlamaCppEngine

    sampling = SamplingParams(temperature=0.0, max_tokens=args.max_tokens)
    threads = args.threads or usable_cores()
    started = time.perf_counter()
    gguf = gguf_for_checkpoint(args.checkpoint, args.precision)
    results: dict[str, Any] = {
        "checkpoint": str(args.checkpoint),
        "gguf": gguf.name,
        "precision": args.precision,
        "max_tokens": args.max_tokens,
        "threads": threads,
        "convert_or_lookup_seconds": time.perf_counter() - started,
    }
    print(
        f"critic benchmark: {args.checkpoint} → {gguf.name} ({results['convert_or_lookup_seconds']:.1f} s to "
        f"convert or find), greedy, max_tokens={args.max_tokens}, {threads} threads",
        flush=True,
    )
    single = PROMPTS[: args.single]
    batch = [PROMPTS[i % len(PROMPTS)] for i in range(args.parallel)]
    texts: dict[str, list[str]] = {}

    def measure(engine: Any, name: str, label: str) -> None:
        engine.generate([_conversation("Say hi.")], sampling.with_(max_tokens=4))  # warm-up
        for kind, prompts, batched in (("single", single, False), ("batch", batch, True)):
            results[f"{name}_{kind}"] = _measure(engine, prompts, sampling, batched=batched)
            shown = "single" if kind == "single" else f"batched ({args.parallel})"
            print(_line(f"{label} {shown}", results[f"{name}_{kind}"]), flush=True)
        texts[name] = [r[0].text for r in engine.generate([_conversation(p) for p in single], sampling)]

    with LlamaCppEngine(gguf, n_ctx=1024, threads=threads, max_batch=args.parallel) as engine:
        measure(engine, "llamacpp", "llamacpp (GGUF)")
    with HFEngine(str(args.checkpoint), dtype="float32", max_batch=args.parallel) as engine:
        measure(engine, "hf", "transformers f32")
    for kind in ("single", "batch"):
        for key in ("tok_per_s", "decode_tok_per_s"):
            results[f"ratio_{kind}_{key}"] = results[f"llamacpp_{kind}"][key] / results[f"hf_{kind}"][key]
    agree = sum(a == b for a, b in zip(texts["llamacpp"], texts["hf"]))
    results["greedy_texts_equal"] = f"{agree}/{len(single)}"
    print("ratios llama.cpp GGUF / transformers: end-to-end | decode-only")
    for kind in ("single", "batch"):
        print(
            f"  {kind:6s} {results[f'ratio_{kind}_tok_per_s']:5.2f}x | {results[f'ratio_{kind}_decode_tok_per_s']:5.2f}x"
        )
    print(f"greedy texts equal on {results['greedy_texts_equal']} single-stream prompts")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0

"""Score the strategy labellers against the hand-labelled validation set.

    python -m criticlab.tools.strategy_validation --out docs/results/strategies \\
        [--llm qwen2.5-coder-0.5b-instruct [--engine llamacpp]] [--judge-only]

Always scores the rule mode. ``--llm`` runs :func:`label_strategies_with_llm` with that model
(greedy, one answer per critique) and writes ``llm_labels.csv`` (each critique's parsed labels,
whether the answer parsed, and the raw answer) into ``--out``; ``--judge-only`` stops there (the
judge needs only the critiques, not the hand labels). Without ``--llm``, an ``llm_labels.csv``
already in ``--out`` is scored as the LLM mode. Writes ``scores.csv`` (per mode and label: TP,
FP, FN, support, precision, recall, F1, plus micro and macro rows) and prints the table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from criticlab.analysis import (
    StrategyMatch,
    label_strategies_with_llm,
    load_validation_set,
    read_critiques,
    shipped_validation_set,
    validation_scores,
)
from criticlab.llm import SamplingParams, make_engine

LLM_LABELS = "llm_labels.csv"
CHUNK = 6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--set", type=Path, default=None, help="validation set (default: the one shipped with criticlab)"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="directory for scores.csv (and llm_labels.csv)"
    )
    parser.add_argument("--llm", default=None, help="model reference for the LLM-judge mode")
    parser.add_argument("--engine", default="llamacpp", choices=["llamacpp", "hf", "openai", "vllm"])
    parser.add_argument("--context-length", type=int, default=4096)
    parser.add_argument("--max-tokens", type=int, default=128, help="the judge's answer budget")
    parser.add_argument("--judge-only", action="store_true", help="write llm_labels.csv and stop")
    args = parser.parse_args(argv)

    directory = args.set or shipped_validation_set()
    args.out.mkdir(parents=True, exist_ok=True)
    llm_file = args.out / LLM_LABELS
    if args.llm:
        critiques = read_critiques(directory)
        engine = make_engine(args.llm, args.engine, context_length=args.context_length)
        sampling = SamplingParams(temperature=0.0, max_tokens=args.max_tokens)
        rows: list[dict] = []
        for start in range(0, len(critiques), CHUNK):  # written as it goes: a cut run keeps its answers
            chunk = critiques[start : start + CHUNK]
            judged = label_strategies_with_llm([r["critique"] for r in chunk], engine, sampling)
            rows += [
                {"id": r["id"], "llm": ";".join(m.labels), "parsed": m.rule == "llm", "answer": m.fired[0][2]}
                for r, m in zip(chunk, judged)
            ]
            pd.DataFrame(rows, columns=["id", "llm", "parsed", "answer"]).to_csv(llm_file, index=False)
            print(f"{len(rows)}/{len(critiques)} critiques judged by {args.llm}", flush=True)
        if args.judge_only:
            return 0
    items = load_validation_set(directory)
    if llm_file.is_file():
        saved = pd.read_csv(llm_file, keep_default_na=False)
        by_id = {row["id"]: (row["llm"], bool(row["parsed"]), row["answer"]) for _, row in saved.iterrows()}
        if not set(by_id) <= {i.id for i in items}:
            raise ValueError(f"{llm_file}: ids that are not in the validation set; rerun with --llm")
        judged_items = [i for i in items if i.id in by_id]
        if len(judged_items) < len(items):
            print(
                f"{llm_file}: the judge answered {len(judged_items)} of {len(items)} critiques; "
                "its scores are on those only"
            )
        llm = {
            i.id: StrategyMatch(
                labels.split(";")[0],
                "llm" if parsed else "llm:unparsed",
                (("llm", labels, answer),),
                tuple(labels.split(";")),
            )
            for i in judged_items
            for labels, parsed, answer in [by_id[i.id]]
        }
        llm_scores = validation_scores(judged_items, {"llm": [llm[i.id] for i in judged_items]})
        llm_scores = llm_scores[llm_scores["mode"] == "llm"].assign(critiques=len(judged_items))
    scores = validation_scores(items).assign(critiques=len(items))
    if llm_file.is_file():
        scores = pd.concat([scores, llm_scores], ignore_index=True)
    scores.to_csv(args.out / "scores.csv", index=False, float_format="%.4f")
    print(f"{len(items)} hand-labelled critiques")
    print(scores.to_string(index=False, float_format="{:.3f}".format))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

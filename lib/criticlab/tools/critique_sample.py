"""Sample real critiques for the strategy-label validation set.

    python -m criticlab.tools.critique_sample --profile params/smoke.yaml --out critiques.jsonl \\
        --mbpp 20 --humaneval 8 --critics qwen2.5-coder-0.5b-instruct smollm2-135m-instruct

The profile's generator answers each problem once (round 0 of every stage: :func:`zero_shot`),
the sandbox runs the code, and each named critic model critiques that solution with the
workbench's own critique prompt (:func:`critique_conversations`, the zero-shot critic's input).
One JSON line per critique: which model wrote it, on which problem, whether the solution passed,
the parsed judgment and the text. The validation set shipped in ``criticlab/data/shipped/strategies``
was drawn this way and labelled by hand; the labels are not produced here.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from pathlib import Path

from criticlab import config
from criticlab.data.humaneval import load_humaneval
from criticlab.data.mbpp import load_mbpp
from criticlab.data.types import Problem
from criticlab.llm import Completion, make_engine, sampling_for
from criticlab.rollout import critique_conversations, execute, parse_judgment, zero_shot
from criticlab.sandbox import make_executor


def _broken(problem: Problem) -> str:
    """The reference solution with every return of its entry point emptied (falls back to unchanged)."""
    tree = ast.parse(problem.solutions[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == problem.entry_point:
            for inner in ast.walk(node):
                if isinstance(inner, ast.Return):
                    inner.value = None
    return ast.unparse(tree)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--profile", default="smoke", help="profile giving the generator, sampling and sandbox"
    )
    parser.add_argument("--out", required=True, type=Path, help="JSONL file to write")
    parser.add_argument("--mbpp", type=int, default=20, help="first N problems of MBPP's test split")
    parser.add_argument("--humaneval", type=int, default=8, help="first N HumanEval problems")
    parser.add_argument(
        "--critics", nargs="+", required=True, help="model references that critique each solution"
    )
    parser.add_argument("--critique-tokens", type=int, default=256, help="critique budget in tokens")
    parser.add_argument(
        "--solutions",
        choices=["generated", "reference"],
        default="generated",
        help="generated: the profile's generator answers each problem; reference: the shipped reference "
        "solution, and for every second problem the same solution with each return emptied (a wrong answer)",
    )
    args = parser.parse_args(argv)

    cfg = config.load_profile(args.profile)
    problems = list(load_mbpp(limit=args.mbpp).records) if args.mbpp else []
    problems += list(load_humaneval(limit=args.humaneval).records) if args.humaneval else []
    backend, ctx = cfg.models.engine, cfg.models.context_length
    executor = make_executor(cfg.sandbox)
    generator = None
    if args.solutions == "generated":
        generator = make_engine(cfg.models.generator, backend, context_length=ctx, threads=cfg.models.threads)
        solved = zero_shot(problems, generator, executor, sampling_for(cfg, "solution"), n=1)
    else:
        problems = [p for p in problems if p.solutions]
        answers = [
            Completion(text=f"```python\n{_broken(p) if i % 2 else p.solutions[0]}\n```")
            for i, p in enumerate(problems)
        ]
        solved = [(p, 0, rnd) for p, rnd in zip(problems, execute(executor, problems, answers))]
    print(f"{len(solved)} solutions, {sum(r.result.accepted for _, _, r in solved)} pass", file=sys.stderr)
    conversations = critique_conversations("critic", [p for p, _, _ in solved], [r for _, _, r in solved])
    sampling = sampling_for(cfg, "critique").with_(max_tokens=args.critique_tokens)
    rows = []
    for name in args.critics:
        engine = (
            generator
            if generator is not None and name == cfg.models.generator
            else make_engine(name, backend, context_length=ctx, threads=cfg.models.threads)
        )
        answers = engine.generate(conversations, sampling, n=1)
        for (problem, _, rnd), answer in zip(solved, answers):
            text = answer[0].text if answer and answer[0].ok else ""
            rows.append(
                {
                    "id": f"{name.split('-')[0]}:{problem.id}",
                    "critic": name,
                    "problem_id": problem.id,
                    "source": problem.source,
                    "solution_passed": bool(rnd.result.accepted),
                    "judgment": parse_judgment(text),
                    "finish_reason": answer[0].finish_reason if answer else None,
                    "code": rnd.code,
                    "critique": text,
                }
            )
        print(f"{name}: {len(answers)} critiques", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} critiques to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

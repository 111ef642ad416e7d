"""Critique strategies: algorithm improvement, static analysis, strategic debugging, dynamic testing.

A transparent rule-based classifier (every rule is a named regex, and the result says which
rules fired), and an optional LLM mode over any :class:`~criticlab.llm.base.Engine`, with the
agreement between the two.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from criticlab.llm.base import Engine, SamplingParams
from criticlab.rollout.trajectory import Trajectory

ALGORITHM, STATIC, DEBUGGING, TESTING, OTHER = (
    "algorithm_improvement",
    "static_analysis",
    "strategic_debugging",
    "dynamic_testing",
    "other",
)


STRATEGIES = (ALGORITHM, STATIC, DEBUGGING, TESTING, OTHER)


PRIORITY = (TESTING, DEBUGGING, ALGORITHM, STATIC)
"""Tie-break between labels with equally many rules fired: the specific strategies first, since
the vocabulary of static analysis ("the loop", "the condition") shows up in nearly every critique."""


@dataclass(frozen=True)
class StrategyRule:
    """One named regex that votes for a label."""

    name: str
    label: str
    pattern: re.Pattern[str]


def _rule(name: str, label: str, pattern: str) -> StrategyRule:
    return StrategyRule(name, label, re.compile(pattern, re.IGNORECASE))


RULES: tuple[StrategyRule, ...] = (
    _rule(
        "complexity",
        ALGORITHM,
        r"\bO\([^)]*\)|time complexity|\binefficien|too slow|time limit|times? out\b|timeout|brute[- ]force",
    ),
    _rule(
        "better_algorithm",
        ALGORITHM,
        r"\b(more efficient|better|optimal|faster|different|alternative|correct)"
        r" (approach|algorithm|method|strategy)"
        r"|dynamic programming|\bmemoi[sz]|binary search|two[- ]pointers?|prefix sums?|sliding window"
        r"|\bgreedy\b|\b(BFS|DFS|Dijkstra)\b|union[- ]find|segment tree|\bsieve\b",
    ),
    _rule(
        "rethink_approach",
        ALGORITHM,
        r"\brethink|fundamentally (wrong|flawed|incorrect)"
        r"|(approach|algorithm|logic) is (wrong|flawed|incorrect)"
        r"|start (over|fresh|from scratch)|(misunderst|misinterpret)\w* the problem",
    ),
    _rule(
        "code_location",
        STATIC,
        r"\bline \d+|\bon line\b|in the (loop|condition|function|return statement|base case)"
        r"|the variable `?\w+`?|the (if|else|while|for)[- ](statement|condition|loop|clause)",
    ),
    _rule(
        "bug_pattern",
        STATIC,
        r"off[- ]by[- ]one|index(ing)? error|out of (range|bounds)|\bsyntax\b|\btypo\b|\bundefined\b"
        r"|not (defined|initiali[sz]ed)|uninitiali[sz]ed|logic(al)? (error|mistake|flaw)"
        r"|wrong (operator|comparison|condition|index|variable)|integer division|overflow"
        r"|never (updated|incremented)",
    ),
    _rule(
        "edge_cases",
        STATIC,
        r"edge[- ]cases?|corner[- ]cases?|empty (list|string|input|array)|boundary (condition|case)s?",
    ),
    _rule(
        "print_debugging",
        DEBUGGING,
        r"print statements?|debug(ging)? (prints?|output|statements?)"
        r"|\badd (some )?(prints?|logging)\b|\blogging\b",
    ),
    _rule(
        "isolate_and_verify",
        DEBUGGING,
        r"\bisolate\b|narrow (it )?down|step[- ]by[- ]step|break (it|the (problem|code|function)) (down|into)"
        r"|intermediate (values?|results?|states?)|verify each (step|part|component|function)"
        r"|check (each|every) (step|part|component)",
    ),
    _rule("assertions", DEBUGGING, r"\bassert(ions?|s)?\b|sanity checks?"),
    _rule(
        "trace_execution",
        TESTING,
        r"\btrac(e|es|ed|ing)\b|walk(ing)? through|dry[- ]run"
        r"|simulat(e|ing) (the|this) (code|program|execution)"
        r"|let'?s (run|try|test)",
    ),
    _rule(
        "concrete_example",
        TESTING,
        r"(sample|example|test) (input|case)s?|for (the )?input\b|expected (output|result|value)"
        r"|(would|will|should) (output|print|return) [\w\[('\"-]|\b(returns?|outputs?|prints?|gives?) -?\d"
        r"|input `?\[",
    ),
    _rule(
        "run_tests",
        TESTING,
        r"(run|test)(ning)? (it|the code|the (solution|function|program)) (on|with|against)"
        r"|write (some )?(unit )?tests|(more|additional) test cases",
    ),
)


@dataclass(frozen=True)
class StrategyMatch:
    """The label of one critique and why: the decisive rule and every rule that fired with its text."""

    label: str
    rule: str
    fired: tuple[tuple[str, str, str], ...] = ()
    """(rule name, label, matched text) for each rule that matched, in rule order."""


def classify_strategy(critique: str, rules: Sequence[StrategyRule] = RULES) -> StrategyMatch:
    """Rule-based strategy label of one critique.

    Each rule that matches votes once for its label; the label with most votes wins, ties go by
    :data:`PRIORITY`; ``rule`` names the winning label's first rule that fired (``none`` for
    ``other``). Only the analysis text counts: the closing "Overall judgment" line is ignored.
    """
    text = re.sub(r"(?im)^\W*overall\s+judg(e)?ment\b.*$", "", critique or "")
    fired = []
    for rule in rules:
        match = rule.pattern.search(text)
        if match:
            fired.append((rule.name, rule.label, match.group(0)))
    if not fired:
        return StrategyMatch(OTHER, "none", ())
    votes = {label: sum(1 for _, lab, _ in fired if lab == label) for label in PRIORITY}
    best = max(PRIORITY, key=lambda label: (votes[label], -PRIORITY.index(label)))
    decisive = next(name for name, lab, _ in fired if lab == best)
    return StrategyMatch(best, decisive, tuple(fired))


def classify_strategies(critiques: Iterable[str]) -> list[StrategyMatch]:
    """:func:`classify_strategy` over many critiques (the rule mode; no model needed)."""
    return [classify_strategy(c) for c in critiques]


STRATEGY_LABEL_PROMPT = """\
You will read a critique that a reviewer wrote about a candidate solution to a programming problem.
Decide which strategy the critique mainly uses to find problems in the code:

- algorithm_improvement: questions the overall approach or its efficiency and proposes a different \
or faster algorithm (complexity, data structures, dynamic programming, greedy, ...).
- static_analysis: reads the code and points at specific defects without running anything \
(a wrong condition, an off-by-one index, an unhandled edge case, a wrong variable).
- strategic_debugging: proposes a debugging procedure (adding prints or assertions, isolating a \
part, checking intermediate values step by step).
- dynamic_testing: runs or traces the code on concrete inputs and compares actual with expected \
outputs.
- other: none of the above (e.g. only a judgment, or only general remarks).

Critique:
<<<
{critique}
>>>

Answer with one short sentence of reasoning, then a last line exactly of the form
Strategy: <one of algorithm_improvement, static_analysis, strategic_debugging, dynamic_testing, other>"""


_LABEL_WORDS = {label: re.compile(label.replace("_", r"[\s_-]*"), re.IGNORECASE) for label in STRATEGIES}


def parse_strategy_answer(answer: str) -> str | None:
    """The label from a judge's answer: its last ``Strategy:`` line, else a single label named anywhere."""
    for line in reversed(answer.strip().splitlines()):
        if re.match(r"^\W*strategy\s*[:：]", line, re.IGNORECASE):
            named = [label for label, pattern in _LABEL_WORDS.items() if pattern.search(line)]
            return named[0] if len(named) == 1 else None
    named = [label for label, pattern in _LABEL_WORDS.items() if pattern.search(answer)]
    return named[0] if len(named) == 1 else None


def label_strategies_with_llm(
    critiques: Sequence[str],
    engine: Engine,
    sampling: SamplingParams | None = None,
    prompt: str = STRATEGY_LABEL_PROMPT,
) -> list[StrategyMatch]:
    """LLM-judge labels: one greedy answer per critique; an unparseable answer becomes ``other``.

    ``rule`` is ``llm`` for a parsed answer and ``llm:unparsed`` otherwise; ``fired`` holds the
    raw answer so any label can be inspected.
    """
    sampling = sampling or SamplingParams(temperature=0.0, max_tokens=256)
    conversations = [[{"role": "user", "content": prompt.format(critique=c)}] for c in critiques]
    answers = engine.generate(conversations, sampling, n=1)
    out = []
    for row in answers:
        text = row[0].text if row and row[0].ok else ""
        label = parse_strategy_answer(text)
        out.append(
            StrategyMatch(
                label or OTHER, "llm" if label else "llm:unparsed", (("llm", label or OTHER, text),)
            )
        )
    return out


def critiques_by_method(
    trajectories: Iterable[Trajectory], rounds: Sequence[int] | None = None
) -> dict[str, list[str]]:
    """Critique texts per method (every critiqued round by default, or only ``rounds``)."""
    out: dict[str, list[str]] = {}
    for t in trajectories:
        for k, rnd in enumerate(t.rounds):
            if rnd.critique is not None and (rounds is None or k in rounds):
                out.setdefault(t.method, []).append(rnd.critique)
    return out


def strategy_distribution(labels: Mapping[str, Sequence[str]], normalize: bool = True) -> pd.DataFrame:
    """Rows: critics; columns: the strategies in fixed order; shares (or counts) of critiques; plus ``n``."""
    rows = []
    for critic, values in labels.items():
        counts = {label: sum(1 for v in values if v == label) for label in STRATEGIES}
        total = len(values)
        shares = {k: (v / total if total else math.nan) for k, v in counts.items()} if normalize else counts
        rows.append({"critic": critic, **shares, "n": total})
    return pd.DataFrame(rows, columns=["critic", *STRATEGIES, "n"])


@dataclass(frozen=True)
class Agreement:
    """Agreement of two labelings of the same items."""

    n: int
    percent: float
    kappa: float


def agreement(a: Sequence[str], b: Sequence[str]) -> Agreement:
    """Percent agreement and Cohen's kappa (chance-corrected) between two labelings.

    kappa = (p_o − p_e) / (1 − p_e); when chance agreement is already 1 (both used one and the
    same label throughout) kappa is 1 for full agreement and NaN otherwise.
    """
    if len(a) != len(b):
        raise ValueError(f"labelings differ in length: {len(a)} vs {len(b)}")
    n = len(a)
    if n == 0:
        return Agreement(0, math.nan, math.nan)
    observed = sum(x == y for x, y in zip(a, b)) / n
    labels = set(a) | set(b)
    expected = sum((list(a).count(label) / n) * (list(b).count(label) / n) for label in labels)
    if math.isclose(expected, 1.0):
        kappa = 1.0 if math.isclose(observed, 1.0) else math.nan
    else:
        kappa = (observed - expected) / (1.0 - expected)
    return Agreement(n, 100.0 * observed, kappa)


def compare_strategy_modes(
    critiques: Sequence[str],
    engine: Engine,
    sample: int = 50,
    seed: int = 0,
    sampling: SamplingParams | None = None,
) -> tuple[Agreement, pd.DataFrame]:
    """Rules vs LLM judge on a seeded random sample of critiques: their agreement and a row per critique.

    The table (critique, rule_label, rule, judge_label, judge_answer) is what a reader inspects to
    see where and why the two modes differ.
    """
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(len(critiques), size=min(sample, len(critiques)), replace=False).tolist())
    texts = [critiques[i] for i in picked]
    by_rules = classify_strategies(texts)
    by_judge = label_strategies_with_llm(texts, engine, sampling)
    table = pd.DataFrame(
        {
            "index": picked,
            "critique": texts,
            "rule_label": [m.label for m in by_rules],
            "rule": [m.rule for m in by_rules],
            "llm_label": [m.label for m in by_judge],
            "llm_answer": [m.fired[0][2] for m in by_judge],
        }
    )
    return agreement(table["rule_label"].tolist(), table["llm_label"].tolist()), table

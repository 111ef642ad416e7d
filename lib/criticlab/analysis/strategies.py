"""Critique strategies: algorithm improvement, static analysis, strategic debugging, dynamic testing.

Multi-label, as the paper counts them: a critique uses every strategy one of its rules finds. A
transparent rule-based classifier (every rule is a named regex, and the result says which rules
fired), an optional LLM mode over any :class:`~criticlab.llm.base.Engine`, the agreement between
the two, and per-label precision/recall of either against hand labels
(:func:`strategy_agreement`; the hand-labelled set is read by
:mod:`criticlab.analysis.strategy_validation`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
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
    """The strategies one critique uses and why.

    ``labels`` holds every strategy the critique uses, in :data:`STRATEGIES` order (``("other",)``
    when none): a critique that traces an input *and* points at a wrong condition counts for
    both, as the paper counts them. ``label`` is the primary one (most rules fired, ties by
    :data:`PRIORITY`) and ``rule`` its first rule that fired (``none`` for ``other``).
    """

    label: str
    rule: str
    fired: tuple[tuple[str, str, str], ...] = ()
    """(rule name, label, matched text) for each rule that matched, in rule order."""
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.labels:
            object.__setattr__(self, "labels", (self.label,))


def _analysis_text(critique: str) -> str:
    """The critique without its closing "Overall judgment" line (the verdict is no strategy)."""
    return re.sub(r"(?im)^\W*overall\s+judg(e)?ment\b.*$", "", critique or "")


def classify_strategy(critique: str, rules: Sequence[StrategyRule] = RULES) -> StrategyMatch:
    """Rule-based strategy labels of one critique.

    Every label with at least one rule that matches is used (multi-label); the primary label is
    the one with most rules fired, ties by :data:`PRIORITY`. Only the analysis text counts: the
    closing "Overall judgment" line is ignored.
    """
    text = _analysis_text(critique)
    fired = []
    for rule in rules:
        match = rule.pattern.search(text)
        if match:
            fired.append((rule.name, rule.label, match.group(0)))
    if not fired:
        return StrategyMatch(OTHER, "none", (), (OTHER,))
    votes = {label: sum(1 for _, lab, _ in fired if lab == label) for label in PRIORITY}
    best = max(PRIORITY, key=lambda label: (votes[label], -PRIORITY.index(label)))
    decisive = next(name for name, lab, _ in fired if lab == best)
    used = tuple(label for label in STRATEGIES if votes.get(label))
    return StrategyMatch(best, decisive, tuple(fired), used)


def classify_strategies(critiques: Iterable[str]) -> list[StrategyMatch]:
    """:func:`classify_strategy` over many critiques (the rule mode; no model needed)."""
    return [classify_strategy(c) for c in critiques]


STRATEGY_LABEL_PROMPT = """\
You will read a critique that a reviewer wrote about a candidate solution to a programming problem.
Decide which of these strategies the critique uses to find problems in the code (it may use \
several, or none):

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
Strategies: <comma-separated names from algorithm_improvement, static_analysis, strategic_debugging, \
dynamic_testing, other>"""


_LABEL_WORDS = {label: re.compile(label.replace("_", r"[\s_-]*"), re.IGNORECASE) for label in STRATEGIES}


def _named(text: str) -> tuple[str, ...]:
    return tuple(label for label, pattern in _LABEL_WORDS.items() if pattern.search(text))


def parse_strategy_answer(answer: str) -> tuple[str, ...] | None:
    """The labels from a judge's answer: its last ``Strategy:``/``Strategies:`` line, else every
    label named anywhere; None when no label is named. ``other`` beside real strategies is dropped
    (it means "none of them")."""
    found: tuple[str, ...] = ()
    for line in reversed(answer.strip().splitlines()):
        if re.match(r"^\W*strateg(y|ies)\W*\s*[:：]", line, re.IGNORECASE):
            found = _named(line)
            break
    found = found or _named(answer)
    if not found:
        return None
    real = tuple(label for label in found if label != OTHER)
    return real or (OTHER,)


def label_strategies_with_llm(
    critiques: Sequence[str],
    engine: Engine,
    sampling: SamplingParams | None = None,
    prompt: str = STRATEGY_LABEL_PROMPT,
) -> list[StrategyMatch]:
    """LLM-judge labels: one greedy answer per critique; an unparseable answer becomes ``other``.

    ``labels`` are the parsed strategies, ``label`` the first of them; ``rule`` is ``llm`` for a
    parsed answer and ``llm:unparsed`` otherwise; ``fired`` holds the raw answer so any label can
    be inspected.
    """
    sampling = sampling or SamplingParams(temperature=0.0, max_tokens=256)
    conversations = [[{"role": "user", "content": prompt.format(critique=c)}] for c in critiques]
    answers = engine.generate(conversations, sampling, n=1)
    out = []
    for row in answers:
        text = row[0].text if row and row[0].ok else ""
        labels = parse_strategy_answer(text)
        out.append(
            StrategyMatch(
                (labels or (OTHER,))[0],
                "llm" if labels else "llm:unparsed",
                (("llm", ",".join(labels or (OTHER,)), text),),
                labels or (OTHER,),
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


def _as_labels(value: str | Collection[str]) -> frozenset[str]:
    return frozenset((value,) if isinstance(value, str) else value)


def strategy_distribution(
    labels: Mapping[str, Sequence[str | Collection[str]]], normalize: bool = True
) -> pd.DataFrame:
    """Rows: critics; columns: the strategies in fixed order; plus ``n`` critiques.

    Multi-label: each critique counts once for every strategy it uses, so a row's shares (share
    of critiques using each strategy) can sum to more than 1. A critique given as one string has
    that one label.
    """
    rows = []
    for critic, values in labels.items():
        sets = [_as_labels(v) for v in values]
        counts = {label: sum(1 for v in sets if label in v) for label in STRATEGIES}
        total = len(sets)
        shares = {k: (v / total if total else math.nan) for k, v in counts.items()} if normalize else counts
        rows.append({"critic": critic, **shares, "n": total})
    return pd.DataFrame(rows, columns=["critic", *STRATEGIES, "n"])


def strategy_agreement(
    gold: Sequence[Collection[str]], predicted: Sequence[Collection[str]], labels: Sequence[str] = STRATEGIES
) -> pd.DataFrame:
    """Per-label precision, recall and F1 of multi-label predictions against gold labels, plus
    ``micro`` and ``macro`` rows.

    Per label: TP = critiques with the label in both, FP = predicted only, FN = gold only;
    precision TP/(TP+FP) (NaN when never predicted), recall TP/(TP+FN) (NaN when the label is
    never in the gold set), F1 = 2TP/(2TP+FP+FN). ``micro`` pools the counts of every label;
    ``macro`` averages over the labels present in the gold set, a never-predicted label's
    precision counting as 0 there (so a mode cannot score well by staying silent).
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold label sets but {len(predicted)} predicted")
    gold_sets, pred_sets = [_as_labels(g) for g in gold], [_as_labels(p) for p in predicted]
    rows = []
    for label in labels:
        tp = sum(label in g and label in p for g, p in zip(gold_sets, pred_sets))
        fp = sum(label not in g and label in p for g, p in zip(gold_sets, pred_sets))
        fn = sum(label in g and label not in p for g, p in zip(gold_sets, pred_sets))
        rows.append(_scores(label, tp, fp, fn))
    per_label = pd.DataFrame(rows)
    micro = _scores("micro", *(int(per_label[c].sum()) for c in ("tp", "fp", "fn")))
    present = per_label[per_label["support"] > 0]
    macro = {
        "label": "macro",
        **{c: int(present[c].sum()) for c in ("tp", "fp", "fn", "support")},
        "precision": float(present["precision"].fillna(0.0).mean()) if len(present) else math.nan,
        "recall": float(present["recall"].mean()) if len(present) else math.nan,
        "f1": float(present["f1"].mean()) if len(present) else math.nan,
    }
    return pd.concat([per_label, pd.DataFrame([micro, macro])], ignore_index=True)


def _scores(label: str, tp: int, fp: int, fn: int) -> dict[str, float | int | str]:
    return {
        "label": label,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "support": tp + fn,
        "precision": tp / (tp + fp) if tp + fp else math.nan,
        "recall": tp / (tp + fn) if tp + fn else math.nan,
        "f1": 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else math.nan,
    }


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

    Agreement compares whole label sets (a critique agrees when both modes give the same set).
    The table (critique, rule_labels, rule, llm_labels, llm_answer) is what a reader inspects to
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
            "rule_labels": [",".join(m.labels) for m in by_rules],
            "rule": [m.rule for m in by_rules],
            "llm_labels": [",".join(m.labels) for m in by_judge],
            "llm_answer": [m.fired[0][2] for m in by_judge],
        }
    )
    return agreement(table["rule_labels"].tolist(), table["llm_labels"].tolist()), table

"""The hand-labelled strategy validation set, and how well each labelling mode agrees with it.

The set ships with the package (``criticlab/data/shipped/strategies``, checksummed in
``SHA256SUMS`` like the other shipped data; :func:`shipped_validation_set`). It holds critiques
written by the workbench's own models on real problems (``critiques.jsonl``, produced by
:mod:`criticlab.tools.critique_sample`) and, separately, the strategies a person found by
reading each one (``labels.csv``: ``id``, ``labels`` joined by ``;``), following ``RUBRIC.md``
beside them. Keeping the labels in their own file keeps what a model wrote apart from what a
reader decided.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from criticlab.analysis.strategies import STRATEGIES, StrategyMatch, classify_strategies, strategy_agreement
from criticlab.data.shipped import STRATEGY_CRITIQUES, STRATEGY_LABELS, shipped_file

CRITIQUES_FILE = "critiques.jsonl"
LABELS_FILE = "labels.csv"


def shipped_validation_set() -> Path:
    """The directory of the set shipped with the package, both files verified against ``SHA256SUMS``."""
    shipped_file(STRATEGY_LABELS)
    return shipped_file(STRATEGY_CRITIQUES).parent


@dataclass(frozen=True)
class LabelledCritique:
    """One critique of the set with the strategies a reader found in it."""

    id: str
    critic: str
    problem_id: str
    solution_passed: bool
    judgment: str | None
    critique: str
    labels: tuple[str, ...]


def read_critiques(directory: str | Path) -> list[dict]:
    """The critique rows of a set (what the models wrote), without the hand labels."""
    path = Path(directory) / CRITIQUES_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_validation_set(directory: str | Path) -> list[LabelledCritique]:
    """The labelled critiques of ``directory``, in the order of its critiques file.

    Raises ValueError naming the file and the id when a critique has no labels, a label row has
    no critique, or a label is not one of :data:`STRATEGIES`.
    """
    directory = Path(directory)
    critiques_path, labels_path = directory / CRITIQUES_FILE, directory / LABELS_FILE
    rows = read_critiques(directory)
    with labels_path.open(encoding="utf-8", newline="") as handle:
        labelled = {}
        for line, row in enumerate(csv.DictReader(handle), start=2):
            names = tuple(x.strip() for x in (row.get("labels") or "").split(";") if x.strip())
            unknown = [n for n in names if n not in STRATEGIES]
            if unknown or not names:
                raise ValueError(
                    f"{labels_path}:{line}: id {row.get('id')!r} has labels {row.get('labels')!r}; "
                    f"each must be one of {', '.join(STRATEGIES)}"
                )
            labelled[row["id"]] = tuple(n for n in STRATEGIES if n in names)
    ids = [r["id"] for r in rows]
    missing = [i for i in ids if i not in labelled]
    extra = sorted(set(labelled) - set(ids))
    if missing or extra:
        raise ValueError(
            f"{labels_path}: labels do not match {critiques_path.name}: "
            f"unlabelled {missing[:5]}, labels without a critique {extra[:5]}"
        )
    return [
        LabelledCritique(
            r["id"],
            r["critic"],
            r["problem_id"],
            bool(r["solution_passed"]),
            r.get("judgment"),
            r["critique"],
            labelled[r["id"]],
        )
        for r in rows
    ]


def validation_scores(
    items: Sequence[LabelledCritique], modes: dict[str, Sequence[StrategyMatch]] | None = None
) -> pd.DataFrame:
    """Per mode and label: :func:`strategy_agreement` of the mode's labels against the hand labels.

    The rule mode is always scored; ``modes`` adds others (e.g. ``{"llm": label_strategies_with_llm(...)}``),
    each a match per item in the set's order.
    """
    gold = [item.labels for item in items]
    scored = {"rules": classify_strategies(item.critique for item in items), **(modes or {})}
    frames = []
    for mode, matches in scored.items():
        if len(matches) != len(items):
            raise ValueError(f"mode {mode!r}: {len(matches)} labels for {len(items)} critiques")
        frames.append(strategy_agreement(gold, [m.labels for m in matches]).assign(mode=mode))
    out = pd.concat(frames, ignore_index=True)
    return out[["mode", *[c for c in out.columns if c != "mode"]]]

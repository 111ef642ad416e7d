"""JudgeBench: pairs of responses to one question, one of which is better.

A JudgeBench record is not a programming problem — there is nothing to execute — so it gets its
own record type, :class:`JudgePair`, used by the pairwise-accuracy evaluation (notebook 07).
On the hub (``ScalerLab/JudgeBench``) the splits are named after the model that wrote the
responses: ``gpt`` (GPT-4o) and ``claude`` (Claude 3.5 Sonnet).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from criticlab.data.loading import LoadResult, SkipRow, collect, iter_local_rows, iter_rows, optional, require
from criticlab.data.shipped import JUDGEBENCH_GPT4O, shipped_file
from criticlab.data.types import SchemaError

HUB_ID = "ScalerLab/JudgeBench"
SHIPPED = "judgebench"
"""Where JudgeBench is read from by default: its 350 GPT-4o pairs shipped with the package (offline;
see :mod:`criticlab.data.shipped`). Pass :data:`HUB_ID` or a local path to read another."""
LABELS = ("A>B", "B>A")


@dataclass
class JudgePair:
    """A question, two responses and which one is better (``label`` is ``"A>B"`` or ``"B>A"``).

    ``category`` is JudgeBench's ``source`` (e.g. ``livecodebench``, ``mmlu-pro-math``);
    ``original_id`` is the id in that upstream dataset (an int for MMLU-Pro rows, else None).
    """

    id: str
    question: str
    response_a: str
    response_b: str
    label: str
    category: str = ""
    response_model: str = ""
    original_id: int | str | None = None

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise SchemaError(f"JudgePair {self.id!r}: label must be one of {LABELS}, got {self.label!r}")

    @property
    def better(self) -> str:
        """``"A"`` or ``"B"``."""
        return self.label[0]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> JudgePair:
        unknown = set(row) - {f.name for f in fields(cls)}
        if unknown:
            raise SchemaError(f"JudgePair {row.get('id')!r} has unknown field(s) {sorted(unknown)}")
        return cls(**row)


def convert_row(row: dict[str, Any], index: int) -> JudgePair:
    """A JudgeBench row (pair_id, original_id, source, question, response_model, response_A/B, label)."""
    label = require(row, "label")
    if label not in LABELS:
        raise SkipRow("unknown label", repr(label))
    original_id = row.get("original_id")
    if original_id is not None and not isinstance(original_id, (int, str)):
        raise SkipRow("field 'original_id' has the wrong type", type(original_id).__name__)
    return JudgePair(
        id=str(require(row, "pair_id")),
        question=require(row, "question"),
        response_a=require(row, "response_A"),
        response_b=require(row, "response_B"),
        label=label,
        category=optional(row, "source", "", str),
        response_model=optional(row, "response_model", "", str),
        original_id=original_id,
    )


def load_judgebench(
    path: str | Path = SHIPPED,
    *,
    split: str = "gpt",
    revision: str | None = None,
    category_prefix: str | None = None,
    limit: int | None = None,
) -> LoadResult[JudgePair]:
    """Load JudgeBench pairs; ``category_prefix="livecodebench"`` keeps the coding pairs only."""

    def convert(row: dict[str, Any], index: int) -> JudgePair:
        pair = convert_row(row, index)
        if category_prefix and not pair.category.startswith(category_prefix):
            raise SkipRow("other category")
        return pair

    if str(path) == SHIPPED:
        if split != "gpt":
            raise ValueError(f"the shipped JudgeBench holds the GPT-4o pairs (split 'gpt'), not {split!r}")
        file = shipped_file(JUDGEBENCH_GPT4O)
        return collect("judgebench", str(file), iter_local_rows(file), convert, limit=limit)
    location, rows = iter_rows(path, split=split, revision=revision)
    return collect("judgebench", location, rows, convert, limit=limit)

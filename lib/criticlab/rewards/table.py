"""One table from a row's task to its reward, and the one dispatch over it.

TRL's mixed datasets (:class:`MixedReward`) and verl's ``compute_score``
(:mod:`criticlab.tools.verl_reward`) both send each sample to the reward its row's ``task`` names,
through :data:`REWARDS` and :func:`score_by_task`: adding a task is one line here, not an edit in
two dispatchers that could drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from criticlab.rewards.base import TASK_CODE, TASK_CRITIQUE, TASK_CRL, LoggedReward, completion_text
from criticlab.rewards.conclusion import CRLReward
from criticlab.rewards.pass_rate import CodeReward
from criticlab.rewards.revision import CTRLReward

REWARDS: dict[str, type[LoggedReward]] = {
    TASK_CRITIQUE: CTRLReward,
    TASK_CRL: CRLReward,
    TASK_CODE: CodeReward,
}
"""Task → reward class. The order is the order a mixed batch is scored and logged in."""

ROW_COLUMNS = ("problem", "label", "response", "passed")
"""The dataset columns a reward may read as a row's ground truth (the fields of verl's ``ground_truth``)."""


def score_by_task(
    parts: Mapping[str, LoggedReward], texts: Sequence[str], rows: Sequence[dict[str, Any]]
) -> tuple[list[float | None], list[Any]]:
    """``(rewards, records)``: each text scored by ``parts[row["task"]]``, tasks taken in
    :data:`REWARDS` order (each task's samples in one call); ``records`` are the parts' records in
    that order. A task without a part is an error before anything is scored."""
    unknown = {row["task"] for row in rows} - set(parts)
    if unknown:
        expected = " or ".join(repr(t) for t in REWARDS if t in parts)
        raise ValueError(f"rows with unknown task(s) {sorted(unknown)}; expected {expected}")
    rewards: list[float | None] = [None] * len(texts)
    records: list[Any] = []
    for task in REWARDS:
        idx = [i for i, row in enumerate(rows) if row["task"] == task]
        if not idx:
            continue
        part = parts[task]
        for i, r in zip(idx, part.score_rows([texts[i] for i in idx], [rows[i] for i in idx])):
            rewards[i] = r
        records += part.last
    return rewards, records


class MixedReward(LoggedReward):
    """One reward function for a mixed dataset (CRL + code rows): each row's ``task`` picks its reward."""

    __name__ = "mixed_reward"

    def __init__(self, *parts: LoggedReward, log_path: str | Path | None = None) -> None:
        super().__init__(log_path)
        self.parts: dict[str, LoggedReward] = {}
        for part in parts:
            if REWARDS.get(getattr(part, "task", None)) is not type(part):
                raise TypeError(
                    f"{type(part).__name__} is not the reward of a task in the table {sorted(REWARDS)}"
                )
            if part.task in self.parts:
                raise ValueError(f"two rewards for task {part.task!r}")
            self.parts[part.task] = part

    @property  # type: ignore[override]
    def seconds(self) -> dict[str, float]:
        """The parts' seconds added up (the mixture itself revises and executes nothing)."""
        out: dict[str, float] = {}
        for task in REWARDS:
            for key, value in self.parts[task].seconds.items() if task in self.parts else ():
                out[key] = out.get(key, 0.0) + value
        return out

    @seconds.setter
    def seconds(self, _: dict[str, float]) -> None:
        """Ignored: the parts keep the counts (the base class sets zeros on construction)."""

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], *, task: Sequence[str], **columns: Any
    ) -> list[float | None]:
        texts = [completion_text(c) for c in completions]
        given = {k: list(v) for k, v in columns.items() if k in ROW_COLUMNS and v is not None}
        rows = [{"task": t, **{k: v[i] for k, v in given.items()}} for i, t in enumerate(task)]
        rewards, records = score_by_task(self.parts, texts, rows)
        self._log(records)
        return rewards

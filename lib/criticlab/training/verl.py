"""Export RL datasets for verl, so a Ray cluster can train with the same rewards at scale.

verl reads parquet rows with ``data_source``, ``prompt`` (chat messages), ``ability``,
``reward_model`` (``{"style": "rule", "ground_truth": ...}``) and ``extra_info``, and calls a
custom reward function ``compute_score(data_source, solution_str, ground_truth, extra_info)``;
:mod:`criticlab.tools.verl_reward` is that function. Each row's ``ground_truth`` is a JSON string that
says which reward applies (``critique``, ``crl`` or ``code``) and carries what it needs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from criticlab.io import atomic_open
from criticlab.rewards.base import TASK_CODE, TASK_CRITIQUE, TASK_CRL

DATA_SOURCES = {TASK_CRITIQUE: "criticlab/ctrl", TASK_CRL: "criticlab/crl", TASK_CODE: "criticlab/code"}
ABILITIES = {TASK_CRITIQUE: "code-critique", TASK_CRL: "code-judgment", TASK_CODE: "coding"}


def verl_row(row: dict[str, Any], index: int, split: str = "train") -> dict[str, Any]:
    """One GRPO/CRL/code row (as built by :mod:`criticlab.train` / :mod:`criticlab.crl`) in verl's layout."""
    task = row.get("task", TASK_CRITIQUE)
    if task not in DATA_SOURCES:
        raise ValueError(f"row {index}: unknown task {task!r} (expected one of {sorted(DATA_SOURCES)})")
    truth: dict[str, Any] = {"task": task, "problem": row["problem"]}
    if task == TASK_CRITIQUE:
        truth["response"] = row["response"]
    elif task == TASK_CRL:
        truth["label"] = bool(row["label"])
    return {
        "data_source": DATA_SOURCES[task],
        "prompt": row["prompt"],
        "ability": ABILITIES[task],
        "reward_model": {"style": "rule", "ground_truth": json.dumps(truth)},
        "extra_info": {"split": split, "index": index},
    }


def write_verl_parquet(rows: Sequence[dict[str, Any]], path: str | Path, split: str = "train") -> Path:
    """Write rows as a verl parquet file (atomically)."""
    import pandas as pd

    frame = pd.DataFrame([verl_row(r, i, split) for i, r in enumerate(rows)])
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        frame.to_parquet(handle, index=False)
    return path

"""Dataset checks shared by SFT and GRPO, run before any weight is loaded.

A dataset that lacks a column stops with the file and the column named; GRPO prompts over the
prompt-length limit are dropped (the paper: 1536 tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from criticlab import stages
from criticlab.config import ConfigError


def require_columns(rows: Sequence[dict[str, Any]], columns: Sequence[str], source: str) -> None:
    """Stop before training when a dataset lacks a column, naming the file and the column."""
    if not rows:
        raise ConfigError(f"{source}: the dataset is empty; re-run the notebook that writes it")
    for i, row in enumerate(rows):
        missing = [c for c in columns if c not in row]
        if missing:
            raise ConfigError(f"{source}: row {i} has no column(s) {missing}; expected {list(columns)}")


def sft_dataset(rows: Sequence[dict[str, Any]], source: str = stages.SFT_ROWS) -> Any:
    """Conversational prompt/completion rows (TRL computes the loss on the completion only)."""
    from datasets import Dataset

    require_columns(rows, ("prompt", "completion"), source)
    return Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])


def drop_long_prompts(
    rows: list[dict[str, Any]], tokenizer: Any, max_tokens: int
) -> tuple[list[dict[str, Any]], int]:
    """GRPO prompts over the limit are dropped (the paper: 1536 tokens); returns (kept, dropped)."""
    kept = []
    for row in rows:
        ids = tokenizer.apply_chat_template(row["prompt"], tokenize=True, add_generation_prompt=True)
        if hasattr(ids, "keys"):  # newer tokenizers return a BatchEncoding
            ids = ids["input_ids"]
        if len(ids) <= max_tokens:
            kept.append(row)
    return kept, len(rows) - len(kept)

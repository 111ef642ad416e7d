"""The CRL format warm-up: teach a small policy to end on ``\\conclusion{T|F}``, nothing more."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from criticlab.rewards.base import TASK_CRL
from criticlab.rollout import prompts


def format_warmup_rows(crl: Sequence[dict[str, Any]], seed: int = 0) -> list[dict[str, Any]]:
    """SFT rows that teach the CRL answer format and nothing about correctness.

    A small instruct model asked to judge a solution rarely ends with ``\\conclusion{T|F}``
    (SmolLM2-135M: 0 of 32, Qwen2.5-Coder-0.5B: 3 of 16 within 256 tokens), so every CRL reward
    is 0 and GRPO has no signal. This warm-up answers each CRL prompt with the bare conclusion,
    ``T`` for a random half of the rows and ``F`` for the other half (independent of the
    labels): after it the policy writes the format, judges at chance, and any rise in conclusion
    accuracy during CRL comes from the CRL reward.
    """
    rows = [r for r in crl if r["task"] == TASK_CRL]
    answers = [i % 2 == 0 for i in range(len(rows))]
    random.Random(seed).shuffle(answers)
    return [
        {
            "prompt": row["prompt"],
            "completion": [{"role": "assistant", "content": prompts.conclusion_tag(answer)}],
        }
        for row, answer in zip(rows, answers)
    ]

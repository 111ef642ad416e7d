"""The code pass-rate reward (ordinary code RL): the share of the problem's tests the answer's code passes.

An infrastructure failure (sandbox error) returns ``None`` for that sample, never a 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from criticlab.data.types import Problem
from criticlab.llm.base import Completion, Engine
from criticlab.rewards.base import TASK_CODE, LoggedReward, RewardRecord, completion_text, problem_of
from criticlab.rollout.loop import execute
from criticlab.sandbox import Executor


class CodeReward(LoggedReward):
    """Reward of a solution = the share of the problem's tests its code passes."""

    __name__ = "code_reward"
    task = TASK_CODE

    def __init__(self, executor: Executor, log_path: str | Path | None = None) -> None:
        super().__init__(log_path)
        self.executor = executor

    @classmethod
    def build(cls, executor: Callable[[], Executor], generator: Callable[[], Engine]) -> CodeReward:
        """The reward on ``executor()`` (no generator needed)."""
        return cls(executor())

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], *, problem: Sequence[Any], **_: Any
    ) -> list[float | None]:
        return self.score([completion_text(c) for c in completions], [problem_of(p) for p in problem])

    def score_rows(self, texts: list[str], rows: Sequence[dict[str, Any]]) -> list[float | None]:
        """Answers to rows with ``problem``."""
        return self.score(texts, [problem_of(r["problem"]) for r in rows])

    def score(self, answers: list[str], problems: list[Problem]) -> list[float | None]:
        started = time.perf_counter()
        rounds = execute(self.executor, problems, [Completion(text=a) for a in answers])
        self._timed("execution", started)
        rewards = [None if r.result.is_infra_error else r.result.pass_rate for r in rounds]
        self._log(
            [
                RewardRecord(TASK_CODE, p.id, rw, outcome=r.result.verdict.value)
                for p, rw, r in zip(problems, rewards, rounds)
            ]
        )
        return rewards

"""Critique-Coder's rewards, callable by TRL's GRPOTrainer (and by verl, see :mod:`criticlab.tools.verl_reward`).

- :class:`CRLReward` — 1 when the ``\\conclusion{T|F}`` of the answer equals the execution-derived
  label, else 0;
- :class:`CodeReward` — ordinary code RL: the test pass rate of the answer's code;
- :class:`MixedReward` — one function for a mixed dataset, dispatching on each row's ``task``.

An infrastructure failure (sandbox error) returns ``None`` for that sample, never a 0.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from criticlab.data.types import Problem
from criticlab.rollout import prompts
from criticlab.rollout.loop import execute
from criticlab.sandbox import Executor
from criticlab.training.reward_log import (
    TASK_CODE,
    TASK_CRL,
    RewardRecord,
    _Logged,
    completion_text,
    problem_of,
)


class CRLReward(_Logged):
    """Reward of a CRL answer = does its final ``\\conclusion{T|F}`` match the execution label?"""

    __name__ = "crl_reward"

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], *, label: Sequence[bool], **_: Any) -> list[float]:
        return self.score([completion_text(c) for c in completions], [bool(x) for x in label])

    def score(self, answers: list[str], labels: list[bool], problem_ids: list[str] | None = None) -> list[float]:
        concluded = [prompts.parse_conclusion(a) for a in answers]
        rewards = [float(c == prompts.conclusion_of(y)) for c, y in zip(concluded, labels)]
        ids = problem_ids or [""] * len(answers)
        self._log([
            RewardRecord(TASK_CRL, pid, r, conclusion=c, label=y)
            for pid, r, c, y in zip(ids, rewards, concluded, labels)
        ])
        return rewards


class CodeReward(_Logged):
    """Reward of a solution = the share of the problem's tests its code passes."""

    __name__ = "code_reward"

    def __init__(self, executor: Executor, log_path: str | Path | None = None) -> None:
        super().__init__(log_path)
        self.executor = executor

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], *, problem: Sequence[Any], **_: Any) -> list[float | None]:
        return self.score([completion_text(c) for c in completions], [problem_of(p) for p in problem])

    def score(self, answers: list[str], problems: list[Problem]) -> list[float | None]:
        from criticlab.llm.base import Completion

        started = time.perf_counter()
        rounds = execute(self.executor, problems, [Completion(text=a) for a in answers])
        self._timed("execution", started)
        rewards = [None if r.result.is_infra_error else r.result.pass_rate for r in rounds]
        self._log([
            RewardRecord(TASK_CODE, p.id, rw, outcome=r.result.verdict.value) for p, rw, r in zip(problems, rewards, rounds)
        ])
        return rewards


class MixedReward(_Logged):
    """One reward function for a CRL+code mixture: each row's ``task`` picks its reward."""

    __name__ = "mixed_reward"

    def __init__(self, code: CodeReward, crl: CRLReward, log_path: str | Path | None = None) -> None:
        super().__init__(log_path)
        self.code = code
        self.crl = crl
        self.seconds = code.seconds  # only the code rows execute anything

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], *, task: Sequence[str],
        problem: Sequence[Any], label: Sequence[Any], **_: Any,
    ) -> list[float | None]:
        texts = [completion_text(c) for c in completions]
        rewards: list[float | None] = [None] * len(texts)
        crl_idx = [i for i, t in enumerate(task) if t == TASK_CRL]
        code_idx = [i for i, t in enumerate(task) if t == TASK_CODE]
        unknown = set(task) - {TASK_CRL, TASK_CODE}
        if unknown:
            raise ValueError(f"mixed reward: rows with unknown task(s) {sorted(unknown)}; expected 'crl' or 'code'")
        if crl_idx:
            ids = [problem_of(problem[i]).id for i in crl_idx]
            for i, r in zip(crl_idx, self.crl.score([texts[i] for i in crl_idx], [bool(label[i]) for i in crl_idx], ids)):
                rewards[i] = r
        if code_idx:
            for i, r in zip(code_idx, self.code.score([texts[i] for i in code_idx], [problem_of(problem[i]) for i in code_idx])):
                rewards[i] = r
        self._log(self.crl.last * bool(crl_idx) + self.code.last * bool(code_idx))
        return rewards

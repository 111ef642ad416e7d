"""The conclusion-match reward (CRL): does the answer's final ``\\conclusion{T|F}`` match the label?

The label comes from executing the judged solution (Critique-Coder: correct when its pass rate
exceeds 80%); the last ``\\conclusion`` of the answer counts, read by the workbook's rule or, with
``parser="reference"``, by Critique-Coder's (:func:`criticlab.rollout.prompts.reference_conclusion`),
and an answer without one gets 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from criticlab.llm.base import Engine
from criticlab.rewards.base import TASK_CRL, LoggedReward, RewardRecord, completion_text, problem_of
from criticlab.rollout import prompts
from criticlab.sandbox import Executor


class CRLReward(LoggedReward):
    """Reward of a CRL answer = does its final ``\\conclusion{T|F}`` match the execution label?"""

    __name__ = "crl_reward"
    task = TASK_CRL

    def __init__(self, log_path: str | Path | None = None, parser: prompts.ParserRule = "workbook") -> None:
        super().__init__(log_path)
        self.parser = parser

    @classmethod
    def build(cls, executor: Callable[[], Executor], generator: Callable[[], Engine]) -> CRLReward:
        """The reward (it needs neither sandbox nor generator)."""
        return cls()

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], *, label: Sequence[bool], **_: Any
    ) -> list[float]:
        return self.score([completion_text(c) for c in completions], [bool(x) for x in label])

    def score_rows(self, texts: list[str], rows: Sequence[dict[str, Any]]) -> list[float | None]:
        """Answers to rows with ``label`` and ``problem`` (its id goes to the log)."""
        return list(
            self.score(texts, [bool(r["label"]) for r in rows], [problem_of(r["problem"]).id for r in rows])
        )

    def score(
        self, answers: list[str], labels: list[bool], problem_ids: list[str] | None = None
    ) -> list[float]:
        concluded = [prompts.parse_conclusion(a, self.parser) for a in answers]
        rewards = [float(c == prompts.conclusion_of(y)) for c, y in zip(concluded, labels)]
        ids = problem_ids or [""] * len(answers)
        self._log(
            [
                RewardRecord(
                    TASK_CRL,
                    pid,
                    r,
                    conclusion=c,
                    label=y,
                    parsers_disagree=prompts.parsers_disagree(a, "conclusion"),
                )
                for pid, r, c, y, a in zip(ids, rewards, concluded, labels, answers)
            ]
        )
        return rewards

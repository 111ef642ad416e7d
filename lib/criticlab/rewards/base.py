"""What every reward shares: task names, the per-sample record, its JSONL log, the logged base.

Every reward (CTRL's, CRL's, code RL's) appends one :class:`RewardRecord` per sample, so the
training curves of reward and judgment accuracy (:func:`per_step`) are read from one format,
whichever stage wrote them. TRL calls a reward function with the batch's prompts, completions
and every other dataset column as keyword lists; :func:`completion_text` and :func:`problem_of`
read those columns back. :class:`LoggedReward` is the base of every reward class: the stage
packages and the verl reward module build on it, so it is public.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from criticlab.data.types import Problem
from criticlab.io import append_jsonl
from criticlab.rollout.prompts import Conclusion, Judgment, conclusion_of

if TYPE_CHECKING:
    from criticlab.llm.base import Engine
    from criticlab.sandbox import Executor

TASK_CRITIQUE = "critique"
"""A CTRL row: critique a (problem, solution); the generator's revision under it is scored."""

TASK_CRL = "crl"
"""A CRL row: judge a (question, solution) with ``\\conclusion{T|F}`` against the execution label."""

TASK_CODE = "code"
"""A code-RL row: solve the problem; the reward is the test pass rate."""


@dataclass
class RewardRecord:
    """What one sample's reward was made of (for curves of judgment accuracy, revision success...).

    A critique row (CTRL) records the critic's ``judgment`` (``correct`` / ``incorrect``); a CRL
    row records the policy's ``conclusion`` (``T`` / ``F``); ``label`` is the execution truth of
    the judged solution. Code-RL rows carry neither.
    """

    task: str
    problem_id: str
    reward: float | None
    judgment: Judgment | None = None
    label: bool | None = None
    outcome: str = ""
    """The sandbox judgment of the executed revision (CTRL) or answer code (code RL)."""
    seconds: float = 0.0
    step: int = -1
    conclusion: Conclusion | None = None
    parsers_disagree: bool = False
    """The workbook's and the reference's rule read this sample's judgment (or conclusion)
    differently (:func:`criticlab.rollout.prompts.parsers_disagree`); the reward used ``prompts.parser``."""

    @property
    def answered(self) -> bool:
        """Whether the sample's judgment (critique rows) or conclusion (CRL rows) could be parsed."""
        return (self.conclusion if self.task == TASK_CRL else self.judgment) is not None

    @property
    def judged_right(self) -> bool | None:
        """Whether the judgment or conclusion matches the execution truth (None when unknown)."""
        if self.label is None:
            return None
        if self.task == TASK_CRL:
            return self.conclusion == conclusion_of(self.label)
        return self.judgment == ("correct" if self.label else "incorrect")

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> RewardRecord:
        """A logged record; logs written before judgments and conclusions were told apart kept
        both under ``judgment``."""
        row = dict(row)
        legacy = row.pop("judgment", None)
        if legacy is not None:
            row["conclusion" if row.get("task") == TASK_CRL else "judgment"] = legacy
        return cls(**row)


def completion_text(completion: Any) -> str:
    """TRL passes plain strings or, for chat datasets, a list of messages; take the assistant text."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return str(completion)


def problem_of(value: Any) -> Problem:
    """Rows carry their problem as a JSON string (Arrow can't hold heterogeneous test values)."""
    if isinstance(value, Problem):
        return value
    return Problem.from_dict(json.loads(value) if isinstance(value, str) else value)


class LoggedReward:
    """Shared bookkeeping: a name TRL logs under, a step number, seconds per part, an optional JSONL log.

    ``step`` is set by the trainer (:class:`criticlab.training.step_timer.StepTimer`) to its global step,
    so a resumed run continues the log's numbering; without a trainer it counts calls.
    ``seconds`` accumulates the time spent in generator revisions and in the sandbox.

    A subclass that scores one task sets :attr:`task` and implements :meth:`score_rows`, which reads
    a row's ground truth by the dataset's column names (the same fields verl's ``ground_truth``
    carries), so one dispatch (:func:`criticlab.rewards.score_by_task`) serves TRL and verl alike.
    """

    __name__ = "reward"
    task: str = ""

    def __init__(self, log_path: str | Path | None = None) -> None:
        self.log_path = Path(log_path) if log_path else None
        self.calls = 0
        self.step: int | None = None
        self.seconds: dict[str, float] = {"revision": 0.0, "execution": 0.0}
        self.last: list[RewardRecord] = []

    @classmethod
    def build(cls, executor: Callable[[], Executor], generator: Callable[[], Engine]) -> LoggedReward:
        """This reward, taking only the resources it needs from the zero-argument ``executor`` and
        ``generator`` factories (verl's worker makes each at most once, on demand)."""
        raise NotImplementedError(f"{cls.__name__} cannot be built from resources")

    def score_rows(self, texts: list[str], rows: Sequence[dict[str, Any]]) -> list[float | None]:
        """Rewards of ``texts``, each answering the row (ground truth by column name) beside it."""
        raise NotImplementedError(f"{type(self).__name__} scores no single task")

    def _timed(self, part: str, started: float) -> None:
        self.seconds[part] += time.perf_counter() - started

    def _log(self, records: list[RewardRecord]) -> None:
        for record in records:
            record.step = self.calls if self.step is None else self.step
        self.calls += 1
        self.last = records
        if self.log_path is not None:
            append_jsonl(self.log_path, (asdict(r) for r in records))


def per_step(records: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
    """Per reward call (one call = one generation batch = one step): mean reward, ``accuracy`` (share
    of judged samples whose judgment or conclusion matches execution) and ``unparsed`` (share of
    samples without a parseable judgment or conclusion)."""
    steps: dict[int, list[RewardRecord]] = {}
    for row in records:
        record = RewardRecord.from_dict(row)
        steps.setdefault(record.step, []).append(record)
    out = []
    for step in sorted(steps):
        group = steps[step]
        scored = [r.reward for r in group if r.reward is not None]
        judged = [r.judged_right for r in group if r.judged_right is not None]
        out.append(
            {
                "step": step + 1,
                "reward": sum(scored) / len(scored) if scored else float("nan"),
                "accuracy": sum(judged) / len(judged) if judged else float("nan"),
                "unparsed": sum(not r.answered for r in group) / len(group),
            }
        )
    return out


def unanswered_reward(records: Sequence[dict[str, Any]]) -> tuple[int, float]:
    """How many logged samples had no parseable judgment (or conclusion), and their mean reward
    (NaN when there are none, or none was scored). With the CTRL reward revising every critique,
    this is what the judgment gate would have set to 0."""
    unanswered = [r for r in map(RewardRecord.from_dict, records) if not r.answered]
    scored = [r.reward for r in unanswered if r.reward is not None]
    return len(unanswered), (sum(scored) / len(scored) if scored else float("nan"))


def parser_disagreements(records: Sequence[dict[str, Any]]) -> int:
    """How many logged samples the workbook's and the reference's parser read differently."""
    return sum(bool(r.get("parsers_disagree")) for r in records)

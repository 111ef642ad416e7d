"""Rewards for RL on critiques and code, callable by TRL's GRPOTrainer (and by verl, see export).

- :class:`CTRLReward` — the critic's reward in CTRL: the *fixed* generator revises the solution
  greedily under the sampled critique, the sandbox runs the revision, and the reward is 1 when it
  passes every test, else 0; a critique without a parseable verdict gets 0 without a revision.
- :class:`CRLReward` — Critique-Coder's critique RL: 1 when the ``\\conclusion{T|F}`` of the answer
  equals the execution-derived label, else 0.
- :class:`CodeReward` — ordinary code RL: the test pass rate of the answer's code.
- :class:`MixedReward` — one function for a mixed dataset, dispatching on each row's ``task``.

TRL calls a reward function with the batch's prompts, completions and every other dataset column
as keyword lists. All revisions and executions of a batch run together (one batched generator
call, one sandbox batch). An infrastructure failure (sandbox or generator error) returns ``None``
for that sample — TRL leaves it out of the reward statistics — so it is never scored as the
model's failure. Each call appends per-sample records (verdict, outcome, seconds) to a JSONL log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from criticlab import prompts
from criticlab.data.types import Problem
from criticlab.io import append_jsonl
from criticlab.llm.base import Engine, SamplingParams
from criticlab.loop import Executor, execute

TASK_CRITIQUE = "critique"
TASK_CRL = "crl"
TASK_CODE = "code"


@dataclass
class RewardRecord:
    """What one sample's reward was made of (for curves of verdict accuracy, revision success...)."""

    task: str
    problem_id: str
    reward: float | None
    verdict: str | None = None
    label: bool | None = None
    outcome: str = ""
    """The verdict of the executed revision (CTRL) or answer code (code RL)."""
    seconds: float = 0.0
    step: int = -1

    @property
    def verdict_right(self) -> bool | None:
        """Whether the critic's verdict matches the execution truth (None when unknown)."""
        if self.label is None:
            return None
        if self.task == TASK_CRL:
            return self.verdict == ("T" if self.label else "F")
        return self.verdict == ("correct" if self.label else "incorrect")


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


class _Logged:
    """Shared bookkeeping: a name TRL logs under, a step number, seconds per part, an optional JSONL log.

    ``step`` is set by the trainer (:class:`criticlab.step_timer.StepTimer`) to its global step,
    so a resumed run continues the log's numbering; without a trainer it counts calls.
    ``seconds`` accumulates the time spent in generator revisions and in the sandbox.
    """

    __name__ = "reward"

    def __init__(self, log_path: str | Path | None = None) -> None:
        self.log_path = Path(log_path) if log_path else None
        self.calls = 0
        self.step: int | None = None
        self.seconds: dict[str, float] = {"revision": 0.0, "execution": 0.0}
        self.last: list[RewardRecord] = []

    def _timed(self, part: str, started: float) -> None:
        self.seconds[part] += time.perf_counter() - started

    def _log(self, records: list[RewardRecord]) -> None:
        for record in records:
            record.step = self.calls if self.step is None else self.step
        self.calls += 1
        self.last = records
        if self.log_path is not None:
            append_jsonl(self.log_path, (asdict(r) for r in records))


class CTRLReward(_Logged):
    """Reward of a critique = does the generator's revision under it pass the tests?"""

    __name__ = "ctrl_reward"

    def __init__(
        self,
        generator: Engine,
        executor: Executor,
        sampling: SamplingParams | None = None,
        log_path: str | Path | None = None,
    ) -> None:
        super().__init__(log_path)
        self.generator = generator
        self.executor = executor
        self.sampling = sampling or SamplingParams(temperature=0.0)

    def check(self) -> None:
        """Before training: the generator must answer (an unreachable server stops here, named)."""
        from criticlab.llm.cache import check_engine

        check_engine(self.generator)

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], *, problem: Sequence[Any],
        response: Sequence[str], passed: Sequence[bool] | None = None, **_: Any,
    ) -> list[float | None]:
        texts = [completion_text(c) for c in completions]
        return self.score(texts, [problem_of(p) for p in problem], list(response), passed)

    def score(
        self, critiques: list[str], problems: list[Problem], responses: list[str],
        passed: Sequence[bool] | None = None,
    ) -> list[float | None]:
        """Rewards of critiques of ``responses``; ``passed`` (whether each critiqued solution passes)
        is only logged, so verdict accuracy can be followed during training."""
        started = time.perf_counter()
        verdicts = [prompts.parse_verdict(c) for c in critiques]
        todo = [i for i, v in enumerate(verdicts) if v is not None]
        convs = [prompts.revision_conversation(problems[i], responses[i], critiques[i]) for i in todo]
        revisions = self.generator.generate(convs, self.sampling, n=1) if convs else []
        self._timed("revision", started)
        executing = time.perf_counter()
        rounds = execute(self.executor, [problems[i] for i in todo], [row[0] for row in revisions])
        self._timed("execution", executing)
        rewards: list[float | None] = [0.0] * len(critiques)
        outcomes = ["no verdict"] * len(critiques)
        for i, rnd in zip(todo, rounds):
            outcomes[i] = rnd.result.verdict.value
            rewards[i] = None if rnd.result.is_infra_error else float(rnd.result.accepted)
        seconds = (time.perf_counter() - started) / max(len(critiques), 1)
        labels = list(passed) if passed is not None else [None] * len(critiques)
        self._log([
            RewardRecord(TASK_CRITIQUE, p.id, r, verdict=v, label=y, outcome=o, seconds=seconds)
            for p, r, v, o, y in zip(problems, rewards, verdicts, outcomes, labels)
        ])
        return rewards


class CRLReward(_Logged):
    """Reward of a judgment = does its final ``\\conclusion{T|F}`` match the execution label?"""

    __name__ = "crl_reward"

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], *, label: Sequence[bool], **_: Any) -> list[float]:
        return self.score([completion_text(c) for c in completions], [bool(x) for x in label])

    def score(self, answers: list[str], labels: list[bool], problem_ids: list[str] | None = None) -> list[float]:
        judged = [prompts.parse_conclusion(a) for a in answers]
        rewards = [float(j is not None and j == y) for j, y in zip(judged, labels)]
        ids = problem_ids or [""] * len(answers)
        self._log([
            RewardRecord(TASK_CRL, pid, r, verdict=None if j is None else ("T" if j else "F"), label=y)
            for pid, r, j, y in zip(ids, rewards, judged, labels)
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


def per_step(records: Sequence[dict[str, Any]]) -> list[dict[str, float]]:
    """Mean reward and verdict accuracy per reward call (one call = one generation batch = one step)."""
    steps: dict[int, list[RewardRecord]] = {}
    for row in records:
        record = RewardRecord(**row)
        steps.setdefault(record.step, []).append(record)
    out = []
    for step in sorted(steps):
        group = steps[step]
        scored = [r.reward for r in group if r.reward is not None]
        judged = [r.verdict_right for r in group if r.verdict_right is not None]
        out.append({
            "step": step + 1,
            "reward": sum(scored) / len(scored) if scored else float("nan"),
            "verdict_accuracy": sum(judged) / len(judged) if judged else float("nan"),
            "no_verdict": sum(r.verdict is None for r in group) / len(group),
        })
    return out

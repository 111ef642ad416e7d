"""The critique-revision reward (CTRL): does the fixed generator's revision under a critique pass the tests?

The generator revises greedily under each sampled critique (all critiques of a batch in one
generator call), the sandbox runs every revision in one batch, and the reward is 1 when the
revision passes every test, else 0. With ``judgment_gate`` a critique without a judgment gets 0
without a revision: ``substring`` as critic-rl does (``ctrl/rl/critic_rm.py``, ``reward_revision``:
neither "Overall judgment: Correct" nor "Overall judgment: Incorrect" occurs in it), ``last_line``
by the workbook's stricter parse; ``none`` (the default) revises every critique (see
:attr:`criticlab.config.GRPOSection.judgment_gate`). The reference still generates the gated
revision and discards it; here it is not generated, which changes no reward. The revision shows
the previous answer whole or, as critic-rl's reward does, ``sanitized``
(:func:`criticlab.rollout.prompts.sanitize`). An infrastructure failure returns ``None`` (TRL leaves
it out of the reward statistics), so it is never scored as the critic's failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from criticlab.data.types import Problem
from criticlab.llm.base import Engine, SamplingParams
from criticlab.rewards.base import TASK_CRITIQUE, LoggedReward, RewardRecord, completion_text, problem_of
from criticlab.rollout import prompts
from criticlab.rollout.loop import execute
from criticlab.sandbox import Executor

JudgmentGate = Literal["none", "last_line", "substring"]
"""Which critiques the CTRL reward scores 0 unrevised (:attr:`criticlab.config.GRPOSection.judgment_gate`)."""


def gate_passes(critique: str, gate: JudgmentGate) -> bool:
    """Whether ``critique`` is revised under ``gate``: ``substring``, critic-rl's test (either
    "Overall judgment: Correct" or "Overall judgment: Incorrect" anywhere in it, case as written);
    ``last_line``, a judgment on its last line (:func:`criticlab.rollout.prompts.parse_judgment`)."""
    if gate == "substring":
        return prompts.parse_judgment(critique, "reference") is not None
    if gate == "last_line":
        return prompts.parse_judgment(critique) is not None
    if gate == "none":
        return True
    raise ValueError(f"judgment_gate must be none, last_line or substring, got {gate!r}")


class CTRLReward(LoggedReward):
    """Reward of a critique = does the generator's revision under it pass the tests?"""

    __name__ = "ctrl_reward"
    task = TASK_CRITIQUE

    def __init__(
        self,
        generator: Engine,
        executor: Executor,
        sampling: SamplingParams | None = None,
        log_path: str | Path | None = None,
        judgment_gate: JudgmentGate = "none",
        revision_input: Literal["response", "sanitized"] = "response",
        revision_request: prompts.ParserRule = "workbook",
        parser: prompts.ParserRule = "workbook",
    ) -> None:
        super().__init__(log_path)
        gate_passes("", judgment_gate)  # a wrong name fails here, not in the first step
        self.generator = generator
        self.executor = executor
        self.sampling = sampling or SamplingParams(temperature=0.0)
        self.judgment_gate = judgment_gate
        self.revision_input = revision_input
        self.revision_request = revision_request
        self.parser = parser

    @classmethod
    def build(cls, executor: Callable[[], Executor], generator: Callable[[], Engine]) -> CTRLReward:
        """The reward with the default greedy revision, for a caller that makes resources on demand."""
        return cls(generator(), executor())

    def check(self) -> None:
        """Before training: the generator must answer (an unreachable server stops here, named)."""
        from criticlab.llm.cache import check_engine

        check_engine(self.generator)

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        *,
        problem: Sequence[Any],
        response: Sequence[str],
        passed: Sequence[bool] | None = None,
        **_: Any,
    ) -> list[float | None]:
        texts = [completion_text(c) for c in completions]
        return self.score(texts, [problem_of(p) for p in problem], list(response), passed)

    def score_rows(self, texts: list[str], rows: Sequence[dict[str, Any]]) -> list[float | None]:
        """Critiques of rows with ``problem`` and ``response`` (``passed``, when every row has it, is logged)."""
        passed = [r["passed"] for r in rows] if rows and all("passed" in r for r in rows) else None
        return self.score(
            texts, [problem_of(r["problem"]) for r in rows], [r["response"] for r in rows], passed
        )

    def score(
        self,
        critiques: list[str],
        problems: list[Problem],
        responses: list[str],
        passed: Sequence[bool] | None = None,
    ) -> list[float | None]:
        """Rewards of critiques of ``responses``; ``passed`` (whether each critiqued solution passes)
        is only logged, so judgment accuracy can be followed during training."""
        started = time.perf_counter()
        judgments = [prompts.parse_judgment(c, self.parser) for c in critiques]
        todo = [i for i, c in enumerate(critiques) if gate_passes(c, self.judgment_gate)]
        convs = [
            prompts.revision_conversation(
                problems[i],
                responses[i],
                critiques[i],
                previous=self.revision_input,
                request=self.revision_request,
            )
            for i in todo
        ]
        revisions = self.generator.generate(convs, self.sampling, n=1) if convs else []
        self._timed("revision", started)
        executing = time.perf_counter()
        rounds = execute(self.executor, [problems[i] for i in todo], [row[0] for row in revisions])
        self._timed("execution", executing)
        rewards: list[float | None] = [0.0] * len(critiques)
        outcomes = ["no judgment"] * len(critiques)
        for i, rnd in zip(todo, rounds):
            outcomes[i] = rnd.result.verdict.value
            rewards[i] = None if rnd.result.is_infra_error else float(rnd.result.accepted)
        seconds = (time.perf_counter() - started) / max(len(critiques), 1)
        labels = list(passed) if passed is not None else [None] * len(critiques)
        self._log(
            [
                RewardRecord(
                    TASK_CRITIQUE,
                    p.id,
                    r,
                    judgment=v,
                    label=y,
                    outcome=o,
                    seconds=seconds,
                    parsers_disagree=prompts.parsers_disagree(c, "judgment"),
                )
                for p, r, v, o, y, c in zip(problems, rewards, judgments, outcomes, labels, critiques)
            ]
        )
        return rewards

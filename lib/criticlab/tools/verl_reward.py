"""verl custom reward: ``compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs)``.

Point verl at this file (``custom_reward_function.path=<this file>``,
``custom_reward_function.name=compute_score``) to train on parquet written by
:func:`criticlab.training.verl.write_verl_parquet`. The scores are the workbook's own rewards:

- ``critique`` (CTRL): the generator revises under the critique (every critique, as in the paper:
  verl runs without the judgment gate) and the revision must pass; the
  generator is an OpenAI-compatible server named by ``CRITICLAB_GENERATOR_URL`` and
  ``CRITICLAB_GENERATOR_MODEL`` (e.g. a ``vllm serve`` next to the trainer);
- ``crl``: the final ``\\conclusion{T|F}`` must match the label;
- ``code``: the pass rate of the answer's code.

Code runs in a :class:`~criticlab.sandbox.LocalExecutor` started once per process. verl's reward
loop calls ``compute_score`` from several threads at once, so the executor and the generator are
made under a lock: exactly one of each per process, whichever thread comes first. verl needs a
number for every sample, so an infrastructure failure (sandbox or generator down) raises instead
of being scored as the model's failure.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from criticlab.llm.base import Engine
from criticlab.rewards import REWARDS, problem_of

_EXECUTOR: Any = None
_GENERATOR: Engine | None = None
_LOCK = threading.Lock()


class RewardUnavailable(RuntimeError):
    """The reward could not be computed (sandbox or generator failure): not the model's fault."""


def set_generator(engine: Engine | None) -> None:
    """Use this engine for CTRL revisions instead of the server named by the environment."""
    global _GENERATOR
    _GENERATOR = engine


def _executor() -> Any:
    global _EXECUTOR
    if _EXECUTOR is not None:
        return _EXECUTOR
    with _LOCK:
        if _EXECUTOR is None:
            from criticlab.sandbox import LocalExecutor

            _EXECUTOR = LocalExecutor().start()
    return _EXECUTOR


def _generator() -> Engine:
    global _GENERATOR
    if _GENERATOR is not None:
        return _GENERATOR
    with _LOCK:
        return _make_generator()


def _make_generator() -> Engine:
    global _GENERATOR
    if _GENERATOR is None:
        url, model = os.environ.get("CRITICLAB_GENERATOR_URL"), os.environ.get("CRITICLAB_GENERATOR_MODEL")
        if not url or not model:
            raise RewardUnavailable(
                "critique rows need the generator: set CRITICLAB_GENERATOR_URL (an OpenAI-compatible "
                "/v1 endpoint) and CRITICLAB_GENERATOR_MODEL"
            )
        from criticlab.llm.openai_server import OpenAIEngine

        _GENERATOR = OpenAIEngine(url, model)
    return _GENERATOR


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: dict | None = None,
    **kwargs: Any,
) -> float:
    """The reward of ``solution_str`` for the row whose ``ground_truth`` (JSON: ``task`` and what that
    task's reward reads) verl passes; the task picks the reward in :data:`criticlab.rewards.REWARDS`,
    the table TRL's mixed reward dispatches on too. ``kwargs``: what else verl passes and the
    reward does not read — the entries of ``custom_reward_function.reward_kwargs``, and more
    keywords when a reward model is configured; without them verl's call would raise TypeError."""
    truth = json.loads(ground_truth)
    task = truth.get("task")
    if task not in REWARDS:
        raise ValueError(f"{data_source}: ground truth names unknown task {task!r}")
    value = REWARDS[task].build(_executor, _generator).score_rows([solution_str], [truth])[0]
    if value is None:
        problem = problem_of(truth["problem"])
        raise RewardUnavailable(f"{data_source}: the sandbox or generator failed for problem {problem.id}")
    return value

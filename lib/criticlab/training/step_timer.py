"""Where a GRPO step's seconds go: critic sampling, generator revision, execution, optimisation.

:class:`StepTimer` is a TRL/transformers callback. It times each optimizer step from
``on_step_begin`` to ``on_step_end``; the policy's ``generate`` is wrapped to time critic
sampling; the reward function reports its own revision and execution seconds
(:attr:`criticlab.rewards.LoggedReward.seconds`); optimisation is the rest (forward, backward,
optimizer, reference log-probs). It also hands the trainer's global step to the reward, so the
reward log of a resumed run keeps counting where it stopped, and on resume it drops the records
of steps after the checkpoint (they are trained again), so every log holds each step once.

Used by notebooks 05/06 (per-step times next to the curves) and ``python -m criticlab.bench train``.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from criticlab.io import append_jsonl, read_jsonl, write_jsonl

PARTS = ("sampling", "revision", "execution", "optimisation")


@dataclass
class StepTime:
    """Seconds of one optimizer step, split into the parts of a CTRL GRPO step."""

    step: int
    seconds: float
    sampling: float
    revision: float
    execution: float

    @property
    def optimisation(self) -> float:
        return max(0.0, self.seconds - self.sampling - self.revision - self.execution)

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), "optimisation": self.optimisation}


def _ignore_event(*args: Any, **kwargs: Any) -> None:
    return None


class StepTimer:
    """Per-step timings (see the module docstring); ``times`` holds one :class:`StepTime` per step.

    A transformers callback by shape, not by inheritance: the trainer calls ``on_<event>`` on it,
    and the events it does not time are answered by :meth:`__getattr__`. So importing
    :mod:`criticlab.training` imports no transformers, and unsloth can still come first
    (:mod:`criticlab.llm.unsloth`).
    """

    def __init__(self, reward: Any = None, log_path: str | Path | None = None) -> None:
        self.reward = reward
        self.log_path = Path(log_path) if log_path else None
        self.times: list[StepTime] = []
        self._sampling = 0.0
        self._started = 0.0
        self._reward_before: dict[str, float] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            return _ignore_event
        raise AttributeError(name)

    def _timed_generate(self, generate: Any) -> Any:
        @functools.wraps(generate)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return generate(*args, **kwargs)
            finally:
                self._sampling += time.perf_counter() - started

        timed.__criticlab_timed__ = True
        return timed

    def add_sampling(self, seconds: float) -> None:
        """Sampling done outside the policy's ``generate`` (TRL's ``rollout_func``: vLLM rollouts
        on the CPU, :mod:`criticlab.training.vllm_rollouts`), which reports its own seconds here."""
        self._sampling += seconds

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        # reward records count steps from 0, step times from 1: keep what the checkpoint holds
        reward_log = getattr(self.reward, "log_path", None)
        for path, last_kept in ((reward_log, state.global_step - 1), (self.log_path, state.global_step)):
            if path is not None and Path(path).is_file():
                keep_steps_upto(Path(path), last_kept)
        # TRL generates with the unwrapped policy, which on one device is this very object.
        if model is not None and not getattr(model.generate, "__criticlab_timed__", False):
            model.generate = self._timed_generate(model.generate)

    def _reward_seconds(self) -> dict[str, float]:
        return dict(getattr(self.reward, "seconds", {}) or {})

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.reward is not None:
            self.reward.step = state.global_step
        self._sampling = 0.0
        self._reward_before = self._reward_seconds()
        self._started = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        seconds = time.perf_counter() - self._started
        after = self._reward_seconds()

        def spent(part: str) -> float:
            return after.get(part, 0.0) - self._reward_before.get(part, 0.0)

        record = StepTime(state.global_step, seconds, self._sampling, spent("revision"), spent("execution"))
        self.times.append(record)
        if self.log_path is not None:
            append_jsonl(self.log_path, [record.to_dict()])


def keep_steps_upto(path: Path, last: int) -> None:
    """Rewrite a JSONL log (atomically) without the records of steps after ``last``: a resumed
    run trains those steps again and logs them anew."""
    rows = read_jsonl(path)
    kept = [row for row in rows if int(row.get("step", -1)) <= last]
    if len(kept) != len(rows):
        write_jsonl(path, kept)


def summarize(times: list[StepTime], skip_first: bool = True) -> dict[str, float]:
    """Mean seconds per step and per part; the first step (model warm-up, caches) is left out
    when there are others."""
    kept = times[1:] if skip_first and len(times) > 1 else times
    if not kept:
        return {}
    out = {"steps": float(len(kept)), "seconds": sum(t.seconds for t in kept) / len(kept)}
    for part in PARTS:
        out[part] = sum(getattr(t, part) for t in kept) / len(kept)
    return out

"""The trajectory schema and its one loader.

A :class:`Trajectory` is a problem's sample through its rounds: ``rounds[0]`` is the zero-shot
solution, round k the solution after k revisions, each with its execution result and, when it
was critiqued, the critique and the critic's parsed judgment. Trajectories are JSONL on disk,
one line each; :func:`load_trajectories` is how every reader (the loop when resuming,
evaluation, analysis, the trajectory browser) reads them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from criticlab import stages
from criticlab.io import iter_jsonl
from criticlab.sandbox.types import ExecResult


def rename_legacy_judgment(row: dict[str, Any]) -> dict[str, Any]:
    """Records written before the critic's judgment had its own name kept it under ``verdict``
    (the sandbox's word); read them under ``judgment``. Changes ``row`` in place and returns it."""
    if "verdict" in row:
        row["judgment"] = row.pop("verdict")
    return row


@dataclass
class Round:
    """One solution in a trajectory and, when it was critiqued, the critique of it."""

    response: str
    code: str | None
    result: ExecResult
    critique: str | None = None
    judgment: str | None = None
    """The critic's parsed judgment of *this* round's solution: correct, incorrect or None."""
    finish_reason: str = "stop"
    critique_finish_reason: str | None = None

    @property
    def correct(self) -> bool:
        return self.result.accepted

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["result"] = self.result.to_dict()
        return out

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Round:
        row = rename_legacy_judgment(dict(row))  # written before the judgment had its own name
        row["result"] = ExecResult.from_dict(row["result"])
        return cls(**row)


@dataclass
class Trajectory:
    """A problem's sample through its rounds: ``rounds[0]`` is the zero-shot solution."""

    problem_id: str
    sample: int
    method: str
    rounds: list[Round] = field(default_factory=list)
    stopped: str = ""
    """Why revising ended early: ``critic_correct`` (stop_when_correct) or empty."""

    @property
    def final(self) -> Round:
        return self.rounds[-1]

    def correct_after(self, k: int) -> bool:
        """Correctness after k revisions (a trajectory that stopped early keeps its last solution)."""
        return self.rounds[min(k, len(self.rounds) - 1)].correct

    @property
    def has_infra_error(self) -> bool:
        return any(r.result.is_infra_error for r in self.rounds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "problem_id": self.problem_id,
            "sample": self.sample,
            "method": self.method,
            "stopped": self.stopped,
            "rounds": [r.to_dict() for r in self.rounds],
        }

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Trajectory:
        return cls(
            problem_id=row["problem_id"],
            sample=row["sample"],
            method=row["method"],
            stopped=row.get("stopped", ""),
            rounds=[Round.from_dict(r) for r in row["rounds"]],
        )


ZERO_SHOT = "zero_shot"
"""The method without a critic: round 0 only."""
STOP_SUFFIX = "+stop"
"""Appended to a method's name when its loop stops once the critic judges a solution Correct."""


def stops_when_correct(method: str) -> bool:
    """Whether a method's trajectories stop at the critic's Correct (``<method>+stop``)."""
    return method.endswith(STOP_SUFFIX)


def revises_every_round(method: str) -> bool:
    """Methods whose every trajectory takes every round: their steps are the Markov chain's."""
    return not stops_when_correct(method) and method != ZERO_SHOT


def load_trajectories(
    path: str | Path | None, method: str | None = None
) -> dict[tuple[str, int], Trajectory]:
    """Trajectories already on disk (a crash-truncated last line is ignored), keyed by (problem, sample)."""
    if path is None or not Path(path).is_file():
        return {}
    out = {}
    for row in iter_jsonl(path, skip_truncated_tail=True):
        trajectory = Trajectory.from_dict(row)
        if method is None or trajectory.method == method:
            out[(trajectory.problem_id, trajectory.sample)] = trajectory
    return out


def load_stage_trajectories(stage_dir: str | Path) -> list[Trajectory]:
    """Every evaluation method's trajectories in a stage directory (07's ``<method>.jsonl`` files).

    The pairwise pool and the JudgeBench judgments (:data:`criticlab.stages.NOT_TRAJECTORIES`) are
    not methods and are left out. Files in name order, trajectories in file order.
    """
    return [
        t
        for path in sorted(Path(stage_dir).glob("*.jsonl"))
        if path.name not in stages.NOT_TRAJECTORIES
        for t in load_trajectories(path).values()
    ]

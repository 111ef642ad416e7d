"""Loading 07's stage directory: every method's trajectories, and nothing that is not one."""

from __future__ import annotations

from pathlib import Path

from criticlab import stages
from criticlab.io import write_jsonl
from criticlab.rollout import Round, Trajectory, load_stage_trajectories
from criticlab.sandbox.types import ExecResult, Verdict


def rnd(code: str, ok: bool) -> Round:
    result = ExecResult(verdict=Verdict.ACCEPTED if ok else Verdict.WRONG_ANSWER, passed=int(ok), total=1)
    return Round(response=f"```python\n{code}```", code=code, result=result)


def test_stage_loader_reads_methods_and_skips_the_pool_and_judgebench_files(tmp_path: Path) -> None:
    solved = Trajectory("add", 0, "self_critique", [rnd("def add(a, b):\n    return a + b\n", True)])
    write_jsonl(tmp_path / stages.trajectories_file("self_critique"), [solved.to_dict()])
    pool = Trajectory("add", 0, "pairwise_pool", [rnd("x = 1\n", False)])
    write_jsonl(tmp_path / stages.PAIRWISE_POOL, [pool.to_dict()])
    # a JudgeBench record has no problem_id: read as a trajectory it would raise KeyError
    write_jsonl(
        tmp_path / stages.JUDGEBENCH_JUDGMENTS,
        [{"critic": "self_critique", "pair_id": "p1", "votes": [1, 0]}],
    )
    loaded = load_stage_trajectories(tmp_path)
    assert [(t.problem_id, t.method, t.rounds[0].correct) for t in loaded] == [("add", "self_critique", True)]

"""The critique→revision loop on the real sandbox, driven by a scripted engine (fast, exact)."""

from __future__ import annotations

import pytest
from scripted import ADD, BROKEN, ECHO, PROSE, ScriptedEngine

from criticlab.io import read_jsonl
from criticlab.llm.cache import CachedEngine
from criticlab.rollout.loop import NO_CODE, LoopConfig, run_loop
from criticlab.rollout.trajectory import Trajectory, load_trajectories
from criticlab.sandbox import Verdict


def test_self_critique_rounds_fix_the_solution(executor) -> None:
    config = LoopConfig(method="self", critic_mode="self_critique", rounds=2, samples=2)
    trajectories = run_loop([ADD, ECHO], ScriptedEngine(), executor, config)
    assert [(t.problem_id, t.sample) for t in trajectories] == [
        ("add", 0),
        ("add", 1),
        ("echo", 0),
        ("echo", 1),
    ]
    for t in trajectories:
        assert [r.result.verdict for r in t.rounds] == [
            Verdict.WRONG_ANSWER,
            Verdict.ACCEPTED,
            Verdict.ACCEPTED,
        ]
        assert [r.judgment for r in t.rounds] == ["incorrect", "correct", None]
        assert t.rounds[0].critique.endswith("Overall judgment: Incorrect")
        assert t.correct_after(0) is False and t.correct_after(1) is True and t.correct_after(5) is True


def test_stop_when_correct_keeps_the_judged_solution(executor) -> None:
    config = LoopConfig(method="stop", critic_mode="self_critique", rounds=3, stop_when_correct=True)
    [t] = run_loop([ADD], ScriptedEngine(), executor, config)
    assert len(t.rounds) == 2 and t.stopped == "critic_correct"
    assert t.final.judgment == "correct" and t.correct_after(3)


def test_zero_shot_has_one_round_and_no_critique(executor) -> None:
    [t] = run_loop([ECHO], ScriptedEngine(), executor, LoopConfig(method="zs", critic_mode="none", rounds=4))
    assert len(t.rounds) == 1 and t.rounds[0].critique is None


def test_execution_feedback_shows_the_failing_test(executor) -> None:
    config = LoopConfig(method="exec", critic_mode="execution_feedback", rounds=1)
    [t] = run_loop([ECHO], ScriptedEngine(), executor, config)
    critique = t.rounds[0].critique
    assert "Input:\n1" in critique and "Expected output:\n2" in critique and "Actual output:\n3" in critique
    # the judgment is the tests' own: a failing solution is judged incorrect, so +stop never stops it
    assert t.rounds[0].judgment == "incorrect" and t.final.correct


def test_execution_feedback_with_stop_stops_when_every_test_passes(executor) -> None:
    # the scripted generator answers wrong first and right once revised
    config = LoopConfig(
        method="exec+stop", critic_mode="execution_feedback", rounds=3, stop_when_correct=True
    )
    generator = ScriptedEngine()
    [t] = run_loop([ADD], generator, executor, config)
    assert [r.judgment for r in t.rounds] == ["incorrect", "correct"] and t.final.correct
    assert t.stopped == "critic_correct" and generator.samples == 2


def test_external_critic_engine_is_used(executor) -> None:
    critic = ScriptedEngine()
    generator = ScriptedEngine()
    run_loop(
        [ADD], generator, executor, LoopConfig(method="c", critic_mode="critic", rounds=1), critic=critic
    )
    assert critic.samples == 1 and generator.samples == 2
    with pytest.raises(ValueError, match="needs a critic engine"):
        run_loop([ADD], generator, executor, LoopConfig(method="c", critic_mode="critic"))


def test_malformed_answers_are_recorded_outcomes(executor) -> None:
    config = LoopConfig(method="m", critic_mode="self_critique", rounds=1)
    prose, broken = run_loop([PROSE, BROKEN], ScriptedEngine(), executor, config)
    assert prose.rounds[0].code is None
    assert prose.rounds[0].result.verdict is Verdict.COMPILE_ERROR and prose.rounds[0].result.error == NO_CODE
    assert broken.rounds[0].result.is_infra_error and "scripted failure" in broken.rounds[0].result.error
    assert broken.has_infra_error and not prose.has_infra_error


def test_trajectories_round_trip_through_jsonl(executor, tmp_path) -> None:
    out = tmp_path / "t.jsonl"
    trajectories = run_loop(
        [ADD, ECHO], ScriptedEngine(), executor, LoopConfig(method="rt", rounds=1), out_path=out
    )
    again = [Trajectory.from_dict(row) for row in read_jsonl(out)]
    assert [t.to_dict() for t in again] == [t.to_dict() for t in trajectories]


def test_interrupted_run_resumes_without_repeating_work(executor, tmp_path) -> None:
    out = tmp_path / "t.jsonl"
    cache = tmp_path / "cache.sqlite"
    config = LoopConfig(method="r", critic_mode="self_critique", rounds=1, chunk_size=1)
    problems = [ADD, ECHO, PROSE]
    full = ScriptedEngine()
    run_loop(problems, full, executor, config)  # how many samples a whole run needs: 3 per problem
    assert full.samples == 9

    killed = CachedEngine(ScriptedEngine(fail_after=4), cache)  # dies inside the second chunk
    with pytest.raises(KeyboardInterrupt):
        run_loop(problems, killed, executor, config, out_path=out)
    assert list(load_trajectories(out)) == [("add", 0)]  # the finished chunk is on disk

    resumed_engine = ScriptedEngine()
    resumed = CachedEngine(resumed_engine, cache)
    trajectories = run_loop(problems, resumed, executor, config, out_path=out)
    assert [t.problem_id for t in trajectories] == ["add", "echo", "prose"]
    assert resumed_engine.samples == 9 - 3 - 1  # chunk 1 from disk, chunk 2's first sample from the cache
    again = CachedEngine(ScriptedEngine(), cache)
    assert run_loop(problems, again, executor, config, out_path=out) == trajectories and again.calls == 0
    assert len(read_jsonl(out)) == 3


class TrailingCritic(ScriptedEngine):
    """A critic whose judgment is followed by one more sentence: only critic-rl's substring test reads it."""

    def generate(self, conversations, sampling, n=1):
        rows = super().generate(conversations, sampling, n)
        return [[type(c)(text=c.text + "\nThat is my review.") for c in row] for row in rows]


class RecordingGenerator(ScriptedEngine):
    def __init__(self) -> None:
        super().__init__()
        self.conversations: list = []

    def generate(self, conversations, sampling, n=1):
        self.conversations += list(conversations)
        return super().generate(conversations, sampling, n)


@pytest.mark.parametrize("parser, judgment", [("workbook", None), ("reference", "incorrect")])
def test_the_loop_reads_judgments_and_asks_for_revisions_as_its_profile_says(
    executor, parser, judgment
) -> None:
    from criticlab.evaluation import parser_disagreements

    generator = RecordingGenerator()
    config = LoopConfig(method="c", critic_mode="critic", rounds=1, parser=parser, revision_request=parser)
    [t] = run_loop([ADD], generator, executor, config, critic=TrailingCritic())
    assert t.rounds[0].judgment == judgment
    request = generator.conversations[-1][-1]["content"]
    assert request.endswith(
        "Please finalize your answer accordingly using the same format."
        if parser == "reference"
        else "in a single ```python code block."
    )
    assert parser_disagreements([t]) == 1  # either way, the count says the two rules read it otherwise

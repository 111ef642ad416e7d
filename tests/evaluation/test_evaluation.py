"""Method resolution, trained-critic discovery, and the pairwise-judgment protocol."""

from __future__ import annotations

import pytest
from scripted import ADD, RIGHT, WRONG, ScriptedEngine

from criticlab import config, evaluation
from criticlab.llm.base import SamplingParams
from criticlab.rollout.loop import LoopConfig, run_loop
from criticlab.rollout.trajectory import Round, Trajectory
from criticlab.sandbox.types import ExecResult, Verdict


@pytest.fixture
def profile(tmp_path, monkeypatch):
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    return config.load_profile("smoke")


def test_baselines_get_stop_variants_and_untrained_critics_are_skipped(profile) -> None:
    methods, skipped = evaluation.resolve_methods(profile, ["zero_shot", "self_critique"])
    assert [m.name for m in methods] == ["zero_shot", "self_critique", "self_critique+stop"]
    assert methods[2].stop_when_correct and not methods[1].stop_when_correct
    assert set(skipped) == {"ctrl_sft", "ctrl_grpo"} and "no checkpoint yet" in skipped["ctrl_sft"]


def test_trained_critic_is_found_once_its_checkpoint_exists(profile) -> None:
    final = profile.paths.checkpoints_dir / "sft" / "final"
    final.mkdir(parents=True)
    (final / "adapter_config.json").write_text("{}")
    methods, skipped = evaluation.resolve_methods(profile, ["zero_shot"])
    sft = next(m for m in methods if m.name == "ctrl_sft")
    assert sft.critic_mode == "critic" and sft.critic_model == str(final)
    assert "ctrl_sft" not in skipped and "ctrl_grpo" in skipped


def test_a_profile_can_evaluate_only_the_critic_under_study(profile) -> None:
    import dataclasses

    for name in ("sft", "grpo"):
        (profile.paths.checkpoints_dir / name / "final").mkdir(parents=True)
        (profile.paths.checkpoints_dir / name / "final" / "config.json").write_text("{}")
    only_grpo = dataclasses.replace(
        profile, evaluation=dataclasses.replace(profile.evaluation, trained_critics=["ctrl_grpo"])
    )
    methods, skipped = evaluation.resolve_methods(only_grpo, ["zero_shot"])
    assert [m.name for m in methods] == ["zero_shot", "ctrl_grpo", "ctrl_grpo+stop"] and not skipped
    asked, _ = evaluation.resolve_methods(
        only_grpo, ["zero_shot", "ctrl_sft"]
    )  # asked for by name: still run
    assert "ctrl_sft" in [m.name for m in asked]
    typo = dataclasses.replace(
        profile, evaluation=dataclasses.replace(profile.evaluation, trained_critics=["ctrl_rl"])
    )
    with pytest.raises(ValueError, match="trained_critics of smoke: unknown critic 'ctrl_rl'"):
        evaluation.resolve_methods(typo, ["zero_shot"])


def test_unknown_method_is_an_error(profile) -> None:
    with pytest.raises(ValueError, match="unknown method 'self_critic'"):
        evaluation.resolve_methods(profile, ["self_critic"])


def test_loop_config_follows_the_profile(profile) -> None:
    cfg = evaluation.loop_config(evaluation.Method("self_critique", "self_critique"), profile)
    assert cfg.rounds == profile.evaluation.rounds and cfg.revision_sampling.greedy
    assert cfg.critique_sampling.temperature == profile.sampling.temperature


def traj(pid: str, sample: int, correct: bool, code: str) -> Trajectory:
    result = ExecResult(Verdict.ACCEPTED if correct else Verdict.WRONG_ANSWER, int(correct), 1)
    return Trajectory(pid, sample, "pool", [Round(response=code, code=code, result=result)])


def test_pairs_need_a_passing_and_a_failing_sample() -> None:
    pool = [
        traj("add", 0, False, "bad"),
        traj("add", 1, True, "good"),
        traj("add", 2, True, "good2"),
        traj("other", 0, True, "x"),
        traj("other", 1, True, "y"),
    ]
    pairs = evaluation.response_pairs({"add": ADD, "other": ADD}, pool)
    assert [(p.problem.id, p.correct_code, p.incorrect_code) for p in pairs] == [("add", "good", "bad")]


def test_judge_pairs_with_an_honest_critic_wins_every_pair(executor) -> None:
    pool = run_loop([ADD], ScriptedEngine(), executor, LoopConfig(method="pool", critic_mode="none"))
    assert not pool[0].final.correct
    pair = evaluation.ResponsePair(ADD, RIGHT["add"], WRONG["add"])
    judged = evaluation.critique_pairs([pair], ScriptedEngine(), SamplingParams(), k=3)
    assert judged[0].correct == ["correct"] * 3 and judged[0].incorrect == ["incorrect"] * 3
    curve = evaluation.majority_curve(judged)
    assert list(curve["accuracy"]) == [1.0, 1.0, 1.0]


def test_run_methods_sends_every_methods_round_to_one_engine_call(profile, executor, monkeypatch) -> None:
    """07's methods run together: one critique call for both critic methods, one revision call for
    all, the trajectories equal to running the methods one after another."""
    import json

    from scripted import ECHO

    from criticlab.evaluation import methods as module
    from criticlab.io import read_jsonl

    class Recording(ScriptedEngine):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[int] = []

        def generate(self, conversations, sampling, n=1):
            self.calls.append(len(conversations) * n)
            return super().generate(conversations, sampling, n)

    engines: dict[str, Recording] = {}

    def fake_engine_for(cfg, role, *, model=None, cached=True):
        return engines.setdefault(model or role, Recording())

    monkeypatch.setattr(module, "engine_for", fake_engine_for)
    chosen, _ = evaluation.resolve_methods(
        profile, ["zero_shot", "execution_feedback", "self_critique", "critic:judge"]
    )
    out = {}
    for together in (False, True):
        engines.clear()
        folder = profile.paths.root / f"together-{together}"
        results = evaluation.run_methods([ADD, ECHO], profile, executor, chosen, folder, together=together)
        out[together] = {
            name: [json.dumps(read_jsonl(folder / f"{name.replace(':', '_')}.jsonl"))] for name in results
        }
        if together:
            generator, critic = engines["generator"], engines["judge"]
            # round 0 once (2 problems); the self-critiques, the same for both variants, asked
            # once; then one call with the revisions of all 6 revising methods, each distinct
            # conversation once: execution feedback's 2, and 2 under the critiques (the scripted
            # critic and the generator write the same critique)
            assert generator.calls == [2, 2, 4]
            assert critic.calls == [2]  # critic:judge and critic:judge+stop share their critiques
        else:
            assert len(engines["generator"].calls) > 3
    assert [name for name in out[True]] == [m.name for m in chosen]
    same = {name: _untimed(out[True][name]) == _untimed(out[False][name]) for name in out[True]}
    assert all(same.values()), same


def _untimed(rows: list[str]):
    import json

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("time", "timings")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return [strip(json.loads(row)) for row in rows]


def test_the_curve_follows_a_subset_further_and_repeats_the_main_rounds(
    profile, executor, monkeypatch
) -> None:
    """evaluation.curve_rounds > rounds: the first curve_problems run again for more rounds, into
    curve/; their first rounds are the main run's (the same requests)."""
    import dataclasses

    from scripted import ECHO

    from criticlab import stages
    from criticlab.evaluation import methods as module
    from criticlab.rollout.trajectory import load_stage_trajectories

    monkeypatch.setattr(module, "engine_for", lambda cfg, role, *, model=None, cached=True: ScriptedEngine())
    chosen, _ = evaluation.resolve_methods(profile, ["zero_shot", "execution_feedback", "self_critique"])
    ev = dataclasses.replace(profile.evaluation, rounds=1, curve_rounds=1, curve_problems=1)
    one_round = dataclasses.replace(profile, evaluation=ev)
    stage_dir = profile.paths.root / "07"
    assert (
        evaluation.run_curve([ADD, ECHO], one_round, executor, chosen, stage_dir) == {}
    )  # no further rounds
    main = evaluation.run_methods([ADD, ECHO], one_round, executor, chosen, stage_dir)
    longer = dataclasses.replace(one_round, evaluation=dataclasses.replace(ev, curve_rounds=3))
    curve = evaluation.run_curve([ADD, ECHO], longer, executor, chosen, stage_dir)
    assert set(curve) == set(main)
    assert {t.problem_id for group in curve.values() for t in group} == {ADD.id}
    for name, group in curve.items():
        (t,) = group
        every_round = name != "zero_shot" and not name.endswith("+stop")
        assert len(t.rounds) == 4 if every_round else len(t.rounds) <= 4  # round 0 + 3 revisions
        first = next(m for m in main[name] if m.problem_id == ADD.id)
        # the same solutions in the rounds both ran (the main run's last round carries no critique)
        assert solutions(t.rounds[: len(first.rounds)]) == solutions(first.rounds)
    # the curve's files are in curve/, apart from the main run's trajectories
    assert len(load_stage_trajectories(stage_dir)) == sum(len(g) for g in main.values())
    assert len(load_stage_trajectories(stage_dir / stages.CURVE)) == len(curve)


def solutions(rounds) -> list:
    return [(r.response, r.code, r.result.verdict, r.result.passed) for r in rounds]


def test_the_pairwise_pool_takes_the_first_pairwise_problems(profile, executor, monkeypatch) -> None:
    import dataclasses

    from scripted import ECHO

    from criticlab.evaluation import methods as module

    monkeypatch.setattr(module, "engine_for", lambda cfg, role, *, model=None, cached=True: ScriptedEngine())
    for limit, expected in ((1, [ADD.id]), (None, [ADD.id, ECHO.id])):
        ev = dataclasses.replace(profile.evaluation, pairwise_samples=2, pairwise_problems=limit)
        pool = evaluation.pairwise_pool(
            [ADD, ECHO],
            dataclasses.replace(profile, evaluation=ev),
            executor,
            profile.paths.root / f"pool-{limit}",
        )
        assert sorted({t.problem_id for t in pool}) == expected
        assert len(pool) == 2 * len(expected)  # pairwise_samples per problem


def test_the_evaluation_record_keeps_the_tables_as_rows() -> None:
    import pandas as pd

    from criticlab import stages
    from criticlab.evaluation.judgebench import JudgeBenchRun

    settings = config.EvaluationSection(rounds=2, curve_rounds=4)
    final = pd.DataFrame(
        [
            {
                "source": "pooled",
                "method": "m",
                "round": 2,
                evaluation.PASS: 50.0,
                evaluation.UP: 25.0,
                evaluation.DOWN: 0.0,
                "n": 4,
                f"{evaluation.PASS} lo": 10.0,
            }
        ]
    )
    final = final.reindex(columns=["source", *evaluation.ROUND_COLUMNS, f"{evaluation.PASS} lo"])
    judge = JudgeBenchRun(
        pairs=[],
        origin="shipped",
        too_long=3,
        max_chars=100,
        critiques=2,
        records=[],
        ks=[1, 2],
        majority=pd.DataFrame({"critic": ["c"], "k": [2]}),
        pairwise=pd.DataFrame(),
        differences=pd.DataFrame(),
    )
    curve = [Trajectory(problem_id=pid, sample=0, method="m", rounds=[]) for pid in ("a", "a", "b")]
    record = evaluation.evaluation_metrics(
        problems=4,
        settings=settings,
        methods=["m"],
        skipped={"ctrl": "no checkpoint"},
        excluded={"m": 1},
        final=final,
        pass_at_k=pd.DataFrame({"k": [1]}),
        discrimination=pd.DataFrame(),
        differences=pd.DataFrame(),
        pairs=2,
        majority=pd.DataFrame(),
        judgebench=judge,
        curve=curve,
    )
    assert isinstance(record, stages.EvaluationMetrics) and record.throughput is None
    assert list(record.final[0]) == [
        "source",
        *evaluation.ROUND_COLUMNS,
    ]  # the interval columns stay in the table
    assert (record.rounds, record.curve_rounds, record.curve_problems) == (2, 4, 2)
    assert (record.judgebench_pairs, record.judgebench_too_long, record.judgebench_critiques) == (0, 3, 2)
    assert record.judgebench == [{"critic": "c", "k": 2}] and record.pass_at_k == [{"k": 1}]
    no_curve = evaluation.evaluation_metrics(
        problems=4,
        settings=settings,
        methods=["m"],
        skipped={},
        excluded={},
        final=final,
        pass_at_k=pd.DataFrame(),
        discrimination=pd.DataFrame(),
        differences=pd.DataFrame(),
        pairs=0,
        majority=pd.DataFrame(),
        judgebench=judge,
    )
    assert (no_curve.curve_rounds, no_curve.curve_problems) == (0, 0)

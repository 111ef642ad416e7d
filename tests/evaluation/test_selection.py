"""Best-of-N: the critic's choice among sampled solutions, against random choice and the oracle."""

from __future__ import annotations

import math

import pytest
from scripted import ADD, ECHO, RIGHT, WRONG, ScriptedEngine, fenced

from criticlab.evaluation import selection
from criticlab.evaluation.metrics import POOLED, per_benchmark
from criticlab.llm.base import Completion, SamplingParams
from criticlab.rollout.loop import execute
from criticlab.rollout.trajectory import Trajectory
from criticlab.sandbox.types import ExecResult


def judged(critic, problem, passes, scores):
    return [
        selection.Judged(critic, problem, i, p, ("correct",) * s + ("incorrect",) * (2 - s))
        for i, (p, s) in enumerate(zip(passes, scores))
    ]


def test_selected_pass_is_exact_over_subsets_and_ties() -> None:
    passed = [True, False, False, False]
    assert selection.selected_pass(passed, [0, 0, 0, 0], 4) == 0.25  # all tied: random choice
    assert selection.selected_pass(passed, [1, 0, 0, 0], 4) == 1.0
    assert selection.selected_pass(passed, [0, 1, 0, 0], 4) == 0.0
    # N = 2 over the 6 pairs: the passing one is in 3 of them and always wins (score 1 vs 0)
    assert selection.selected_pass(passed, [1, 0, 0, 0], 2) == 0.5
    # a tie between the passing one and a failing one in the pair that holds both
    assert selection.selected_pass(passed, [1, 1, 0, 0], 2) == pytest.approx((0.5 + 1 + 1) / 6)
    assert selection.selected_pass(passed, [0, 0, 0, 0], 1) == 0.25
    assert math.isnan(selection.selected_pass(passed, [0] * 4, 5))


def test_selected_pass_samples_subsets_when_there_are_too_many(monkeypatch) -> None:
    monkeypatch.setattr(selection, "MAX_SUBSETS", 50)
    passed = [i % 3 == 0 for i in range(12)]
    value = selection.selected_pass(passed, [int(p) for p in passed], 4, seed=1)
    assert value == pytest.approx(1 - math.comb(8, 4) / math.comb(12, 4), abs=0.1)  # the oracle here
    assert value == selection.selected_pass(passed, [int(p) for p in passed], 4, seed=1)


def test_selection_table_against_random_and_the_oracle() -> None:
    # a perfect critic on 3 problems: one always solved, one never, one half the time
    rows = judged("perfect", "a", [True] * 4, [2] * 4)
    rows += judged("perfect", "b", [False] * 4, [0] * 4)
    rows += judged("perfect", "c", [True, False, True, False], [2, 0, 2, 0])
    rows += [
        selection.Judged(selection.ALWAYS_CORRECT, r.problem_id, r.sample, r.passed, ("correct",))
        for r in rows
    ]
    table = selection.selection_table(rows, [1, 2, 4], resamples=200)
    perfect = table[table["critic"] == "perfect"].set_index("N")
    base = table[table["critic"] == selection.ALWAYS_CORRECT].set_index("N")
    assert perfect.loc[4, "selected"] == pytest.approx(2 / 3) == perfect.loc[4, "pass@N"]
    assert perfect.loc[1, "selected"] == pytest.approx(0.5) == perfect.loc[1, "random"]
    assert perfect.loc[2, "pass@N"] == pytest.approx((1 + 0 + (1 - 1 / 6)) / 3)
    assert perfect.loc[2, "selected"] == pytest.approx(perfect.loc[2, "pass@N"])  # perfect = oracle
    assert list(base["selected"]) == pytest.approx(list(base["random"]))  # random choice
    assert (base["selected − random"].abs() < 1e-12).all() and not base["excludes 0"].any()
    assert perfect.loc[4, "selected − random"] == pytest.approx(2 / 3 - 0.5)
    lo, hi = perfect.loc[4, ["difference lo", "difference hi"]]
    assert 0 <= lo <= perfect.loc[4, "selected − random"] <= hi


def test_problems_with_too_few_solutions_are_excluded_from_that_n() -> None:
    rows = judged("c", "a", [True, False], [1, 0]) + judged("c", "b", [True, False, False, False], [0] * 4)
    rows.append(selection.Judged("c", "b", 9, False, (), infra=True))
    table = selection.selection_table(rows, [2, 4], resamples=50).set_index("N")
    assert (table.loc[2, "problems"], table.loc[2, "excluded"]) == (2, 0)
    assert (table.loc[4, "problems"], table.loc[4, "excluded"]) == (1, 1)
    only = selection.selection_table(rows, [8], resamples=10).iloc[0]
    assert only["problems"] == 0 and only["excluded"] == 2 and math.isnan(only["selected"])


def test_per_benchmark_and_pooled() -> None:
    rows = judged("c", "a", [True, False], [2, 0]) + judged("c", "b", [True, False], [0, 2])
    table = per_benchmark(selection.selection_table, rows, {"a": "x", "b": "y"}, ns=[2], resamples=50)
    assert list(table["source"]) == ["x", "y", POOLED]
    assert list(table["selected"]) == [1.0, 0.0, 0.5]


def pool(executor, codes):
    problems = [p for p, _ in codes]
    rounds = execute(executor, problems, [Completion(text=fenced(c)) for _, c in codes])
    return [
        Trajectory(problem_id=p.id, sample=i, method="selection_pool", rounds=[r])
        for i, (p, r) in enumerate(zip(problems, rounds))
    ]


def test_judge_reads_every_critique_of_every_solution(executor) -> None:
    solutions = pool(executor, [(ADD, RIGHT["add"]), (ADD, WRONG["add"]), (ECHO, WRONG["echo"])])
    solutions[2].rounds[0].result = ExecResult.sandbox_error("worker died", problem_id="echo", total=2)
    engine = ScriptedEngine()
    rows = selection.judge("honest", solutions, [ADD, ECHO], engine, SamplingParams(), k=3)
    assert [(r.sample, r.passed, r.judgments) for r in rows] == [
        (0, True, ("correct",) * 3),
        (1, False, ("incorrect",) * 3),
    ]  # the infrastructure failure is not judged
    assert engine.samples == 6
    assert [r.score for r in selection.always_correct(solutions)] == [1, 1]
    assert selection.Judged.from_dict(rows[0].to_dict()) == rows[0]


def test_07_judges_the_pool_once_per_critic(tmp_path, monkeypatch, executor) -> None:
    from criticlab import config
    from criticlab.evaluation import methods

    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    cfg = config.load_profile("smoke")
    solutions = pool(executor, [(ADD, RIGHT["add"]), (ADD, WRONG["add"])])
    engines = {"a": ScriptedEngine(), "b": ScriptedEngine()}
    rows = methods.judge_selection_pool(solutions, [ADD], cfg, engines, tmp_path)
    assert {r.critic for r in rows} == {"a", "b", selection.ALWAYS_CORRECT} and len(rows) == 6
    assert engines["a"].samples == 2 * cfg.evaluation.selection_critiques
    again = methods.judge_selection_pool(solutions, [ADD], cfg, {**engines, "c": ScriptedEngine()}, tmp_path)
    assert engines["a"].samples == 2 and len(again) == 8  # a and b read back, only c asked
    assert sorted(map(repr, again[:6])) == sorted(map(repr, rows))


def test_selection_critics_add_the_zero_shot_judges(tmp_path, monkeypatch) -> None:
    import dataclasses

    from criticlab import config
    from criticlab.evaluation import methods

    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    cfg = config.load_profile("smoke")
    cfg = dataclasses.replace(
        cfg, evaluation=dataclasses.replace(cfg.evaluation, selection_judges=["qwen2.5-coder-1.5b-instruct"])
    )
    made = []
    monkeypatch.setattr(methods, "engine_for", lambda cfg, role, model=None: made.append((role, model)))
    critics = methods.selection_critics(cfg, [])
    assert list(critics) == [methods.SELF_CRITIQUE, "judge:qwen2.5-coder-1.5b-instruct"]
    critics["judge:qwen2.5-coder-1.5b-instruct"]
    assert made == [("critic", "qwen2.5-coder-1.5b-instruct")]


class Concluder(ScriptedEngine):
    """Judges in Critique-Coder's format: T for the right code, F otherwise, nothing for echo."""

    def _answer(self, conv):
        text = conv[-1]["content"]
        if "ECHO" in text or "print(" in text:
            return Completion(text="I am not sure.")
        return Completion(text="\\conclusion{T}" if RIGHT["add"].strip() in text else "\\conclusion{F}")


def test_a_crl_judge_is_asked_and_read_in_its_own_format(executor) -> None:
    solutions = pool(executor, [(ADD, RIGHT["add"]), (ADD, WRONG["add"]), (ECHO, RIGHT["echo"])])
    rows = selection.judge(
        "crl", solutions, [ADD, ECHO], Concluder(), SamplingParams(), 1, style="conclusion"
    )
    assert [r.judgments for r in rows] == [("correct",), ("incorrect",), (None,)]
    with pytest.raises(ValueError, match="judging style 'vote'"):
        selection.judge("x", solutions, [ADD, ECHO], Concluder(), SamplingParams(), 1, style="vote")
    assert selection.judge_spec("conclusion:m") == ("m", "conclusion")
    assert selection.judge_spec("m") == ("m", "critique")


def test_06s_policy_joins_the_selectors_once_trained(tmp_path, monkeypatch) -> None:
    from criticlab import config, stages
    from criticlab.evaluation import methods

    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    cfg = config.load_profile("smoke")
    assert methods.crl_checkpoint(cfg) is None
    assert methods.CRL_CRITIC not in methods.selection_critics(cfg, [])
    final = cfg.paths.checkpoints_dir / stages.for_ratio(stages.CRL_CHECKPOINTS, cfg.crl.ratio) / stages.FINAL
    final.mkdir(parents=True)
    (final / "config.json").write_text("{}")
    critics = methods.selection_critics(cfg, [])
    assert methods.crl_checkpoint(cfg) == final
    assert (
        critics.style(methods.CRL_CRITIC) == "conclusion"
        and critics.style(methods.SELF_CRITIQUE) == "critique"
    )

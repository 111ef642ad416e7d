"""Repairability: fixed, broken and same-code shares of revisions, on the real sandbox."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest
from scripted import ADD, ECHO, RIGHT, WRONG, ScriptedEngine, fenced

from criticlab import config
from criticlab.evaluation import methods
from criticlab.evaluation import repairability as rep
from criticlab.evaluation.metrics import AVERAGE, POOLED, per_benchmark
from criticlab.io import read_json, read_jsonl
from criticlab.llm.base import Completion, SamplingParams
from criticlab.rollout.loop import LoopConfig, execute, run_loop
from criticlab.sandbox.types import ExecResult
from criticlab.tools import repairability as tool

GREEDY = SamplingParams(temperature=0.0)


class Stubborn(ScriptedEngine):
    """Critiques honestly, then answers every revision request with the code it was shown."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[list[dict]] = []

    def _answer(self, conv):
        self.seen.append(conv)
        if len(conv) == 3:
            return Completion(text=conv[1]["content"])
        return super()._answer(conv)


class Breaker(ScriptedEngine):
    """Revises every solution into a wrong one."""

    def _answer(self, conv):
        if len(conv) == 3:
            pid = "add" if "def add" in conv[0]["content"] else "echo"
            return Completion(text=fenced(WRONG[pid]))
        return super()._answer(conv)


def solutions(executor, codes):
    """(problem, sample, round) of each (problem, code), executed."""
    problems = [p for p, _ in codes]
    rounds = execute(executor, problems, [Completion(text=fenced(c)) for _, c in codes])
    return problems, [(i, r) for i, r in enumerate(rounds)]


def run(feedback, engine, executor, codes, sampled=0):
    problems, solved = solutions(executor, codes)
    return rep.revise(
        feedback,
        problems,
        solved,
        engine,
        executor,
        critic=engine,
        critique_sampling=SamplingParams(),
        revision_sampling=GREEDY,
        sampled_revisions=sampled,
    )


def test_execution_feedback_fixes_with_every_draw(executor) -> None:
    engine = ScriptedEngine()
    repairs = run(
        "execution_feedback", engine, executor, [(ADD, WRONG["add"]), (ECHO, WRONG["echo"])], sampled=2
    )
    assert [(r.problem_id, r.draw) for r in repairs] == [
        ("add", 0), ("add", 1), ("add", 2), ("echo", 0), ("echo", 1), ("echo", 2)
    ]  # fmt: skip
    assert all(not r.passed_before and r.passed_after and not r.same_code for r in repairs)
    assert {r.judgment for r in repairs} == {"incorrect"}  # the tests' own judgment
    assert engine.samples == 6  # no critique is generated: 2 greedy + 4 sampled revisions
    table = rep.repairability_table(repairs, resamples=200)
    greedy = table[table["revision"] == rep.GREEDY].iloc[0]
    assert (greedy["failing"], greedy["fixed"], greedy["fixed share"]) == (2, 2, 1.0)
    assert greedy["passing"] == 0 and math.isnan(greedy["broken share"])
    sampled = table[table["revision"] == rep.SAMPLED].iloc[0]
    assert (sampled["failing"], sampled["fixed"], sampled["revisions"], sampled["same"]) == (4, 4, 4, 0)


def test_a_generator_that_ignores_feedback_returns_the_same_code(executor) -> None:
    engine = Stubborn()
    repairs = run("self_critique", engine, executor, [(ADD, WRONG["add"]), (ADD, RIGHT["add"])])
    assert [(r.passed_before, r.passed_after, r.same_code) for r in repairs] == [
        (False, False, True),
        (True, True, True),
    ]
    assert [r.judgment for r in repairs] == ["incorrect", "correct"]  # the critique's, parsed
    critiques = [c for c in engine.seen if len(c) == 1]
    assert critiques and all("hint" not in c[0]["content"].lower() for c in critiques)
    row = rep.repairability_table(repairs, resamples=200).iloc[0]
    assert (row["fixed share"], row["broken share"], row["same code share"]) == (0.0, 0.0, 1.0)
    assert row["same code lo"] <= 1.0 == row["same code hi"]
    assert (
        row["fixed lo"] == 0.0 and row["fixed hi"] > 0.5
    )  # 0 of 1: Wilson's width, not the bootstrap's [0, 0]


def test_broken_counts_passing_solutions_made_to_fail(executor) -> None:
    repairs = run("execution_feedback", Breaker(), executor, [(ADD, RIGHT["add"]), (ECHO, WRONG["echo"])])
    row = rep.repairability_table(repairs, resamples=200).iloc[0]
    assert (row["passing"], row["broken"], row["broken share"]) == (1, 1, 1.0)
    assert (row["failing"], row["fixed"]) == (1, 0)


def test_the_hinted_critique_sees_the_execution_result_and_is_cut_after_its_judgment(executor) -> None:
    class Chatty(Stubborn):
        def _answer(self, conv):
            answer = super()._answer(conv)
            if len(conv) == 1 and "expert programmer" in conv[0]["content"]:
                return Completion(text=answer.text + "\nMore words after the judgment.")
            return answer

    engine = Chatty()
    repairs = run("hinted", engine, executor, [(ADD, WRONG["add"])])
    critique_prompt = next(c for c in engine.seen if len(c) == 1)[0]["content"]
    assert "The solution is incorrect" in critique_prompt  # 03's execution hint
    revision_request = next(c for c in engine.seen if len(c) == 3)[2]["content"]
    assert "More words" not in revision_request and "Overall judgment: Incorrect" in revision_request
    assert repairs[0].judgment == "incorrect"


def test_an_infrastructure_failure_is_excluded_and_not_revised(executor) -> None:
    engine = ScriptedEngine()
    problems, solved = solutions(executor, [(ADD, WRONG["add"])])
    broken = solved[0][1]
    broken.result = ExecResult.sandbox_error("worker died", problem_id="add", total=2)
    repairs = rep.revise(
        "execution_feedback",
        problems,
        [(0, broken)],
        engine,
        executor,
        critique_sampling=SamplingParams(),
        revision_sampling=GREEDY,
        sampled_revisions=1,
    )
    assert [r.infra for r in repairs] == [True, True] and engine.samples == 0
    table = rep.repairability_table(repairs, resamples=10)
    assert list(table["revision"]) == [rep.GREEDY, rep.SAMPLED]
    assert list(table["excluded"]) == [1, 1] and list(table["failing"]) == [0, 0]


def test_unknown_feedback_and_missing_critic_are_errors(executor) -> None:
    with pytest.raises(ValueError, match="unknown feedback 'oracle'"):
        run("oracle", ScriptedEngine(), executor, [(ADD, WRONG["add"])])
    problems, solved = solutions(executor, [(ADD, WRONG["add"])])
    with pytest.raises(ValueError, match="needs a critic engine"):
        rep.critiques("self_critique", problems, [solved[0][1]], None, SamplingParams())
    assert rep.is_feedback("critic:outputs/x") and not rep.is_feedback("critic:")


def test_from_trajectories_reads_the_same_shares_off_the_loop(executor) -> None:
    engine = ScriptedEngine()
    config_ = LoopConfig(method="execution_feedback", critic_mode="execution_feedback", rounds=2, samples=2)
    trajectories = run_loop([ADD, ECHO], engine, executor, config_)
    zero = run_loop([ADD], engine, executor, LoopConfig(method="zero_shot", critic_mode="none"))
    repairs = rep.from_trajectories(trajectories + zero)  # zero-shot has no revision
    assert len(repairs) == 4 and {r.feedback for r in repairs} == {"execution_feedback"}
    table = per_benchmark(rep.repairability_table, repairs, {"add": "a", "echo": "b"}, resamples=100)
    assert list(table["source"]) == ["a", "b", POOLED]
    assert list(table["fixed share"]) == [1.0, 1.0, 1.0] and list(table["failing"]) == [2, 2, 4]
    assert rep.ceiling(table) == 1.0 and math.isnan(rep.ceiling(table, "hinted"))


def test_same_code_ignores_blank_lines_and_trailing_spaces_only() -> None:
    assert rep.same_code("def f():\n    return 1\n", "\ndef f():   \n\n    return 1")
    assert not rep.same_code("def f():\n    return 1\n", "def f():\n  return 1\n")
    assert not rep.same_code("x = 1", None)


def test_readable_cells() -> None:
    repairs = [
        rep.Repair("p", 0, "hinted", 0, False, True, False),
        rep.Repair("p", 1, "hinted", 0, False, False, True),
    ]
    cells = rep.readable(rep.repairability_table(repairs, resamples=50)).iloc[0]
    assert cells["fixed"].startswith("1/2 = 50.0% [") and cells["broken"] == "—"
    assert cells["same code"].startswith("1/2 = 50.0%")


def test_the_tool_measures_resumes_and_writes_its_snapshot(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path / "outputs"))
    engines: list[ScriptedEngine] = []

    def engine_for(profile, role, model=None):
        engines.append(ScriptedEngine())
        return engines[-1]

    monkeypatch.setattr(tool, "engine_for", engine_for)
    out = tmp_path / "snapshot"
    argv = ["--profile", "smoke", "--benchmarks", "humaneval", "--problems", "2", "--samples", "1"]
    argv += ["--sampled", "1", "--feedback", "execution_feedback", "self_critique", "--out", str(out)]
    assert tool.main(argv) == 0
    repairs = read_jsonl(out / tool.REPAIRS)
    assert len(repairs) == 2 * 2 * 2  # problems × feedbacks × (greedy + 1 sampled)
    assert len(read_jsonl(out / tool.SOLUTIONS)) == 2
    summary = read_json(out / tool.SUMMARY)
    assert summary["generator"] == "qwen2.5-coder-0.5b-instruct" and summary["generator_sha256"]
    assert {r["feedback"] for r in summary["rows"]} == {"execution_feedback", "self_critique"}
    assert "| feedback" in (out / tool.TABLE).read_text()
    first = engines[0].samples
    assert first > 0
    assert tool.main(argv) == 0  # resumed: nothing generated again
    assert len(engines) == 1 and len(read_jsonl(out / tool.REPAIRS)) == 8  # no engine made again
    summary = read_json(out / tool.SUMMARY)
    assert (
        len(summary["commands"]) == 1 and "--sampled 1" in summary["commands"][0]["command"]
    )  # rerun: nothing made
    assert summary["commands"][0]["commit"]
    assert summary["revisions_per_solution"] == {"execution_feedback": 2, "self_critique": 2}


def test_the_ceiling_is_the_best_greedy_share_of_all_solutions_per_benchmark() -> None:
    def repairs(source_problem, feedback, fixed, failing, passing):
        out = [rep.Repair(source_problem, i, feedback, 0, False, i < fixed, False) for i in range(failing)]
        return out + [
            rep.Repair(source_problem, 100 + i, feedback, 0, True, True, True) for i in range(passing)
        ]

    records = repairs("a1", "execution_feedback", 1, 4, 4) + repairs("a1", "hinted", 2, 4, 4)
    records += repairs("b1", "execution_feedback", 0, 2, 0) + repairs("b1", "hinted", 0, 2, 0)
    records += repairs("b1", "self_critique", 1, 2, 0)
    records += [rep.Repair("b1", 9, "self_critique", 1, False, True, False)]  # a sampled fix: not counted
    table = per_benchmark(rep.repairability_table, records, {"a1": "a", "b1": "b"}, resamples=20)
    assert rep.ceilings(table) == {"a": 2 / 8, "b": 1 / 2, POOLED: 1 / 2}  # self-critique ran on b alone
    final = pd.DataFrame({"source": ["a", "b", POOLED, AVERAGE], "method": ["m"] * 4})
    with_ceiling = rep.with_ceiling(final, table)
    assert list(with_ceiling[rep.CEILING]) == [0.25, 0.5, 0.5, 0.375]


def test_07_repairability_reads_greedy_revisions_and_generates_the_rest_once(
    tmp_path, monkeypatch, executor
) -> None:
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    cfg = config.load_profile("smoke")
    cfg = dataclasses.replace(cfg, evaluation=dataclasses.replace(cfg.evaluation, repair_sampled=2))
    engine = ScriptedEngine()
    monkeypatch.setattr(methods, "engine_for", lambda *a, **k: engine)
    trajectories = []
    for name in ("execution_feedback", "self_critique"):
        loop = LoopConfig(method=name, critic_mode=name, rounds=1, samples=1)
        trajectories += run_loop([ADD, ECHO], engine, executor, loop)
    stop = LoopConfig(
        method="self_critique+stop", critic_mode="self_critique", rounds=1, stop_when_correct=True
    )
    trajectories += run_loop([ADD, ECHO], engine, executor, stop)
    engine.samples = 0
    repairs = methods.run_repairability([ADD, ECHO], cfg, executor, trajectories, tmp_path)
    kinds = {(r.feedback, r.draw) for r in repairs}
    assert kinds == {(f, d) for f in ("execution_feedback", "self_critique", "hinted") for d in (0, 1, 2)}
    assert len(repairs) == 3 * 3 * 2  # feedbacks × draws × problems; the +stop method is left out
    assert (
        engine.samples == 2 * 2 * 2 + 2 + 2 * 3
    )  # sampled draws of 2 methods, hinted critiques, hinted draws
    assert all(r.passed_after for r in repairs)  # the scripted generator always fixes
    engine.samples = 0
    again = methods.run_repairability([ADD, ECHO], cfg, executor, trajectories, tmp_path)
    assert again == repairs and engine.samples == 0


def test_the_tool_keeps_every_failing_solution_and_caps_passing_ones_per_benchmark(executor) -> None:
    problems, solved = solutions(
        executor, [(ADD, RIGHT["add"])] * 3 + [(ADD, WRONG["add"]), (ECHO, RIGHT["echo"])]
    )
    flat = [(p, i, r) for p, (i, r) in zip(problems, solved)]
    kept = tool.revised_solutions(flat, 1, seed=0)
    assert sum(not r.result.accepted for _, _, r in kept) == 1  # the failing one
    assert sum(r.result.accepted for p, _, r in kept if p.id == "add") == 1  # one passing of benchmark t
    assert len(kept) == 2  # ADD and ECHO share benchmark "t": one passing in all
    assert tool.revised_solutions(flat, None, seed=0) == flat
    assert tool.revised_solutions(flat, 1, seed=0) == kept


def test_the_tool_names_a_malformed_setting(capsys) -> None:
    with pytest.raises(SystemExit):
        tool.main(["--out", "x", "--set", "parallel=4"])
    assert "expected section.key=value" in capsys.readouterr().err

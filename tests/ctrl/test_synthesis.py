"""Stage-I synthesis on the real sandbox with a scripted engine: hints, filters, datasets."""

from __future__ import annotations

import pytest
from scripted import ADD, ECHO, RIGHT, WRONG, fenced

from criticlab import ctrl, stages
from criticlab.ctrl.datasets import balance, build_sft_rows
from criticlab.ctrl.synthesis import SynthesisOptions, SynthesisRecord
from criticlab.io import read_jsonl
from criticlab.llm.base import Completion, SamplingParams
from criticlab.rollout import prompts


class HintedEngine:
    """Solutions alternate wrong/right by sample; critiques follow the hint, one of them leaks it."""

    backend = "scripted"
    model_id = "hinted-v1"

    def __init__(self) -> None:
        self.seen: list[list[dict]] = []

    def generate(self, conversations, sampling: SamplingParams, n: int = 1):
        out = []
        for conv in conversations:
            self.seen.append(conv)
            first = conv[0]["content"]
            pid = "add" if "def add" in first else "echo"
            if "## Private hint" in conv[-1]["content"]:
                text = conv[-1]["content"]
                correct = "The solution is correct" in text
                leak = "As the hint says, " if pid == "echo" and not correct else ""
                judgment = "Correct" if correct else "Incorrect"
                out.append(
                    [
                        Completion(
                            text=f"Analysis:\n{leak}check the arithmetic.\n"
                            f"Improvement suggestions:\nnone\nOverall judgment: {judgment}"
                        )
                    ]
                )
            elif len(conv) == 1:
                out.append([Completion(text=fenced((WRONG if i % 2 == 0 else RIGHT)[pid])) for i in range(n)])
            else:
                out.append([Completion(text=fenced(RIGHT[pid]))])
        return out


def test_synthesis_records_hints_critiques_and_revisions(executor, tmp_path) -> None:
    engine = HintedEngine()
    options = SynthesisOptions(samples_per_problem=2)
    records = ctrl.synthesize([ADD, ECHO], engine, engine, executor, options, tmp_path / "s.jsonl")
    by_key = {(r.problem_id, r.sample): r for r in records}
    wrong_add, right_add = by_key[("add", 0)], by_key[("add", 1)]
    assert not wrong_add.passed and right_add.passed
    assert "approach is wrong" in wrong_add.hint  # every test fails without an error
    assert "correct" in right_add.hint and "positively" in right_add.hint
    assert wrong_add.judgment == "incorrect" and right_add.judgment == "correct"
    assert wrong_add.revision_passed and wrong_add.dropped == ""
    assert by_key[("echo", 0)].dropped == "mentions_hint"
    # the hint reached the critic, and the resumable file holds every record
    assert any("## Private hint" in conv[-1]["content"] for conv in engine.seen)
    assert len(read_jsonl(tmp_path / "s.jsonl")) == 4
    again = ctrl.synthesize(
        [ADD, ECHO], HintedEngine(), HintedEngine(), executor, options, tmp_path / "s.jsonl"
    )
    assert [r.to_dict() for r in again] == [r.to_dict() for r in records]


def test_long_hints_are_dropped_before_critique(executor, tmp_path) -> None:
    options = SynthesisOptions(samples_per_problem=2, max_hint_chars=20)
    records = ctrl.synthesize([ADD], HintedEngine(), HintedEngine(), executor, options, tmp_path / "s.jsonl")
    wrong = next(r for r in records if not r.passed)
    assert wrong.dropped == "hint_too_long" and wrong.critique == ""


def test_sft_rows_remove_the_hint_and_keep_the_critique(executor, tmp_path) -> None:
    records = ctrl.synthesize(
        [ADD, ECHO],
        HintedEngine(),
        HintedEngine(),
        executor,
        SynthesisOptions(samples_per_problem=2),
        tmp_path / "s.jsonl",
    )
    report = ctrl.write_datasets(records, {"add": ADD, "echo": ECHO}, tmp_path, balance_judgments=False)
    sft = read_jsonl(tmp_path / stages.SFT_ROWS)
    assert report.sft_rows == len(sft) == 3 and report.dropped == {"mentions_hint": 1}
    for row in sft:
        prompt = row["prompt"][0]["content"]
        assert "hint" not in prompt.lower() and prompt.startswith("You are an expert programmer reviewing")
        assert prompts.parse_judgment(row["completion"][0]["content"]) == row["judgment"]
    rl = read_jsonl(tmp_path / stages.RL_ROWS)
    assert report.rl_rows == len(rl) == 4 and {r["passed"] for r in rl} == {True, False}
    assert rl[0]["problem"]["tests"]  # rewards need the tests with the row


def record(judgment: str, passed_revision: bool, i: int) -> SynthesisRecord:
    from criticlab.sandbox.types import ExecResult, Verdict

    ok = ExecResult(Verdict.ACCEPTED, 1, 1)
    bad = ExecResult(Verdict.WRONG_ANSWER, 0, 1)
    return SynthesisRecord(
        problem_id="add",
        sample=i,
        response="",
        code="x",
        result=ok if judgment == "correct" else bad,
        critique=f"Overall judgment: {judgment.title()}",
        judgment=judgment,
        revision_result=ok if passed_revision else bad,
    )


def test_options_keep_successful_revisions_and_balance() -> None:
    records = [
        record("correct", True, 0),
        record("correct", True, 1),
        record("correct", False, 2),
        record("incorrect", True, 3),
        record("incorrect", False, 4),
    ]
    report = stages.DatasetReport()
    rows = build_sft_rows(
        records, {"add": ADD}, keep_only_successful_revisions=True, balance_judgments=True, report=report
    )
    assert report.dropped_revision_failed == 2 and report.dropped_for_balance == 1
    assert sorted(r["judgment"] for r in rows) == ["correct", "incorrect"]


def test_balance_is_deterministic_and_keeps_order() -> None:
    items = list("aaaaabbc")
    first = balance(items, key=str, seed=1)
    assert sorted(first) == ["a", "b", "c"] and first == balance(items, key=str, seed=1)
    assert balance(list("aaa"), key=str) == list("aaa")


def test_critiques_that_quote_the_hints_failing_test_are_dropped() -> None:
    from criticlab.sandbox.types import ExecResult, TestRecord, Verdict

    tests = [
        TestRecord(index=0, kind="stdio", verdict=Verdict.ACCEPTED),
        TestRecord(
            index=1,
            kind="stdio",
            verdict=Verdict.WRONG_ANSWER,
            input="120 7 19 44\n",
            expected="190\n",
            actual="189\n",
        ),
    ]
    result = ExecResult(Verdict.WRONG_ANSWER, 1, 2, tests)
    hint = prompts.execution_hint(result)
    assert "120 7 19 44" in hint

    def critiqued(text: str) -> SynthesisRecord:
        return SynthesisRecord(
            problem_id="echo",
            sample=0,
            response="",
            code="x",
            result=result,
            hint=hint,
            critique=f"Analysis:\n{text}\nImprovement suggestions:\nfix it\nOverall judgment: Incorrect",
            judgment="incorrect",
        )

    assert (
        ctrl.drop_reason(critiqued("On the input 120  7 19\n44 it prints one too few.")) == "quotes_hint_test"
    )
    # the expected output is short (3 characters): naming it is not counted as a quote
    assert ctrl.drop_reason(critiqued("The sum is off by one, so 190 becomes 189.")) == ""
    assert ctrl.drop_reason(critiqued("As the hint shows, the sum is off by one.")) == "mentions_hint"


def test_quotes_test_folds_whitespace_and_ignores_short_values() -> None:
    assert prompts.quotes_test("input was [1, 2,\n 3, 4]", ["[1, 2, 3, 4]"])
    assert not prompts.quotes_test("returns 3 instead of 4", ["3", "4"])  # too short to tell a quote
    assert not prompts.quotes_test("the loop stops early", [])


def test_balance_keeps_the_smaller_class_and_spreads_the_larger_over_problems() -> None:
    # Correct: p1 ×3, p2 ×1; Incorrect: 2 → two Correct kept, one per problem whatever the seed
    items = [("p1", "c", 0), ("p1", "c", 1), ("p1", "c", 2), ("p2", "c", 3), ("p1", "i", 4), ("p3", "i", 5)]
    for seed in range(5):
        kept = balance(items, key=lambda x: x[1], seed=seed, group=lambda x: x[0])
        assert [x for x in kept if x[1] == "i"] == items[4:]  # the smaller class whole, in order
        correct = [x for x in kept if x[1] == "c"]
        assert len(correct) == 2 and {x[0] for x in correct} == {"p1", "p2"} and items[3] in correct
        assert kept == sorted(kept, key=lambda x: x[2])


def test_balance_in_sft_rows_reports_the_mix_and_what_it_dropped() -> None:
    records = [record("correct", True, i) for i in range(5)] + [
        record("incorrect", True, 5 + i) for i in range(2)
    ]
    report = stages.DatasetReport()
    rows = build_sft_rows(records, {"add": ADD}, balance_judgments=True, report=report)
    assert report.dropped_for_balance == 3 and len(rows) == 4
    assert report.judgments["sft_critiques"] == stages.JudgmentMix(5, 2, 5 / 7, 2 / 7)
    assert report.judgments["sft_rows"] == stages.JudgmentMix(2, 2, 0.5, 0.5)
    assert report.judgments["samples"].incorrect == 2


def rl_row(problem: str, passed: bool, i: int) -> dict:
    return {"problem_id": problem, "sample": i, "passed": passed}


def test_rl_mix_reaches_the_share_in_every_prefix() -> None:
    rows = [rl_row(f"p{i % 3}", True, i) for i in range(6)] + [rl_row("q", False, 6), rl_row("r", False, 7)]
    mixed, dropped = ctrl.mix_rl_rows(rows, 0.5, seed=0)
    # 2 failing allow 4 rows at 50%: 2 passing kept, 4 dropped; order C, I, C, I
    assert dropped == 4 and [r["passed"] for r in mixed] == [True, False, True, False]
    assert len({r["problem_id"] for r in mixed if r["passed"]}) == 2  # spread over the problems
    quarter, none_dropped = ctrl.mix_rl_rows(rows, 0.25, seed=0)
    assert none_dropped == 0 and len(quarter) == 8
    assert all(sum(not r["passed"] for r in quarter[:k]) == k * 2 // 8 for k in range(1, 9))
    assert ctrl.mix_rl_rows(rows, None) == (rows, 0)
    only_passing = [r for r in rows if r["passed"]]
    assert ctrl.mix_rl_rows(only_passing, 0.5)[1] == 0  # nothing to mix with: all kept
    assert len(ctrl.mix_rl_rows(only_passing, 0.5)[0]) == 6
    with pytest.raises(ValueError, match=r"synthesis\.rl_incorrect_share must be within \[0, 1\]"):
        ctrl.mix_rl_rows(rows, 1.5)


def test_judgment_mix_counts_labels_and_judgments() -> None:
    assert stages.JudgmentMix.of([True, False, "correct", "incorrect", None]) == stages.JudgmentMix(
        2, 3, 0.4, 0.6
    )
    assert stages.JudgmentMix.of([]) == stages.JudgmentMix(0, 0, 0.0, 0.0)
    assert str(stages.JudgmentMix.of([True, False])) == "2 (1 Correct / 1 Incorrect, 50% Incorrect)"


def test_heldout_samples_are_not_critiqued_and_datasets_mix_them(executor, tmp_path) -> None:
    engine = HintedEngine()
    options = SynthesisOptions(samples_per_problem=2, critique=False, chunk_sequences=2)
    held = ctrl.synthesize([ADD, ECHO], engine, engine, executor, options, tmp_path / "h.jsonl")
    assert len(held) == 4 and not any(r.critique for r in held)
    assert all(len(conv) == 1 for conv in engine.seen)  # generation prompts only, no critique or revision
    assert options.problems_per_chunk == 1
    records = ctrl.synthesize(
        [ADD, ECHO],
        HintedEngine(),
        HintedEngine(),
        executor,
        SynthesisOptions(samples_per_problem=2),
        tmp_path / "s.jsonl",
    )
    report = ctrl.write_datasets(
        records,
        {"add": ADD, "echo": ECHO},
        tmp_path,
        balance_judgments=False,
        rl_incorrect_share=0.5,
        heldout_records=held,
    )
    heldout = read_jsonl(tmp_path / stages.RL_HELDOUT)
    assert report.rl_heldout_rows == len(heldout) == 4
    assert report.judgments["grpo_heldout"] == stages.JudgmentMix(2, 2, 0.5, 0.5)
    assert set(report.judgments) == set(stages.MIX_STAGES)


def test_critiques_that_quote_a_failing_test_line_or_its_exception_are_dropped() -> None:
    """A runtime error's hint shows the line that raised and the exception: quoting a test's assert
    line or a detailed exception message leaks the test; quoting the candidate's own line does not."""
    from criticlab.sandbox.types import ExecResult, TestRecord, Verdict

    def failing(line: str, exception: str) -> ExecResult:
        tb = (
            f'Traceback (most recent call last):\n  File "t.py", line 9, in <module>\n    {line}\n{exception}'
        )
        test = TestRecord(
            index=0, kind="call", verdict=Verdict.RUNTIME_ERROR, exception=exception, traceback=tb
        )
        return ExecResult(Verdict.RUNTIME_ERROR, 0, 1, [test])

    code = "def up(s):\n    n = int(s)\n    return s.lower()\n"

    def critiqued(result: ExecResult, text: str) -> SynthesisRecord:
        return SynthesisRecord(
            problem_id="p",
            sample=0,
            response="",
            code=code,
            result=result,
            hint=prompts.execution_hint(result),
            judgment="incorrect",
            critique=f"Analysis:\n{text}\nOverall judgment: Incorrect",
        )

    test_line = failing('assert up("person") == "PERSON"', "AssertionError")
    assert (
        ctrl.drop_reason(critiqued(test_line, 'It fails assert up("person") == "PERSON".'))
        == "quotes_hint_test"
    )
    assert (
        ctrl.drop_reason(critiqued(test_line, "It lowers instead of raising the case; AssertionError.")) == ""
    )
    own_line = failing("n = int(s)", "ValueError: invalid literal for int() with base 10: 'M'")
    assert ctrl.drop_reason(critiqued(own_line, "The line n = int(s) converts a string of letters.")) == ""
    leaked = "It raises ValueError: invalid literal for int() with base 10: 'M'."
    assert ctrl.drop_reason(critiqued(own_line, leaked)) == "quotes_hint_test"

"""Stage-I synthesis on the real sandbox with a scripted engine: hints, filters, datasets."""

from __future__ import annotations

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
                out.append([Completion(text=f"Analysis:\n{leak}check the arithmetic.\n"
                                            f"Improvement suggestions:\nnone\nOverall judgment: {judgment}")])
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
    again = ctrl.synthesize([ADD, ECHO], HintedEngine(), HintedEngine(), executor, options, tmp_path / "s.jsonl")
    assert [r.to_dict() for r in again] == [r.to_dict() for r in records]


def test_long_hints_are_dropped_before_critique(executor, tmp_path) -> None:
    options = SynthesisOptions(samples_per_problem=2, max_hint_chars=20)
    records = ctrl.synthesize([ADD], HintedEngine(), HintedEngine(), executor, options, tmp_path / "s.jsonl")
    wrong = next(r for r in records if not r.passed)
    assert wrong.dropped == "hint_too_long" and wrong.critique == ""


def test_sft_rows_remove_the_hint_and_keep_the_critique(executor, tmp_path) -> None:
    records = ctrl.synthesize([ADD, ECHO], HintedEngine(), HintedEngine(), executor,
                                   SynthesisOptions(samples_per_problem=2), tmp_path / "s.jsonl")
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
    return SynthesisRecord(problem_id="add", sample=i, response="", code="x", result=ok if judgment == "correct" else bad,
                           critique=f"Overall judgment: {judgment.title()}", judgment=judgment,
                           revision_result=ok if passed_revision else bad)


def test_options_keep_successful_revisions_and_balance() -> None:
    records = [record("correct", True, 0), record("correct", True, 1), record("correct", False, 2),
               record("incorrect", True, 3), record("incorrect", False, 4)]
    report = stages.DatasetReport()
    rows = build_sft_rows(records, {"add": ADD}, keep_only_successful_revisions=True, balance_judgments=True,
                          report=report)
    assert report.dropped_revision_failed == 2 and report.dropped_for_balance == 1
    assert sorted(r["judgment"] for r in rows) == ["correct", "incorrect"]


def test_balance_is_deterministic_and_keeps_order() -> None:
    items = list("aaaaabbc")
    first = balance(items, key=str, seed=1)
    assert sorted(first) == ["a", "b", "c"] and first == balance(items, key=str, seed=1)
    assert balance(list("aaa"), key=str) == list("aaa")


def test_critiques_that_quote_the_hints_failing_test_are_dropped() -> None:
    from criticlab.sandbox.types import ExecResult, TestRecord, Verdict

    tests = [TestRecord(index=0, kind="stdio", verdict=Verdict.ACCEPTED),
             TestRecord(index=1, kind="stdio", verdict=Verdict.WRONG_ANSWER, input="120 7 19 44\n",
                        expected="190\n", actual="189\n")]
    result = ExecResult(Verdict.WRONG_ANSWER, 1, 2, tests)
    hint = prompts.execution_hint(result)
    assert "120 7 19 44" in hint

    def critiqued(text: str) -> SynthesisRecord:
        return SynthesisRecord(problem_id="echo", sample=0, response="", code="x", result=result, hint=hint,
                               critique=f"Analysis:\n{text}\nImprovement suggestions:\nfix it\nOverall judgment: Incorrect",
                               judgment="incorrect")

    assert ctrl.drop_reason(critiqued("On the input 120  7 19\n44 it prints one too few.")) == "quotes_hint_test"
    # the expected output is short (3 characters): naming it is not counted as a quote
    assert ctrl.drop_reason(critiqued("The sum is off by one, so 190 becomes 189.")) == ""
    assert ctrl.drop_reason(critiqued("As the hint shows, the sum is off by one.")) == "mentions_hint"


def test_quotes_test_folds_whitespace_and_ignores_short_values() -> None:
    assert prompts.quotes_test("input was [1, 2,\n 3, 4]", ["[1, 2, 3, 4]"])
    assert not prompts.quotes_test("returns 3 instead of 4", ["3", "4"])  # too short to tell a quote
    assert not prompts.quotes_test("the loop stops early", [])

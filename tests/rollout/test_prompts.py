"""Parsers and prompts against hand-written edge cases."""

from __future__ import annotations

import pytest

from criticlab.data.types import Problem, Test
from criticlab.rollout import prompts
from criticlab.rollout.prompts import extract_code, parse_conclusion, parse_judgment
from criticlab.sandbox.types import ExecResult, TestRecord, Verdict

FN = Problem(
    id="p1",
    source="t",
    question='def add(a, b):\n    """Add."""\n',
    kind="functional",
    entry_point="add",
    tests=[Test(kind="call", args=[1, 2], expected=3)],
)
IO = Problem(
    id="p2",
    source="t",
    question="Read n, print n+1.",
    kind="stdio",
    tests=[Test(kind="stdio", input="1\n", output="2\n")],
)


# --- code extraction ----------------------------------------------------------------------------


def test_first_python_fence() -> None:
    text = "Here:\n```python\nprint(1)\n```\nand also\n```python\nprint(2)\n```\n"
    assert extract_code(text) == "print(1)\n"


def test_unlabelled_and_py_fences_count() -> None:
    assert extract_code("```\nx = 1\n```") == "x = 1\n"
    assert extract_code("```py\nx = 2\n```") == "x = 2\n"


def test_unterminated_fence_runs_to_the_end() -> None:
    assert extract_code("Solution:\n```python\ndef f():\n    return 1\n") == "def f():\n    return 1\n"


def test_no_fence_is_none_not_a_guess() -> None:
    assert extract_code("def f():\n    return 1\n") is None
    assert extract_code("") is None


def test_other_language_blocks_are_skipped() -> None:
    text = "Input:\n```text\n3 4\n```\nCode:\n```python\nprint(7)\n```"
    assert extract_code(text) == "print(7)\n"


def test_empty_block_is_empty_string() -> None:
    assert extract_code("```python\n```") == ""


def test_inline_backticks_are_not_fences() -> None:
    assert extract_code("call ```f``` here") is None


# --- judgments -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("critique", "expected"),
    [
        ("Analysis:\nok\nImprovement suggestions:\nnone\nOverall judgment: Correct", "correct"),
        ("...\nOverall judgment: Incorrect", "incorrect"),
        ("...\n**Overall judgment: Incorrect**", "incorrect"),
        ("...\n**Overall judgment:** **Correct**", "correct"),
        ("...\noverall judgment: incorrect.", "incorrect"),
        ("...\n### Overall Judgment: CORRECT", "correct"),
        ("...\n- Overall judgment: `Incorrect`", "incorrect"),
        ("...\nOverall judgement: Correct", "correct"),
        ("...\nOverall judgment: Incorrect\n\n---\n", "incorrect"),
        ("...\nOverall judgment: Incorrect\n```", "incorrect"),
    ],
)
def test_verdict_tolerates_decoration(critique: str, expected: str) -> None:
    assert parse_judgment(critique) == expected


@pytest.mark.parametrize(
    "critique",
    [
        "Analysis: fine.\nImprovement suggestions: none.",  # missing
        "",
        "Overall judgment: Correct\nBut wait, there is a bug in the loop.",  # not the last line
        "Overall judgment: Partially correct",
        "Overall judgment: Correct or Incorrect",
        "The overall judgment: Correct is what I would say",
    ],
)
def test_verdict_missing_or_not_on_last_line(critique: str) -> None:
    assert parse_judgment(critique) is None


def test_verdict_mid_text_contradicted_at_the_end() -> None:
    critique = (
        "Analysis:\nAt first glance, Overall judgment: Correct.\nBut the loop is off by one.\n"
        "Improvement suggestions:\nFix the bound.\nOverall judgment: Incorrect"
    )
    assert parse_judgment(critique) == "incorrect"


# --- CRL conclusions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("It works. \\conclusion{T}", "T"),
        ("Bug on line 3. \\conclusion{F}", "F"),
        ("First \\conclusion{T}, on reflection \\conclusion{F}", "F"),  # last match wins
        ("<think>maybe \\conclusion{T}</think>\nIt fails on n=0. \\conclusion{F}", "F"),
        ("<think>looks right \\conclusion{F}</think>\nCorrect. \\conclusion{T}", "T"),
        ("<think>only deliberating \\conclusion{T}</think>\nNo answer given.", None),
        ("<think>cut short \\conclusion{T}", None),  # unterminated thinking: no answer
        ("\\conclusion{ T }", "T"),
        ("no conclusion at all", None),
        ("\\conclusion{True}", None),
    ],
)
def test_conclusion(answer: str, expected: str | None) -> None:
    assert parse_conclusion(answer) == expected


# --- the reference code's rules (critic-rl, Critique-Coder) and where they part from the workbook's --


@pytest.mark.parametrize(
    ("critique", "expected"),
    [
        # critic-rl's own strings: the critique format of ctrl/gen/prompt.py, and a judgment anywhere
        (
            "Analysis:\nThe loop is fine.\n\nImprovement suggestions:\nNone.\n\nOverall judgment: Correct",
            "correct",
        ),
        ("...Overall judgment: Correct, but I would rename the variable.", "correct"),
        ("Analysis: off by one. Overall judgment: Incorrect\nFix the bound.", "incorrect"),
        ("**Overall judgment:** Correct", None),  # exact text only: no decoration inside the phrase
        ("**Overall judgment: Correct**", "correct"),
        ("overall judgment: correct", None),  # and exact case
        (
            "Overall judgment: Correct\n...\nOverall judgment: Incorrect",
            "correct",
        ),  # as run_gen.py: Correct wins
        ("no judgment", None),
    ],
)
def test_reference_judgment_is_a_substring_anywhere(critique: str, expected: str | None) -> None:
    assert prompts.parse_judgment(critique, "reference") == prompts.reference_judgment(critique) == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("\\conclusion{True}", "T"),  # 'T' in the match (crl.py: `'T' in matches[-1]`)
        ("\\conclusion{False}", "F"),
        ("First \\conclusion{T}, then \\conclusion{F}, finally \\conclusion{T}", "T"),  # the last match
        ("<think>\\conclusion{T}</think> no answer", "T"),  # over the whole response, thinking included
        ("<think>cut short \\conclusion{F}", "F"),
        ("\\conclusion{maybe}", None),
        ("\\conclusion{}", None),
        ("nothing", None),
    ],
)
def test_reference_conclusion_is_the_last_match_over_the_whole_answer(
    answer: str, expected: str | None
) -> None:
    assert prompts.parse_conclusion(answer, "reference") == prompts.reference_conclusion(answer) == expected


def test_parser_disagreements_count_where_the_rules_read_otherwise() -> None:
    critiques = [
        "Overall judgment: Correct\nBut wait.",
        "x\nOverall judgment: Incorrect",
        "nothing",
        "**Overall judgment:** Correct",
    ]
    assert [prompts.parsers_disagree(c, "judgment") for c in critiques] == [True, False, False, True]
    assert prompts.parser_disagreements(critiques, "judgment") == 2
    answers = ["\\conclusion{True}", "\\conclusion{T}", "<think>\\conclusion{T}</think>"]
    assert prompts.parser_disagreements(answers, "conclusion") == 2


def test_sanitize_keeps_the_first_code_block_fenced_as_critic_rl_does() -> None:
    assert (
        prompts.sanitize("Sure:\n```python\ndef f():\n    return 1\n```\nDone.")
        == "```python\ndef f():\n    return 1\n```"
    )
    assert prompts.sanitize("```\nprint(1)\n```") == "```python\nprint(1)\n```"
    assert (
        prompts.sanitize("```python\nprint(2)") == "```python\nprint(2)\n```"
    )  # an unterminated fence counts
    assert prompts.sanitize("no code here") == "no code here"
    assert prompts.sanitize("```python\n```") == "```python\n```"  # an empty block: the text unchanged


# --- prompts ------------------------------------------------------------------------------------------


def test_generation_prompts_say_how_to_answer() -> None:
    assert "standard input" in prompts.generation_prompt(IO)
    assert "`add`" in prompts.generation_prompt(FN) and "```python" in prompts.generation_prompt(FN)
    assert all(
        prompts.generation_prompt(p).endswith(prompts.CODE_ONLY) for p in (IO, FN)
    )  # only the code is read


def test_critique_prompt_forbids_code_and_asks_for_the_format() -> None:
    text = prompts.critique_prompt(FN, "def add(a, b):\n    return a - b\n")
    for part in ("Analysis:", "Improvement suggestions:", "Overall judgment: Correct", "Do not write"):
        assert part in text
    assert "return a - b" in text


def test_hinted_prompt_carries_hint_and_the_leak_filter_catches_mentions() -> None:
    text = prompts.hinted_critique_prompt(FN, "x", "It fails on input 0.")
    assert "It fails on input 0." in text
    assert prompts.mentions_hint("As the hint says, the loop is wrong.")
    assert prompts.mentions_hint("Hints aside, ...")
    assert not prompts.mentions_hint("The loop is wrong; it should stop at n - 1.")
    assert not prompts.mentions_hint("This is a chintzy solution")  # word boundary


def test_revision_shows_only_the_latest_solution() -> None:
    conv = prompts.revision_conversation(
        FN, "```python\nv2\n```", "Analysis: bad\nOverall judgment: Incorrect"
    )
    assert [m["role"] for m in conv] == ["user", "assistant", "user"]
    assert conv[1]["content"] == "```python\nv2\n```"
    assert conv[2]["content"].endswith(prompts.FINALIZE)


def test_revision_options_the_sanitized_code_and_the_papers_request() -> None:
    response = "I think:\n```python\nv2\n```\nThat is all."
    conv = prompts.revision_conversation(
        FN, response, "Overall judgment: Incorrect", previous="sanitized", request="reference"
    )
    assert conv[1]["content"] == "```python\nv2\n```"
    assert (
        conv[2]["content"]
        == "Overall judgment: Incorrect\n\nPlease finalize your answer accordingly using the same format."
    )
    assert prompts.revision_conversation(FN, response, "c")[1]["content"] == response  # the default: whole


def test_crl_prompt_names_the_conclusion_format() -> None:
    assert "\\conclusion{T}" in prompts.crl_prompt(FN, "x") and "\\conclusion{F}" in prompts.crl_prompt(
        FN, "x"
    )


# --- hints --------------------------------------------------------------------------------------------


def record(index: int, verdict: Verdict, **kw) -> TestRecord:
    return TestRecord(index=index, kind="stdio", verdict=verdict, **kw)


def test_hint_all_pass() -> None:
    result = ExecResult(Verdict.ACCEPTED, 2, 2, [record(0, Verdict.ACCEPTED), record(1, Verdict.ACCEPTED)])
    assert "correct" in prompts.execution_hint(result) and "positively" in prompts.execution_hint(result)


def test_hint_every_test_wrong_means_start_afresh() -> None:
    tests = [record(i, Verdict.WRONG_ANSWER, input="1", expected="2", actual="3") for i in range(3)]
    result = ExecResult(Verdict.WRONG_ANSWER, 0, 3, tests)
    assert "approach is wrong" in prompts.execution_hint(result)


def test_hint_wrong_answer_shows_one_failing_test() -> None:
    tests = [
        record(0, Verdict.ACCEPTED),
        record(1, Verdict.WRONG_ANSWER, input="5\n", expected="6", actual="7"),
    ]
    hint = prompts.execution_hint(ExecResult(Verdict.WRONG_ANSWER, 1, 2, tests))
    assert "Input:\n5" in hint and "Expected output:\n6" in hint and "Actual output:\n7" in hint


def test_hint_runtime_error_names_line_and_exception() -> None:
    tb = 'Traceback (most recent call last):\n  File "solution.py", line 3, in add\n    return a / b\nZeroDivisionError: division by zero'
    tests = [record(0, Verdict.RUNTIME_ERROR, exception="ZeroDivisionError: division by zero", traceback=tb)]
    hint = prompts.execution_hint(ExecResult(Verdict.RUNTIME_ERROR, 0, 1, tests))
    assert "ZeroDivisionError" in hint and "`return a / b`" in hint


def test_hint_timeout_asks_for_efficiency() -> None:
    result = ExecResult(Verdict.TIME_LIMIT_EXCEEDED, 0, 1, [record(0, Verdict.TIME_LIMIT_EXCEEDED)])
    assert "efficient" in prompts.execution_hint(result)


def test_hint_states_the_verdict_and_raw_feedback_does_not() -> None:
    passing = ExecResult(Verdict.ACCEPTED, 1, 1, [record(0, Verdict.ACCEPTED)])
    failing = ExecResult(Verdict.TIME_LIMIT_EXCEEDED, 0, 1, [record(0, Verdict.TIME_LIMIT_EXCEEDED)])
    assert prompts.execution_hint(passing).endswith("`Overall judgment: Correct`.")
    hint = prompts.execution_hint(failing)
    assert hint.startswith("The solution is incorrect.") and hint.endswith("`Overall judgment: Incorrect`.")
    for result in (passing, failing):  # the execution-feedback baseline shows the generator no verdict line
        assert "judgment" not in prompts.execution_hint(result, raw=True)


def test_through_judgment_ends_a_critique_at_its_first_judgment_line() -> None:
    rambling = (
        "Analysis:\nIt adds 1.\nImprovement suggestions:\nNone.\n**Overall judgment: Incorrect**\n\n"
        "```python\ndef f(x):\n    return x\n```\nThis solution is correct."
    )
    assert prompts.parse_judgment(rambling) is None  # the strict reading finds no final judgment
    cut = prompts.through_judgment(rambling)
    assert cut.endswith("**Overall judgment: Incorrect**") and "```" not in cut
    assert prompts.parse_judgment(cut) == "incorrect"
    # a judgment word mid-sentence is not a judgment line; nothing is cut without one
    no_line = "Analysis:\nMy overall judgment is that it is correct, mostly.\n"
    assert prompts.through_judgment(no_line) == no_line
    # the first judgment line wins: a critique that flips later is cut at its first verdict
    flip = "Analysis: x\nOverall judgment: Correct\nOn reflection:\nOverall judgment: Incorrect"
    assert prompts.through_judgment(flip) == "Analysis: x\nOverall judgment: Correct"

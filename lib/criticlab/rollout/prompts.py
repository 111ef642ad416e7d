"""Prompts and parsers of the method: generation, critique, hinted critique, revision, CRL judgment.

The formats follow the papers (the wording is ours):

- a critique has the sections ``Analysis:`` and ``Improvement suggestions:`` and ends with the line
  ``Overall judgment: Correct`` or ``Overall judgment: Incorrect``; the critic never writes code;
- the execution-guided (*hinted*) critique used to synthesize SFT data also sees a hint derived
  from running the code, and must not mention it;
- a revision is the conversation [generation prompt, previous solution, critique + "finalize"],
  showing only the latest solution;
- a CRL judgment ends with ``\\conclusion{T}`` or ``\\conclusion{F}``;
- JudgeBench (notebook 07): a critique of a response to a general question ends like a code
  critique; a pairwise judgment of two responses ends with ``Better response: 1`` or ``2``.

The workbook's parsers are tolerant of case and markdown decoration, and strict about *where* the
answer is: a judgment counts only on the critique's last line, so a judgment mentioned mid-text and
contradicted at the end reads as the end says. The reference code reads more loosely (a judgment
anywhere, critic-rl; the last ``\\conclusion{...}`` of the whole answer, Critique-Coder): both rules
are here (:data:`ParserRule`, ``prompts.parser`` in a profile), and :func:`parser_disagreements`
counts the texts they read differently.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Literal

from criticlab.data.types import Problem
from criticlab.llm.base import Conversation, code_block_span
from criticlab.sandbox.types import ExecResult, Verdict

Judgment = Literal["correct", "incorrect"]
"""The critic's judgment of a solution: the last line of a critique, ``Overall judgment: …``."""
Conclusion = Literal["T", "F"]
"""A CRL answer's conclusion, ``\\conclusion{T}`` (the solution is correct) or ``{F}``."""

ParserRule = Literal["workbook", "reference"]
"""How judgments and conclusions are read: the workbook's strict rules or the reference code's."""

FINALIZE_REFERENCE = "Please finalize your answer accordingly using the same format."
"""The papers' revision request, word for word (critic-rl ``ctrl/gen/prompt.py``,
``get_revised_prompt_mt``, and ``ctrl/rl/critic_rm.py``, ``build_revision_messages``)."""

FINALIZE = (
    "Please finalize your answer accordingly using the same format: "
    "your complete code in a single ```python code block."
)
"""The revision request after a critique (the paper's sentence, then what "the same format" means:
a small generator otherwise answers feedback such as "All tests pass." in prose, or wraps that
sentence in a code block, and a revision without code fails its tests whatever the critique said)."""

# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------

CODE_ONLY = "Write only the code: no example usage, no test cases, no explanation."
"""Only the code is read from an answer (run, critiqued, revised). Asked for it, the 0.5B generator
wrote 22% fewer tokens on 32 HumanEval problems (7,944 vs 10,171 at T=0.7; 12 vs 14 passing, a
difference within noise at n = 32): otherwise a fifth of its tokens go to printed examples and
explanations that nothing reads, and generation is most of a CPU run's time."""


def generation_prompt(problem: Problem) -> str:
    """The task as the generator sees it: the question plus how the answer must be shaped."""
    if problem.kind == "stdio":
        return (
            "Solve the following programming problem in Python 3.\n\n"
            f"{problem.question.strip()}\n\n"
            "Your program must read the input from standard input and write the answer to standard "
            f"output. Reply with your complete program in a single ```python code block. {CODE_ONLY}"
        )
    parts = [
        "Solve the following programming problem in Python 3.\n",
        problem.question.strip(),
    ]
    if problem.starter_code.strip() and problem.starter_code.strip() not in problem.question:
        parts.append(f"\nStart from this code:\n```python\n{problem.starter_code.rstrip()}\n```")
    parts.append(
        f"\nImplement `{problem.entry_point}` and reply with the complete code, including any imports "
        f"and helper functions, in a single ```python code block. {CODE_ONLY}"
    )
    return "\n".join(parts)


def generation_conversation(problem: Problem) -> Conversation:
    return [{"role": "user", "content": generation_prompt(problem)}]


# --------------------------------------------------------------------------------------------
# Critique
# --------------------------------------------------------------------------------------------

CRITIQUE_FORMAT = (
    "Write your critique in exactly this format:\n"
    "Analysis:\n<step-by-step analysis of the solution: its approach, its logic, edge cases, "
    "complexity and any bug you find>\n"
    "Improvement suggestions:\n<concrete suggestions; describe the changes, do not write the code>\n"
    "Overall judgment: Correct\n"
    "(or `Overall judgment: Incorrect`) as the very last line.\n"
    "Do not write a corrected solution."
)


def _solution_block(code: str) -> str:
    return f"```python\n{code.rstrip()}\n```"


def critique_prompt(problem: Problem, code: str, feedback: str | None = None) -> str:
    """Ask for a critique of ``code``: analysis, suggestions, and a final Correct/Incorrect line.

    ``feedback`` (the self-critique-with-execution baseline) adds the result of running the code.
    """
    shown = f"## Execution feedback\n{feedback.strip()}\n\n" if feedback else ""
    return (
        "You are an expert programmer reviewing a candidate solution to a programming problem.\n\n"
        f"## Problem\n{problem.question.strip()}\n\n"
        f"## Candidate solution\n{_solution_block(code)}\n\n"
        f"{shown}## Your task\nCritique the solution. {CRITIQUE_FORMAT}"
    )


def hinted_critique_prompt(problem: Problem, code: str, hint: str) -> str:
    """The critique prompt plus an execution hint, used only to synthesize SFT critiques.

    The hint steers the critique towards the true problem; the critic must not refer to it, since
    the SFT prompt will not contain it (see :func:`mentions_hint`).
    """
    return (
        critique_prompt(problem, code)
        + "\n\n## Private hint\n"
        + hint.strip()
        + "\nUse this hint to guide your critique, but write as if you found everything yourself: "
        "never mention the hint, tests you were given, or that the code was executed."
    )


def critique_conversation(problem: Problem, code: str, hint: str | None = None) -> Conversation:
    text = critique_prompt(problem, code) if hint is None else hinted_critique_prompt(problem, code, hint)
    return [{"role": "user", "content": text}]


# General questions (JudgeBench): a response to a question of any kind, not a program

ANSWER_CRITIQUE_FORMAT = (
    "Write your critique in exactly this format:\n"
    "Analysis:\n<step-by-step check of the response: its reasoning, its calculations or code, and "
    "whether its final answer is right>\n"
    "Improvement suggestions:\n<what the response should change; do not write a new response>\n"
    "Overall judgment: Correct\n"
    "(or `Overall judgment: Incorrect`) as the very last line."
)


def answer_critique_prompt(question: str, response: str) -> str:
    """The critique prompt for a response to a general question (knowledge, reasoning, math or
    code in prose), ending, like :func:`critique_prompt`, in the line :func:`parse_judgment` reads.

    JudgeBench's responses are prose with the answer at the end, not bare programs, so the code
    prompt's "candidate solution" block does not fit them; the format of the critique is the same.
    """
    return (
        "You are an expert reviewing a candidate response to a question.\n\n"
        f"## Question\n{question.strip()}\n\n"
        f"## Candidate response\n{response.strip()}\n\n"
        f"## Your task\nCritique the response. {ANSWER_CRITIQUE_FORMAT}"
    )


def answer_critique_conversation(question: str, response: str) -> Conversation:
    return [{"role": "user", "content": answer_critique_prompt(question, response)}]


Preference = Literal[1, 2]
"""Which of two responses shown a pairwise judge prefers: the first (1) or the second (2)."""


def preference_prompt(question: str, first: str, second: str) -> str:
    """Ask which of two responses to ``question`` is better, ending in ``Better response: 1`` or ``2``
    (what :func:`parse_preference` reads). The responses are numbered by where they are shown, so
    showing a pair in both orders measures how much the position sways the judge."""
    return (
        "You are an expert judging two candidate responses to the same question.\n\n"
        f"## Question\n{question.strip()}\n\n"
        f"## Response 1\n{first.strip()}\n\n"
        f"## Response 2\n{second.strip()}\n\n"
        "## Your task\nDecide which response answers the question correctly; if both or neither "
        "do, pick the better one. Analyse both step by step, then end with the line\n"
        "Better response: 1\n(or `Better response: 2`) as the very last line."
    )


def preference_conversation(question: str, first: str, second: str) -> Conversation:
    return [{"role": "user", "content": preference_prompt(question, first, second)}]


_HINT_MENTION = re.compile(r"\bhints?\b|\bprivate hint\b", re.IGNORECASE)


def mentions_hint(critique: str) -> bool:
    """True when a critique leaks the hint (the paper drops such critiques)."""
    return bool(_HINT_MENTION.search(critique))


MIN_QUOTED_CHARS = 8
"""Shortest test value (whitespace folded) whose verbatim presence in a critique counts as a quote:
a short value such as ``3`` or ``True`` turns up in critiques for reasons of its own."""


def _folded(text: str) -> str:
    return " ".join(text.split())


def quotes_test(critique: str, values: Iterable[str], min_chars: int = MIN_QUOTED_CHARS) -> bool:
    """True when a critique repeats one of the hint's test ``values`` (its input or expected output)
    verbatim, whitespace folded. Such a critique leaks the execution the critic will not see at
    test time as surely as one that says "the hint", so synthesis drops it too."""
    text = _folded(critique)
    return any(len(v) >= min_chars and v in text for v in map(_folded, values))


# --------------------------------------------------------------------------------------------
# Revision
# --------------------------------------------------------------------------------------------


def sanitize(response: str) -> str:
    """The previous answer as critic-rl's reward shows it (``sanitize``): its first code block, fenced
    as ```` ```python ````, or the answer unchanged when it has no (non-empty) block. The block is the
    one :func:`extract_code` runs (blocks in other languages are skipped, as the reference's regex
    does not); like the reference's regex, surrounding whitespace is dropped."""
    code = extract_code(response)
    return f"```python\n{code.strip()}\n```" if code and code.strip() else response


def revision_conversation(
    problem: Problem,
    previous_response: str,
    critique: str,
    *,
    previous: Literal["response", "sanitized"] = "response",
    request: ParserRule = "workbook",
) -> Conversation:
    """[user: task, assistant: latest solution, user: critique + finalize] — only the latest solution.

    ``previous``: the whole response or its :func:`sanitize`-d code; ``request``: the workbook's
    :data:`FINALIZE` or the papers' :data:`FINALIZE_REFERENCE`.
    """
    shown = sanitize(previous_response) if previous == "sanitized" else previous_response
    finalize = FINALIZE_REFERENCE if request == "reference" else FINALIZE
    return [
        {"role": "user", "content": generation_prompt(problem)},
        {"role": "assistant", "content": shown},
        {"role": "user", "content": f"{critique.strip()}\n\n{finalize}"},
    ]


def execution_feedback_message(result: ExecResult) -> str:
    """Raw execution feedback as a 'critique' for the execution-feedback baseline."""
    return "Here is the result of running your code on the tests:\n" + execution_hint(result, raw=True)


# --------------------------------------------------------------------------------------------
# CRL judgment (Critique-Coder)
# --------------------------------------------------------------------------------------------


def crl_prompt(problem: Problem, code: str) -> str:
    return (
        "You are given a programming problem and a candidate solution. Analyse the solution "
        "carefully and decide whether it is correct, that is, whether it passes all tests of the "
        "problem within its limits.\n\n"
        f"## Problem\n{problem.question.strip()}\n\n"
        f"## Candidate solution\n{_solution_block(code)}\n\n"
        "Reason step by step, then end your answer with \\conclusion{T} if the solution is correct "
        "or \\conclusion{F} if it is not."
    )


def crl_conversation(problem: Problem, code: str) -> Conversation:
    return [{"role": "user", "content": crl_prompt(problem, code)}]


# --------------------------------------------------------------------------------------------
# Parsers
# --------------------------------------------------------------------------------------------


def extract_code(text: str) -> str | None:
    """The first fenced Python (or unlabelled) block; an unterminated fence runs to the end.

    Returns ``None`` when the text holds no such fence (the caller records "no code"; it is not
    guessed from prose). Blocks in other languages (```text, ```bash) are skipped.
    """
    block = code_block_span(text)
    if block is None:
        return None
    body = text[block.start : block.end]
    return body.rstrip() + "\n" if body.strip() else ""


_DECORATION = "*_`#>~ \t"
_JUDGMENT_LINE = re.compile(
    r"^(?:[-+]\s+)?overall\s+judg(?:e)?ment\s*[:：]?\s*(correct|incorrect)\s*[.!]?$", re.IGNORECASE
)


def _strip_decoration(line: str) -> str:
    line = line.strip()
    line = re.sub(r"[*_`~]+", "", line)  # bold, italics, code spans anywhere on the line
    return line.strip(_DECORATION)


def parse_judgment(critique: str, rule: ParserRule = "workbook") -> Judgment | None:
    """``correct`` / ``incorrect`` from the critique's last line, or ``None`` when it has none.

    Tolerant: case, bold/italic/code/heading decoration, a trailing period, a leading bullet.
    Strict: only the last non-empty line counts (lines of pure decoration such as ``---`` or a
    closing fence are skipped). ``rule="reference"`` reads as critic-rl does instead
    (:func:`reference_judgment`).
    """
    if rule == "reference":
        return reference_judgment(critique)
    for raw in reversed(critique.strip().splitlines()):
        line = _strip_decoration(raw)
        if not line or set(line) <= set("-=*_`#~"):
            continue
        match = _JUDGMENT_LINE.match(line)
        return match.group(1).lower() if match else None  # type: ignore[return-value]
    return None


def through_judgment(critique: str) -> str:
    """The critique up to and including its first judgment line (unchanged when it has none).

    Synthesis only: a small hinted critic often writes its judgment and then keeps going (a code
    block, a sentence restating the verdict), so the judgment is no longer the last line and
    :func:`parse_judgment` rightly finds none. What follows the first judgment line is not part of
    the critique format, and an SFT target should end where the format ends. Evaluation keeps the
    strict reading: there a judgment contradicted later must read as the end says.
    """
    lines = critique.splitlines(keepends=True)
    for i, raw in enumerate(lines):
        if _JUDGMENT_LINE.match(_strip_decoration(raw)):
            return "".join(lines[: i + 1]).rstrip()
    return critique


_PREFERENCE_LINE = re.compile(
    r"^(?:[-+]\s+)?better\s+response\s*[:：]?\s*(?:response\s*)?([12])\s*[.!]?$", re.IGNORECASE
)


def parse_preference(answer: str) -> Preference | None:
    """``1`` or ``2`` from a pairwise judgment's last line ``Better response: N``; ``None`` without one.

    Read like :func:`parse_judgment`: decoration and case are tolerated, only the last non-empty line counts.
    """
    for raw in reversed(answer.strip().splitlines()):
        line = _strip_decoration(raw)
        if not line or set(line) <= set("-=*_`#~"):
            continue
        match = _PREFERENCE_LINE.match(line)
        return int(match.group(1)) if match else None  # type: ignore[return-value]
    return None


_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_CONCLUSION = re.compile(r"\\conclusion\{\s*([TF])\s*\}")


def conclusion_of(correct: bool) -> Conclusion:
    """The conclusion that says ``correct``: ``T`` for a correct solution, ``F`` otherwise."""
    return "T" if correct else "F"


def conclusion_tag(correct: bool) -> str:
    """The CRL answer's closing tag, ``\\conclusion{T}`` or ``{F}`` (what :func:`parse_conclusion` reads)."""
    return f"\\conclusion{{{conclusion_of(correct)}}}"


def parse_conclusion(answer: str, rule: ParserRule = "workbook") -> Conclusion | None:
    """A CRL answer's conclusion, ``T`` or ``F``; ``None`` when it has none.

    The last match wins. Text inside a closed ``<think>…</think>`` block is deliberation, not the
    answer, and an unterminated ``<think>`` means the answer never came, so neither counts.
    ``rule="reference"`` reads as Critique-Coder does instead (:func:`reference_conclusion`).
    """
    if rule == "reference":
        return reference_conclusion(answer)
    visible = _THINK.sub("", answer)
    cut = visible.lower().find("<think>")
    if cut >= 0:
        visible = visible[:cut]
    matches = _CONCLUSION.findall(visible)
    return matches[-1] if matches else None


# The reference code's rules, and how often they read a text otherwise than the workbook's

REFERENCE_JUDGMENTS: tuple[tuple[str, Judgment], ...] = (
    ("Overall judgment: Correct", "correct"),
    ("Overall judgment: Incorrect", "incorrect"),
)
_REFERENCE_CONCLUSION = re.compile(r"\\conclusion\{(.*?)\}")


def reference_judgment(critique: str) -> Judgment | None:
    """critic-rl's reading: ``correct`` when "Overall judgment: Correct" occurs anywhere in the
    critique (``scripts/run_gen.py``, ``cleanup_sft.py``: ``"Overall judgment: Correct" in c``), else
    ``incorrect`` when "Overall judgment: Incorrect" does (with the first, the reward's gate in
    ``ctrl/rl/critic_rm.py``), else ``None``. Exact case and spacing: decoration around the phrase
    is fine, inside it (``**Overall judgment:** Correct``) it is no judgment."""
    return next((judgment for text, judgment in REFERENCE_JUDGMENTS if text in critique), None)


def reference_conclusion(answer: str) -> Conclusion | None:
    """Critique-Coder's reading (``verl_tool/workers/reward_manager/crl.py``, ``get_cft_data_score``):
    the last match of the regex ``\\\\conclusion\\{(.*?)\\}`` over the whole answer (``<think>`` included); ``T``
    when it contains a 'T' (``\\conclusion{True}`` too), else ``F`` when it contains an 'F', else ``None``."""
    matches = _REFERENCE_CONCLUSION.findall(answer)
    if not matches:
        return None
    return "T" if "T" in matches[-1] else "F" if "F" in matches[-1] else None


def parsers_disagree(text: str, kind: Literal["judgment", "conclusion"]) -> bool:
    """Whether the workbook's and the reference's rule read ``text`` (a critique's judgment or a CRL
    answer's conclusion) differently, one finding nothing included."""
    parse = parse_judgment if kind == "judgment" else parse_conclusion
    return parse(text, "workbook") != parse(text, "reference")


def parser_disagreements(texts: Iterable[str], kind: Literal["judgment", "conclusion"]) -> int:
    """How many of ``texts`` the two rules read differently (:func:`parsers_disagree`)."""
    return sum(parsers_disagree(t, kind) for t in texts)


# --------------------------------------------------------------------------------------------
# Execution hints (synthesis) and raw feedback (a baseline)
# --------------------------------------------------------------------------------------------


def execution_hint(result: ExecResult, raw: bool = False) -> str:
    """Turn an execution result into the hint of the paper's hinted critique.

    - all tests pass → the answer is correct; respond concisely and positively;
    - every test fails without an error → the approach is wrong; start afresh;
    - a runtime error → the offending line and the exception;
    - a wrong answer → one failing test's input, expected and actual output;
    - a time-out → the code must be made more efficient.

    The hint also states the verdict and the judgment line the critique must end with. The
    paper's 32B critic infers "Incorrect" from an error message; the 0.5B coder does not. On 41
    failing samples of 16 MBPP train problems (read through :func:`through_judgment`), told only
    what failed it judged 31 "Correct", 4 "Incorrect" and 6 not at all; told the verdict too, 24
    "Incorrect", 10 "Correct", 7 not at all, and its 8 critiques of passing samples stayed
    "Correct" (notebook 03's filters still drop every judgment that disagrees with execution).

    ``raw`` words it as plain feedback to the generator (the execution-feedback baseline), without
    the verdict sentence.
    """
    detail = _execution_detail(result, raw)
    if raw:
        return detail
    if result.accepted:
        return f"{detail} End your critique with `Overall judgment: Correct`."
    return f"The solution is incorrect. {detail}\nExplain what is wrong, and end your critique with `Overall judgment: Incorrect`."


def _execution_detail(result: ExecResult, raw: bool) -> str:
    """What went wrong (or that nothing did), in the words of the hint or of raw feedback."""
    failure = result.first_failure
    if result.accepted:
        return (
            "All tests pass."
            if raw
            else "The solution is correct: it passes all tests. Respond concisely and positively."
        )
    if result.verdict is Verdict.COMPILE_ERROR:
        detail = result.error or (failure.exception if failure else "")
        return f"The code does not compile: {detail}".strip()
    if result.verdict in (Verdict.TIME_LIMIT_EXCEEDED,):
        return (
            "The code exceeds the time limit."
            if raw
            else ("The solution is too slow: it exceeds the time limit. It must be made more efficient.")
        )
    if result.verdict is Verdict.MEMORY_LIMIT_EXCEEDED:
        return (
            "The code exceeds the memory limit."
            if raw
            else ("The solution uses too much memory. It must use memory more economically.")
        )
    if result.verdict is Verdict.OUTPUT_LIMIT_EXCEEDED:
        return "The code prints far too much output."
    if result.verdict is Verdict.RUNTIME_ERROR and failure is not None:
        line = offending_line(failure.traceback)
        where = f" at `{line}`" if line else ""
        return f"The code raises {failure.exception or 'an exception'}{where}."
    all_wrong = (
        result.passed == 0 and result.tests and all(t.verdict is Verdict.WRONG_ANSWER for t in result.tests)
    )
    if all_wrong and not raw:
        return "The solution fails every test without raising an error: the approach is wrong. Start afresh."
    if failure is not None and failure.verdict is Verdict.WRONG_ANSWER:
        return (
            f"It fails a test.\nInput:\n{failure.input}\nExpected output:\n{failure.expected}\n"
            f"Actual output:\n{failure.actual}"
        )
    if result.verdict is Verdict.NO_RESULT:
        return "The program ends before producing any result (for example by calling exit)."
    return f"The solution fails: {result.summary()}"


def offending_line(traceback: str) -> str:
    """The last source line quoted in a traceback (the line that raised)."""
    lines = [line.strip() for line in traceback.splitlines()]
    code_lines = [
        line
        for prev, line in itertools.pairwise(lines)
        if prev.startswith("File ") and line and not line.startswith("File ")
    ]
    return code_lines[-1] if code_lines else ""

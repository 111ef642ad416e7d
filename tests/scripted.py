"""Scripted problems and engines shared by the loop and synthesis tests.

The engine answers by reading the conversation (wrong first solutions, honest critiques,
correct revisions), so the tests check the loop's bookkeeping exactly, on the real sandbox.
"""

from __future__ import annotations

from criticlab.data.types import Problem, Test
from criticlab.llm.base import Completion, SamplingParams, error_completion

ADD = Problem(
    id="add",
    source="t",
    question="def add(a, b):\n    'Return a + b.'\n",
    kind="functional",
    entry_point="add",
    tests=[Test(kind="call", args=[1, 2], expected=3), Test(kind="call", args=[-1, 1], expected=0)],
)
ECHO = Problem(
    id="echo",
    source="t",
    question="Read n and print n + 1.",
    kind="stdio",
    tests=[Test(kind="stdio", input="1\n", output="2\n"), Test(kind="stdio", input="5\n", output="6\n")],
)
PROSE = Problem(
    id="prose",
    source="t",
    question="NOCODE: explain add.",
    kind="functional",
    entry_point="add",
    tests=[Test(kind="call", args=[1, 1], expected=2)],
)
BROKEN = Problem(
    id="broken",
    source="t",
    question="ENGINE-ERROR please",
    kind="stdio",
    tests=[Test(kind="stdio", input="", output="x\n")],
)

WRONG = {"add": "def add(a, b):\n    return a - b\n", "echo": "print(int(input()) + 2)\n"}
RIGHT = {"add": "def add(a, b):\n    return a + b\n", "echo": "print(int(input()) + 1)\n"}


def fenced(code: str) -> str:
    return f"Here you go:\n```python\n{code}```\n"


class ScriptedEngine:
    """Wrong first answers, honest critiques, correct revisions; counts every sample it generates."""

    backend = "scripted"
    model_id = "scripted-v1"

    def __init__(self, fail_after: int | None = None) -> None:
        self.samples = 0
        self.fail_after = fail_after

    def _answer(self, conv) -> Completion:
        last = conv[-1]["content"]
        if "ENGINE-ERROR" in conv[0]["content"]:
            return error_completion("scripted failure")
        if last.startswith("You are an expert programmer reviewing"):
            wrong = any(code.strip() in last for code in WRONG.values())
            judgment = "Incorrect" if wrong else "Correct"
            return Completion(
                text=f"Analysis:\nlooked.\nImprovement suggestions:\nnone\nOverall judgment: {judgment}"
            )
        pid = "add" if "def add" in conv[0]["content"] else "echo"
        if "NOCODE" in conv[0]["content"]:
            return Completion(text="You should add the numbers.")
        if len(conv) == 1:
            return Completion(text=fenced(WRONG[pid]))
        return Completion(text=fenced(RIGHT[pid]))

    def generate(self, conversations, sampling: SamplingParams, n: int = 1):
        out = []
        for conv in conversations:
            row = []
            for _ in range(n):
                if self.fail_after is not None and self.samples >= self.fail_after:
                    raise KeyboardInterrupt("killed midway")
                self.samples += 1
                row.append(self._answer(conv))
            out.append(row)
        return out

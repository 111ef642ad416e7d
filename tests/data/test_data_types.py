"""Problem/Test/JudgePair records: JSONL round trips and schema errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from criticlab.data import (
    JudgePair,
    Problem,
    SchemaError,
    Test,
    read_pairs,
    read_problems,
    write_pairs,
    write_problems,
)


def _problem() -> Problem:
    return Problem(
        id="x/1",
        source="x",
        question="Add two numbers — «ünïcode» ok",
        kind="functional",
        tests=[
            Test(kind="call", args=[1, [2, 3], {"k": None}], expected=[4.5, "s"], atol=1e-6),
            Test(kind="stdio", input="1 2\n", output="3\n"),
            Test(kind="assert", code="assert f(1) == 2"),
        ],
        entry_point="Solution.f",
        starter_code="class Solution:\n    def f(self, a): ...\n",
        time_limit=1.5,
        difficulty="EASY",
        solutions=["class Solution:\n    def f(self, a):\n        return a + 1\n"],
        test_setup="import math",
        metadata={"nested": {"a": [1, 2]}, "flag": True},
    )


def test_problem_round_trips_through_jsonl(tmp_path: Path) -> None:
    problem = _problem()
    write_problems(tmp_path / "p.jsonl", [problem, problem])
    back = read_problems(tmp_path / "p.jsonl")
    assert back == [problem, problem]
    assert back[0].tests[0].atol == 1e-6 and back[0].tests[0].args[1] == [2, 3]


def test_test_dict_is_compact_per_kind() -> None:
    assert Test(kind="stdio", input="a", output="b").to_dict() == {
        "kind": "stdio",
        "input": "a",
        "output": "b",
    }
    assert Test(kind="call", args=[1], expected=2).to_dict() == {"kind": "call", "args": [1], "expected": 2}
    assert Test(kind="assert", code="assert 1").to_dict() == {"kind": "assert", "code": "assert 1"}


def test_schema_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="kind"):
        Test(kind="exec")
    with pytest.raises(SchemaError, match="entry_point"):
        Problem(id="a", source="s", question="q", kind="functional")
    with pytest.raises(SchemaError, match="unknown field"):
        Problem.from_dict({"id": "a", "source": "s", "question": "q", "kind": "stdio", "colour": 1})
    path = tmp_path / "bad.jsonl"
    good = _problem().to_dict()
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "kind": "batch"}) + "\n")
    with pytest.raises(SchemaError, match=r"bad\.jsonl: record 2"):
        read_problems(path)


def test_judge_pair_round_trip_and_label_check(tmp_path: Path) -> None:
    pair = JudgePair(id="p", question="q", response_a="a", response_b="b", label="B>A", original_id=None)
    write_pairs(tmp_path / "j.jsonl", [pair])
    assert read_pairs(tmp_path / "j.jsonl") == [pair]
    assert pair.better == "B"
    with pytest.raises(SchemaError, match="label"):
        JudgePair(id="p", question="q", response_a="a", response_b="b", label="A=B")


def test_records_written_before_the_prelude_field_still_read() -> None:
    row = _problem().to_dict()
    row.pop("prelude")
    assert Problem.from_dict(row).prelude == ""
    with_prelude = Problem.from_dict({**row, "prelude": "from typing import *"})
    assert Problem.from_dict(with_prelude.to_dict()) == with_prelude

"""TACO and APPS: competitive-programming problems in the APPS layout.

Both keep their tests in ``input_output`` = ``{"inputs": [...], "outputs": [...]}`` (a JSON
string in TACO and on the hub, an object in the APPS folder export), with ``"fn_name"`` for
call-based problems. This module turns a row into a :class:`Problem`:

- no ``fn_name`` → ``stdio``: each input/output is a string (a list of lines is joined with
  newlines, as the APPS harness does);
- ``fn_name`` → ``functional``: each input is the argument list; the entry point is
  ``Solution.<fn_name>`` when the starter code declares ``class Solution`` (LeetCode), else
  ``fn_name``. Codewars problems wrap every expected value in a one-element list (the APPS
  harness accepts either the value or its wrapper); those wrappers are removed so that
  ``expected`` is what the function returns — see :func:`unwrap_codewars_outputs`.

Tests that do not fit (an input that is not an argument list, an output of an odd type, more
inputs than outputs) are dropped and counted in ``metadata["dropped_tests"]``; a problem left with
no test is still returned, so that the preprocessing report (``filters.py``) counts it under
"no usable tests" the way the paper describes. Rows that cannot be read at all (missing
question, ``input_output`` that is not JSON) are skipped by the loader with their reason.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from criticlab.data.loading import LoadResult, SkipRow, collect, iter_rows, json_field, optional, require
from criticlab.data.preludes import APPS as APPS_PRELUDE
from criticlab.data.text import accepts_multiple_answers
from criticlab.data.types import Problem, Test

TACO_HUB_ID = "BAAI/TACO"
APPS_HUB_ID = "codeparrot/apps"
DEFAULT_TIME_LIMIT = 2.0
"""Seconds per test when a row states none (APPS never does; many TACO rows leave it empty)."""
DEFAULT_MAX_SOLUTIONS = 5
"""Reference solutions kept per problem: enough to validate tests in the sandbox, while TACO's
hundreds of solutions per problem would make train.jsonl gigabytes."""

_SECONDS = re.compile(
    r"^\s*([0-9]*\.?[0-9]+)\s*(seconds?|secs?|s|milliseconds?|ms)?\s*\.?\s*$", re.IGNORECASE
)


def parse_time_limit(value: Any) -> float | None:
    """Seconds from ``2``, ``"2 seconds"``, ``"1 second"``, ``"1.5 s"``, ``"500 ms"``; None if absent/unreadable."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    if isinstance(value, dict):  # CodeContests: {"seconds": 2, "nanos": 500000000}
        seconds = (value.get("seconds") or 0) + (value.get("nanos") or 0) / 1e9
        return float(seconds) if seconds > 0 else None
    match = _SECONDS.match(str(value))
    if not match:
        return None
    number = float(match.group(1))
    unit = (match.group(2) or "s").lower()
    if unit.startswith("m"):
        number /= 1000.0
    return number if number > 0 else None


def _int_or_zero(value: Any) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 0


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def unwrap_codewars_outputs(outputs: list[Any], origin: str) -> tuple[list[Any], bool]:
    """Remove the one-element list Codewars tests put around every expected value.

    Unwraps when the problem comes from Codewars (by ``source``/``url``) and every output is a
    one-element list, or when the origin is unknown and every output is one; a LeetCode problem
    whose function returns one-element lists keeps them. Returns ``(outputs, unwrapped)``.
    """
    all_wrapped = bool(outputs) and all(isinstance(o, list) and len(o) == 1 for o in outputs)
    origin = origin.lower()
    if not all_wrapped:
        return outputs, False
    if "codewars" in origin or not origin.strip():
        return [o[0] for o in outputs], True
    return outputs, False


def build_tests(io: Any, *, origin: str) -> tuple[str, str, list[Test], dict[str, Any]]:
    """``(kind, fn_name, tests, notes)`` from an APPS-style ``input_output`` object."""
    if not isinstance(io, dict):
        raise SkipRow("input_output is not an object", f"got {type(io).__name__}")
    inputs, outputs = io.get("inputs"), io.get("outputs")
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise SkipRow("input_output has no inputs/outputs lists")
    fn_name = io.get("fn_name") or ""
    if fn_name and not isinstance(fn_name, str):
        raise SkipRow("field 'fn_name' has the wrong type", f"got {type(fn_name).__name__}")
    notes: dict[str, Any] = {"raw_tests": max(len(inputs), len(outputs)), "dropped_tests": 0}
    if len(inputs) != len(outputs):
        notes["dropped_tests"] = max(len(inputs), len(outputs))
        notes["test_problem"] = f"{len(inputs)} inputs but {len(outputs)} outputs"
        return ("functional" if fn_name else "stdio"), fn_name, [], notes
    tests: list[Test] = []
    if fn_name:
        outputs, notes["outputs_unwrapped"] = unwrap_codewars_outputs(outputs, origin)
        for args, expected in zip(inputs, outputs, strict=False):
            if isinstance(args, list):
                tests.append(Test(kind="call", args=args, expected=expected))
            else:
                notes["dropped_tests"] += 1
        return "functional", fn_name, tests, notes
    for given, wanted in zip(inputs, outputs, strict=False):
        stdin, stdout = _as_text(given), _as_text(wanted)
        if stdin is None or stdout is None:
            notes["dropped_tests"] += 1
        else:
            tests.append(Test(kind="stdio", input=stdin, output=stdout))
    return "stdio", "", tests, notes


def entry_point_for(fn_name: str, starter_code: str) -> str:
    """``Solution.fn`` for LeetCode-style starter code, else ``fn``."""
    if re.search(r"^\s*class\s+Solution\b", starter_code, re.MULTILINE):
        return f"Solution.{fn_name}"
    return fn_name


def _solutions(row: dict[str, Any], max_solutions: int | None) -> list[str]:
    try:
        value = json_field(row, "solutions", [])
    except SkipRow:
        return []  # unreadable solutions only cost the sandbox check, not the problem
    if not isinstance(value, list):
        return []
    kept = [s for s in value if isinstance(s, str) and s.strip()]
    return kept if max_solutions is None else kept[:max_solutions]


def _json_list(row: dict[str, Any], name: str) -> list[Any]:
    try:
        value = json_field(row, name, [])
    except SkipRow:
        value = row.get(name)
        return [value] if isinstance(value, str) and value else []
    return value if isinstance(value, list) else []


def make_converter(source: str, split: str, max_solutions: int | None = DEFAULT_MAX_SOLUTIONS):
    """A row converter for ``source`` (``"taco"`` or ``"apps"``) rows of ``split``."""

    def convert(row: dict[str, Any], index: int) -> Problem:
        question = require(row, "question")
        if not question.strip():
            raise SkipRow("empty question")
        io = json_field(row, "input_output", required=True)
        meta_in = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
        url = optional(row, "url", "", str) or str(meta_in.get("url") or "")
        origin = f"{optional(row, 'source', '', str)} {url}"
        kind, fn_name, tests, notes = build_tests(io, origin=origin)
        starter_code = optional(row, "starter_code", "", str)
        raw_id = row.get("problem_id", row.get("id"))
        local_id = str(raw_id) if raw_id not in (None, "") else f"{split}/{index}"
        time_raw = row.get("time_limit")
        difficulty = row.get("difficulty") if row.get("difficulty") is not None else meta_in.get("difficulty")
        metadata: dict[str, Any] = {
            "name": optional(row, "name", "", str),
            "url": url,
            "origin": optional(row, "source", "", str),
            "split": split,
            "row_index": index,
            "time_limit_raw": "" if time_raw is None else str(time_raw),
            "memory_limit": str(row.get("memory_limit") or ""),
            "picture_num": _int_or_zero(row.get("picture_num")),
            "tags": _json_list(row, "tags"),
            "skill_types": _json_list(row, "skill_types"),
            "date": str(row.get("date") or ""),
            "multiple_answers": accepts_multiple_answers(question),
            **notes,
        }
        return Problem(
            id=f"{source}/{local_id}",
            source=source,
            question=question,
            kind=kind,  # type: ignore[arg-type]
            tests=tests,
            entry_point=entry_point_for(fn_name, starter_code) if fn_name else "",
            starter_code=starter_code,
            time_limit=parse_time_limit(time_raw) or DEFAULT_TIME_LIMIT,
            difficulty=str(difficulty or ""),
            solutions=_solutions(row, max_solutions),
            metadata=metadata,
            prelude=APPS_PRELUDE,
        )

    return convert


def load_taco(
    path: str | Path = TACO_HUB_ID,
    *,
    split: str = "train",
    revision: str | None = None,
    source: str = "taco",
    max_solutions: int | None = DEFAULT_MAX_SOLUTIONS,
    limit: int | None = None,
) -> LoadResult[Problem]:
    """Load TACO (or, with ``source="apps"``, APPS) rows as problems; filtering is separate.

    Apply :func:`criticlab.data.filters.preprocess` afterwards for the paper's rules.
    """
    location, rows = iter_rows(path, split=split, revision=revision)
    return collect(source, location, rows, make_converter(source, split, max_solutions), limit=limit)


def load_apps(
    path: str | Path = APPS_HUB_ID,
    *,
    split: str = "train",
    revision: str | None = None,
    max_solutions: int | None = DEFAULT_MAX_SOLUTIONS,
    limit: int | None = None,
) -> LoadResult[Problem]:
    """Load APPS (same layout as TACO; the folder export's objects or the hub's JSON strings)."""
    return load_taco(
        path, split=split, revision=revision, source="apps", max_solutions=max_solutions, limit=limit
    )

"""CodeContests: the hub layout (``deepmind/code_contests``) and SandboxFusion's sample layout.

Tests are the public, then private, then generated tests in that order, cut to the first
``max_tests`` (the paper keeps 10; ``None`` keeps all). Python 3 reference solutions are kept (up
to ``max_solutions``) so notebook 02 can check the tests in the sandbox; Python 2, C++ and Java
solutions are dropped. The difficulty and source integers become their names.

SandboxFusion's layout (``content``, ``labels`` and ``test`` as JSON strings, ``id``) has the
tests already merged and no solutions or time limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from criticlab.data.loading import LoadResult, SkipRow, collect, iter_rows, json_field, optional, require
from criticlab.data.taco import DEFAULT_TIME_LIMIT, parse_time_limit
from criticlab.data.text import accepts_multiple_answers
from criticlab.data.types import Problem, Test

HUB_ID = "deepmind/code_contests"
HUB_REVISION = "802411c3010cb00d1b05bad57ca77365a3c699d6"
"""``main`` of ``deepmind/code_contests`` since 2023-06 (train 13,328 / valid 117 / test 165)."""
DEFAULT_MAX_TESTS = 10
PYTHON3 = 3

SOURCES = ("UNKNOWN_SOURCE", "CODECHEF", "CODEFORCES", "HACKEREARTH", "CODEJAM", "ATCODER", "AIZU")
DIFFICULTIES = (
    "UNKNOWN_DIFFICULTY", "EASY", "MEDIUM", "HARD", "HARDER", "HARDEST", "EXTERNAL",
    *[chr(c) for c in range(ord("A"), ord("V") + 1)],
)  # fmt: skip
"""The dataset's class labels, index = the integer stored in the row."""


def _label(value: Any, names: tuple[str, ...]) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return names[value] if 0 <= value < len(names) else str(value)
    return str(value or "")


def _pairs(value: Any, field_name: str) -> list[tuple[str, str]]:
    """``{"input": [...], "output": [...]}`` (datasets) or ``[{"input", "output"}, ...]`` (parquet)."""
    if value is None:
        return []
    if isinstance(value, dict):
        inputs, outputs = value.get("input") or [], value.get("output") or []
        if len(inputs) != len(outputs):
            raise SkipRow(
                f"field {field_name!r} has unpaired tests", f"{len(inputs)} inputs, {len(outputs)} outputs"
            )
        pairs = list(zip(inputs, outputs, strict=False))
    elif isinstance(value, list):
        pairs = [(p.get("input"), p.get("output")) for p in value if isinstance(p, dict)]
    else:
        raise SkipRow(f"field {field_name!r} has the wrong type", f"got {type(value).__name__}")
    if not all(isinstance(i, str) and isinstance(o, str) for i, o in pairs):
        raise SkipRow(f"field {field_name!r} has non-string tests")
    return pairs


def _python3_solutions(value: Any, max_solutions: int | None) -> list[str]:
    if isinstance(value, dict):
        pairs = list(zip(value.get("language") or [], value.get("solution") or [], strict=False))
    elif isinstance(value, list):
        pairs = [(s.get("language"), s.get("solution")) for s in value if isinstance(s, dict)]
    else:
        return []
    kept = [code for lang, code in pairs if lang in (PYTHON3, "PYTHON3") and isinstance(code, str)]
    return kept if max_solutions is None else kept[:max_solutions]


def make_hub_converter(split: str, max_tests: int | None, max_solutions: int | None):
    def convert(row: dict[str, Any], index: int) -> Problem:
        name = require(row, "name")
        description = require(row, "description")
        counts = {}
        tests: list[tuple[str, str]] = []
        for group in ("public_tests", "private_tests", "generated_tests"):
            pairs = _pairs(row.get(group), group)
            counts[group] = len(pairs)
            tests.extend(pairs)
        if max_tests is not None:
            tests = tests[:max_tests]
        return Problem(
            id=f"codecontests/{name}",
            source="codecontests",
            question=description,
            kind="stdio",
            tests=[Test(kind="stdio", input=i, output=o) for i, o in tests],
            time_limit=parse_time_limit(row.get("time_limit")) or DEFAULT_TIME_LIMIT,
            difficulty=_label(row.get("difficulty"), DIFFICULTIES),
            solutions=_python3_solutions(row.get("solutions"), max_solutions),
            metadata={
                "name": name,
                "split": split,
                "origin": _label(row.get("source"), SOURCES),
                "test_counts": counts,
                "multiple_answers": accepts_multiple_answers(description),
                "memory_limit_bytes": optional(row, "memory_limit_bytes", 0, int),
                "cf_rating": optional(row, "cf_rating", 0, int),
                "cf_tags": list(optional(row, "cf_tags", [], list)),
                "input_file": optional(row, "input_file", "", str),
                "output_file": optional(row, "output_file", "", str),
            },
        )

    return convert


def make_sandboxfusion_converter(max_tests: int | None):
    def convert(row: dict[str, Any], index: int) -> Problem:
        content = require(row, "content")
        labels = json_field(row, "labels", {})
        if not isinstance(labels, dict):
            raise SkipRow("field 'labels' is not an object")
        raw_tests = json_field(row, "test", required=True)
        if not isinstance(raw_tests, list):
            raise SkipRow("field 'test' is not a list")
        tests = []
        for item in raw_tests:
            try:
                stdin, stdout = item["input"]["stdin"], item["output"]["stdout"]
            except (KeyError, TypeError) as err:
                raise SkipRow("test without input.stdin/output.stdout", repr(err)) from err
            if not isinstance(stdin, str) or not isinstance(stdout, str):
                raise SkipRow("test without input.stdin/output.stdout", "non-string value")
            tests.append(Test(kind="stdio", input=stdin, output=stdout))
        name = labels.get("name") or f"sandboxfusion-{row.get('id', index)}"
        return Problem(
            id=f"codecontests/{name}",
            source="codecontests",
            question=content,
            kind="stdio",
            tests=tests if max_tests is None else tests[:max_tests],
            difficulty=str(labels.get("difficulty") or ""),
            metadata={
                "name": name,
                "origin": str(labels.get("source") or ""),
                "sandboxfusion_id": row.get("id"),
                "test_counts": {"all": len(tests)},
                "multiple_answers": accepts_multiple_answers(content),
            },
        )

    return convert


def make_converter(split: str, max_tests: int | None, max_solutions: int | None):
    """Pick the layout per row: ``content`` + ``test`` → SandboxFusion, ``description``/tests → hub."""
    hub = make_hub_converter(split, max_tests, max_solutions)
    sandboxfusion = make_sandboxfusion_converter(max_tests)

    def convert(row: dict[str, Any], index: int) -> Problem:
        if "content" in row and "test" in row:
            return sandboxfusion(row, index)
        if "description" in row or "public_tests" in row:
            return hub(row, index)
        raise SkipRow("unknown CodeContests layout", f"fields {sorted(row)[:8]}")

    return convert


def load_codecontests(
    path: str | Path = HUB_ID,
    *,
    split: str = "test",
    revision: str | None = HUB_REVISION,
    max_tests: int | None = DEFAULT_MAX_TESTS,
    max_solutions: int | None = 5,
    limit: int | None = None,
) -> LoadResult[Problem]:
    """Load CodeContests (``split`` test/valid/train) from the hub or a local file of either layout."""
    location, rows = iter_rows(path, split=split, revision=revision)
    return collect(
        "codecontests", location, rows, make_converter(split, max_tests, max_solutions), limit=limit
    )

"""LiveCodeBench code generation: the hub layout and SandboxFusion's sample layout.

Hub (``livecodebench/code_generation_lite``): releases are cumulative JSONL files
(``release_v1`` = ``test.jsonl``, ``release_v2`` adds ``test2.jsonl``, ... ; ``v3`` alone is
``test3.jsonl``), fetched with ``huggingface_hub`` rather than the dataset's loading script.
Public tests are a JSON list; private tests are the same list either as JSON or as
``base64(zlib(pickle(json_text)))``, decoded with :mod:`criticlab.data.safepickle` (primitive
values only — never an arbitrary unpickle). ``start_date``/``end_date`` (inclusive, ``YYYY-MM-DD``)
keep problems by ``contest_date``, the contamination-free window the benchmark is built for.

Functional (LeetCode) tests put one JSON value per line of ``input`` (one per argument) and a JSON
value in ``output``; they become ``call`` tests on ``Solution.<func_name>``.

SandboxFusion's layout has the prompt (with the question inside) in ``content`` and all tests in
one pickled ``{"input_output": json}`` payload; its ``canonical_solution`` is a placeholder
(``sys.exit(0)``) and is ignored.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from criticlab.data.loading import (
    LoadResult,
    SkipRow,
    collect,
    hub_error,
    hub_location,
    is_hub_id,
    iter_local_rows,
    json_field,
    local_files,
    optional,
    require,
)
from criticlab.data.preludes import LIVECODEBENCH as LIVECODEBENCH_PRELUDE
from criticlab.data.safepickle import decode_compressed_pickle
from criticlab.data.taco import DEFAULT_TIME_LIMIT, entry_point_for
from criticlab.data.types import Problem, Test

HUB_ID = "livecodebench/code_generation_lite"
RELEASE_FILES = ["test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl", "test5.jsonl", "test6.jsonl"]
DEFAULT_RELEASE = "release_v5"


def release_files(release: str) -> list[str]:
    """Files of a release tag: ``release_vN`` (cumulative), ``vN`` (that file only), ``release_latest``."""
    if release == "release_latest":
        return list(RELEASE_FILES)
    match = re.fullmatch(r"(release_)?v(\d+)", release)
    if not match or not 1 <= int(match.group(2)) <= len(RELEASE_FILES):
        raise ValueError(
            f"unknown LiveCodeBench release {release!r}; use release_v1..release_v{len(RELEASE_FILES)}, "
            f"v1..v{len(RELEASE_FILES)} or release_latest"
        )
    number = int(match.group(2))
    return RELEASE_FILES[:number] if match.group(1) else [RELEASE_FILES[number - 1]]


def parse_date(value: str | dt.date | None) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as err:
        raise ValueError(f"not a YYYY-MM-DD date: {value!r}") from err


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def decode_private_tests(value: Any) -> Any:
    """Private tests as stored: JSON text, or the compressed pickle of JSON text (or of a dict)."""
    if not isinstance(value, str) or not value.strip():
        return []
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        pass
    try:
        payload = decode_compressed_pickle(value)
    except ValueError as err:
        raise SkipRow("private tests are not decodable", str(err)) from err
    if isinstance(payload, (bytes, bytearray)):
        payload = payload.decode("utf-8")
    if isinstance(payload, str):
        try:
            return json.loads(payload)
        except json.JSONDecodeError as err:
            raise SkipRow("private tests are not decodable", f"payload is not JSON ({err.msg})") from err
    return payload


def functional_args(text: str) -> list[Any]:
    """One JSON value per line of a functional test's input."""
    lines = [line for line in text.split("\n") if line.strip()]
    try:
        return [json.loads(line) for line in lines]
    except json.JSONDecodeError as err:
        raise SkipRow("functional test input is not JSON", err.msg) from err


def _json_value(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise SkipRow("functional test output is not JSON", err.msg) from err


def make_test(item: Any, functional: bool) -> Test:
    if not isinstance(item, dict) or not isinstance(item.get("input"), str) or "output" not in item:
        raise SkipRow("test case without input/output")
    testtype = item.get("testtype") or ("functional" if functional else "stdin")
    if testtype == "functional":
        return Test(kind="call", args=functional_args(item["input"]), expected=_json_value(item["output"]))
    if not isinstance(item["output"], str):
        raise SkipRow("stdin test output is not text")
    return Test(kind="stdio", input=item["input"], output=item["output"])


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


def _in_window(date: dt.date | None, start: dt.date | None, end: dt.date | None) -> None:
    if start is None and end is None:
        return
    if date is None:
        raise SkipRow("no contest_date for the date window")
    if (start and date < start) or (end and date > end):
        raise SkipRow("outside the date window")


def convert_hub_row(row: dict[str, Any], start: dt.date | None, end: dt.date | None) -> Problem:
    question_id = str(require(row, "question_id", (str, int)))
    content = require(row, "question_content")
    platform = optional(row, "platform", "", str)
    date_text = optional(row, "contest_date", "", str)
    try:
        date = parse_date(date_text) if date_text else None
    except ValueError as err:
        raise SkipRow("field 'contest_date' is not a date", date_text) from err
    _in_window(date, start, end)
    meta = json_field(row, "metadata", {})
    func_name = (meta or {}).get("func_name", "") if isinstance(meta, dict) else ""
    starter = optional(row, "starter_code", "", str)
    public = json_field(row, "public_test_cases", [])
    private = decode_private_tests(row.get("private_test_cases"))
    if not isinstance(public, list) or not isinstance(private, list):
        raise SkipRow("test cases are not lists")
    functional = bool(func_name)
    tests = [make_test(item, functional) for item in public + private]
    return Problem(
        id=f"livecodebench/{platform or 'unknown'}/{question_id}",
        source="livecodebench",
        question=content,
        kind="functional" if functional else "stdio",
        tests=tests,
        entry_point=entry_point_for(func_name, starter) if functional else "",
        starter_code=starter,
        time_limit=DEFAULT_TIME_LIMIT,
        difficulty=optional(row, "difficulty", "", str),
        metadata={
            "title": optional(row, "question_title", "", str),
            "platform": platform,
            "contest_id": str(row.get("contest_id") or ""),
            "contest_date": date_text,
            "n_public": len(public),
            "n_private": len(private),
        },
        prelude=LIVECODEBENCH_PRELUDE,
    )


_QUESTION = re.compile(r"### Question:\n(.*?)\n+### Format:", re.DOTALL)
_STARTER = re.compile(r"### Format:.*?```python\n(.*?)```", re.DOTALL)


def convert_sandboxfusion_row(row: dict[str, Any], start: dt.date | None, end: dt.date | None) -> Problem:
    content = require(row, "content")
    labels = json_field(row, "labels", {})
    if not isinstance(labels, dict):
        raise SkipRow("field 'labels' is not an object")
    _in_window(parse_date(labels["contest_date"]) if labels.get("contest_date") else None, start, end)
    payload = decode_private_tests(require(row, "test"))
    if isinstance(payload, dict) and "input_output" in payload:
        payload = payload["input_output"]
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as err:
            raise SkipRow(
                "test payload has no inputs/outputs", f"input_output is not JSON ({err.msg})"
            ) from err
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise SkipRow("test payload has no inputs/outputs")
    inputs, outputs = payload["inputs"], payload.get("outputs") or []
    if len(inputs) != len(outputs):
        raise SkipRow("no usable tests", f"{len(inputs)} inputs but {len(outputs)} outputs")
    func_name = payload.get("fn_name") or ""
    question_match = _QUESTION.search(content)
    starter_match = _STARTER.search(content)
    starter = starter_match.group(1).rstrip() + "\n" if starter_match else ""
    if "YOUR CODE HERE" in starter:
        starter = ""
    functional = bool(func_name)
    tests = [
        make_test({"input": i, "output": o, "testtype": "functional" if functional else "stdin"}, functional)
        for i, o in zip(inputs, outputs, strict=False)
    ]
    task_id = str(labels.get("task_id") or f"unknown/{row.get('id')}")
    platform = task_id.split("/", 1)[0] if "/" in task_id else str(labels.get("category") or "")
    return Problem(
        id=f"livecodebench/{task_id}",
        source="livecodebench",
        question=question_match.group(1).strip() if question_match else content,
        kind="functional" if functional else "stdio",
        tests=tests,
        entry_point=entry_point_for(func_name, starter) if functional else "",
        starter_code=starter,
        time_limit=DEFAULT_TIME_LIMIT,
        difficulty=str(labels.get("difficulty") or ""),
        metadata={
            "platform": platform,
            "sandboxfusion_id": row.get("id"),
            "n_public": 0,
            "n_private": len(tests),
        },
        prelude=LIVECODEBENCH_PRELUDE,
    )


def make_converter(start_date: str | dt.date | None, end_date: str | dt.date | None):
    start, end = parse_date(start_date), parse_date(end_date)

    def convert(row: dict[str, Any], index: int) -> Problem:
        if "question_content" in row:
            return convert_hub_row(row, start, end)
        if "content" in row and "test" in row:
            return convert_sandboxfusion_row(row, start, end)
        raise SkipRow("unknown LiveCodeBench layout", f"fields {sorted(row)[:8]}")

    return convert


def _iter_hub_release(dataset_id: str, files: list[str], revision: str | None) -> Iterator[tuple[str, Any]]:
    try:
        from huggingface_hub import hf_hub_download

        paths = [hf_hub_download(dataset_id, name, repo_type="dataset", revision=revision) for name in files]
    except Exception as err:  # offline: LocalEntryNotFoundError, ConnectionError, ...
        raise hub_error(dataset_id, err, revision=revision, what=f"files {', '.join(files)}") from err
    for path in paths:
        yield from iter_local_rows(path)


def load_livecodebench(
    path: str | Path = HUB_ID,
    *,
    release: str = DEFAULT_RELEASE,
    start_date: str | dt.date | None = None,
    end_date: str | dt.date | None = None,
    revision: str | None = None,
    limit: int | None = None,
) -> LoadResult[Problem]:
    """Load LiveCodeBench code generation problems.

    ``release`` picks the hub files (ignored for a local path, which is read whole);
    ``start_date``/``end_date`` filter by contest date for either layout (rows outside are
    counted in ``skipped``).
    """
    converter = make_converter(start_date, end_date)
    if is_hub_id(path):
        files = release_files(release)
        location = hub_location(str(path), revision, release)
        rows = _iter_hub_release(str(path), files, revision)
    else:
        local_files(path)
        location, rows = str(path), iter_local_rows(path)
    return collect("livecodebench", location, rows, converter, limit=limit)

"""Every loader on the real schema samples and the hand-made hub-layout rows (tests/fixtures/data)."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from criticlab import data
from criticlab.data import DataSourceError, LoadResult, Problem, is_hub_id
from criticlab.data.livecodebench import release_files
from criticlab.io import read_jsonl, write_jsonl

FIXTURES = Path(__file__).parents[1] / "fixtures" / "data"

LOADERS: dict[str, tuple[Callable[..., LoadResult], str]] = {
    "mbpp": (data.load_mbpp, "mbpp_schema_sample.jsonl"),
    "mbppplus": (data.load_mbppplus, "mbppplus_hub_sample.jsonl"),
    "apps": (data.load_apps, "apps_schema_sample.jsonl"),
    "taco": (data.load_taco, "taco_hub_sample.jsonl"),
    "codecontests-hub": (data.load_codecontests, "codecontests_hub_sample.jsonl"),
    "codecontests-sandboxfusion": (data.load_codecontests, "code_contests_sandboxfusion_schema_sample.jsonl"),
    "livecodebench-hub": (data.load_livecodebench, "livecodebench_hub_sample.jsonl"),
    "livecodebench-sandboxfusion": (
        data.load_livecodebench,
        "livecodebench_sandboxfusion_schema_sample.jsonl",
    ),
    "judgebench": (data.load_judgebench, "judgebench_schema_sample.jsonl"),
}


def load(name: str, **kwargs) -> LoadResult:
    loader, file = LOADERS[name]
    return loader(FIXTURES / file, **kwargs)


def by_id(result: LoadResult) -> dict[str, Problem]:
    return {p.id: p for p in result.records}


# --------------------------------------------------------------------------------------------
# Round trip and skip accounting, for every loader
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_every_loader_output_survives_write_and_read(name: str, tmp_path: Path) -> None:
    result = load(name)
    assert result.records
    path = tmp_path / f"{name}.jsonl"
    if name == "judgebench":
        data.write_pairs(path, result.records)
        assert data.read_pairs(path) == result.records
    else:
        data.write_problems(path, result.records)
        assert data.read_problems(path) == result.records


def test_humaneval_round_trip(tmp_path: Path) -> None:
    problems = data.load_humaneval().records
    data.write_problems(tmp_path / "he.jsonl", problems)
    assert data.read_problems(tmp_path / "he.jsonl") == problems


@pytest.mark.parametrize(
    ("name", "skipped"),
    [
        (
            "taco",
            {
                "field 'input_output' is not valid JSON": 1,
                "missing field 'question'": 1,
                "invalid JSON line": 1,
            },
        ),
        (
            "codecontests-hub",
            {"missing field 'description'": 1, "field 'public_tests' has unpaired tests": 1},
        ),
        ("livecodebench-hub", {"private tests are not decodable": 1}),
        ("mbppplus", {"MBPP+ test program does not parse": 1}),
    ],
)
def test_malformed_rows_are_skipped_and_counted(name: str, skipped: dict[str, int]) -> None:
    result = load(name)
    assert dict(result.skipped) == skipped
    assert result.rows_read == len(result.records) + sum(skipped.values())
    for reason in skipped:  # every reason points at the row it came from
        assert all(LOADERS[name][1] in where for where in result.skip_examples[reason])
    summary = result.summary()
    json.dumps(summary)
    assert summary["skipped"] == skipped and summary["loaded"] == len(result.records)


def test_source_without_a_valid_row_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken_taco.jsonl"
    write_jsonl(path, [{"question": "q", "input_output": "{not json"}, {"nothing": 1}])
    with pytest.raises(DataSourceError, match=r"broken_taco\.jsonl: no valid taco row among 2"):
        data.load_taco(path)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(DataSourceError, match=r"empty\.jsonl.*source is empty"):
        data.load_mbpp(empty)
    with pytest.raises(DataSourceError, match=r"missing\.jsonl: no such file"):
        data.load_judgebench(tmp_path / "missing.jsonl")


def test_a_non_object_row_is_counted_not_fatal(tmp_path: Path) -> None:
    rows = read_jsonl(FIXTURES / "judgebench_schema_sample.jsonl")
    path = tmp_path / "jb.jsonl"
    path.write_text(
        "\n".join([json.dumps(rows[0]), "[1, 2]", json.dumps({**rows[1], "label": "A=B"})]) + "\n"
    )
    result = data.load_judgebench(path)
    assert len(result.records) == 1
    assert dict(result.skipped) == {"row is not an object": 1, "unknown label": 1}


# --------------------------------------------------------------------------------------------
# Local formats and hub ids
# --------------------------------------------------------------------------------------------


def test_hub_ids_and_local_paths_are_told_apart(tmp_path: Path) -> None:
    assert is_hub_id("BAAI/TACO") and is_hub_id("deepmind/code_contests")
    assert is_hub_id("livecodebench/code_generation_lite")
    assert not is_hub_id("data/taco.jsonl")
    assert not is_hub_id("./owner/name")
    assert not is_hub_id("/abs/owner")
    assert not is_hub_id("a/b/c")
    assert not is_hub_id(FIXTURES / "mbpp_schema_sample.jsonl")
    (tmp_path / "owner").mkdir()
    (tmp_path / "owner" / "name").mkdir()
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert not is_hub_id("owner/name")  # an existing directory wins
    finally:
        os.chdir(cwd)


def test_parquet_json_gz_and_directory_inputs_give_the_same_problems(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = read_jsonl(FIXTURES / "apps_schema_sample.jsonl")
    expected = data.load_apps(FIXTURES / "apps_schema_sample.jsonl").records
    # hub-style parquet: JSON-in-string fields, as codeparrot/apps and BAAI/TACO store them
    flat = [  # every row gets every column (pyarrow takes the schema from the first row)
        {
            "starter_code": None,
            **r,
            "input_output": json.dumps(r["input_output"]),
            "solutions": json.dumps(r["solutions"]),
        }
        for r in rows
    ]
    pq.write_table(pa.Table.from_pylist(flat), tmp_path / "train-00000.parquet")
    assert data.load_apps(tmp_path / "train-00000.parquet").records == expected
    (tmp_path / "rows.json").write_text(json.dumps({"train": rows}))
    assert data.load_apps(tmp_path / "rows.json").records == expected
    with gzip.open(tmp_path / "rows.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    assert data.load_apps(tmp_path / "rows.jsonl.gz").records == expected
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    pq.write_table(pa.Table.from_pylist(flat), snapshot / "train-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(flat[:1]), snapshot / "test-00000-of-00001.parquet")
    assert len(data.load_apps(snapshot, split="train").records) == 5
    assert len(data.load_apps(snapshot, split="test").records) == 1


def test_codecontests_parquet_with_list_of_struct_tests(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    row = read_jsonl(FIXTURES / "codecontests_hub_sample.jsonl")[0]
    for group in ("public_tests", "private_tests", "generated_tests"):
        row[group] = [
            {"input": i, "output": o} for i, o in zip(row[group]["input"], row[group]["output"], strict=True)
        ]
    row["solutions"] = [
        {"language": lang, "solution": code}
        for lang, code in zip(row["solutions"]["language"], row["solutions"]["solution"], strict=True)
    ]
    pq.write_table(pa.Table.from_pylist([row]), tmp_path / "cc.parquet")
    [problem] = data.load_codecontests(tmp_path / "cc.parquet").records
    assert problem == data.load_codecontests(FIXTURES / "codecontests_hub_sample.jsonl").records[0]


_OFFLINE_SCRIPT = """
import sys
from criticlab import data
for call in (
    lambda: data.load_judgebench("criticlab-test/no-such-dataset"),
    lambda: data.load_livecodebench("criticlab-test/no-such-dataset", release="release_v2"),
):
    try:
        call()
    except data.DataSourceError as err:
        print(err)
    else:
        sys.exit("loaded a dataset that cannot exist")
"""


def test_unreachable_hub_names_the_dataset_and_suggests_a_local_path() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _OFFLINE_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    messages = out.stdout.strip().splitlines()
    assert len(messages) == 2
    for message in messages:
        assert "'criticlab-test/no-such-dataset'" in message
        assert "hub is unreachable" in message and "local path" in message
    assert "test2.jsonl" in messages[1]


# --------------------------------------------------------------------------------------------
# HumanEval (offline default)
# --------------------------------------------------------------------------------------------


def test_humaneval_loads_with_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    result = data.load_humaneval()
    assert len(result.records) == 164 and not result.skipped
    first = result.records[0]
    assert first.id == "HumanEval/0" and first.source == "humaneval" and first.kind == "functional"
    assert first.entry_point == "has_close_elements"
    [test] = first.tests
    assert test.kind == "assert" and "def check(candidate):" in test.code
    assert first.solutions[0].startswith(first.question) and first.solutions[0].endswith("return False\n")
    assert len({p.id for p in result.records}) == 164
    assert data.load_humaneval(limit=3).records == result.records[:3]


# --------------------------------------------------------------------------------------------
# Source by source, field by field
# --------------------------------------------------------------------------------------------


def test_mbpp_fields_and_defaults(tmp_path: Path) -> None:
    problems = by_id(load("mbpp"))
    assert sorted(problems) == [f"mbpp/{i}" for i in range(1, 6)]
    p = problems["mbpp/2"]
    assert p.entry_point == "similar_elements" and p.kind == "functional"
    assert [t.kind for t in p.tests] == ["assert"] * 3
    assert p.tests[0].code == "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)"
    assert p.question.startswith("Write a function to find the similar elements")
    assert p.question.endswith(p.tests[0].code)  # the function name reaches the model
    assert "\r" not in p.solutions[0] and "def similar_elements" in p.solutions[0]
    assert problems["mbpp/1"].entry_point == "min_cost"  # R, C globals are not mistaken for it
    # optional fields missing: documented defaults (no setup, no challenge tests, no solution)
    row = read_jsonl(FIXTURES / "mbpp_schema_sample.jsonl")[2]
    for key in ("test_setup_code", "challenge_test_list", "code"):
        row.pop(key)
    write_jsonl(tmp_path / "m.jsonl", [row])
    [bare] = data.load_mbpp(tmp_path / "m.jsonl").records
    assert bare.test_setup == "" and bare.metadata["challenge_tests"] == [] and bare.solutions == []
    assert bare.entry_point == "is_not_prime"


def test_mbppplus_call_tests_tolerance_and_replayed_asserts() -> None:
    problems = by_id(load("mbppplus"))
    ends = problems["mbppplus/9002"]
    assert ends.entry_point == "ends" and [t.kind for t in ends.tests] == ["call"] * 3
    assert ends.tests[0].args == [[1, 2, 3]] and ends.tests[0].expected == [1, 3]  # tuple → JSON list
    assert ends.tests[0].atol is None and ends.metadata["atol"] == 0.0
    assert ends.question.endswith("assert ends([1, 2, 3]) == (1, 3)")
    area = problems["mbppplus/9003"]
    assert [t.atol for t in area.tests] == [0.0001] * 3 and area.tests[1].args == [2.5]
    assert area.test_setup == "import math"
    shared = problems["mbppplus/9004"]
    assert shared.metadata["test_form"] == "replayed_assertion" and shared.entry_point == "shared"
    assert [t.kind for t in shared.tests] == ["assert", "assert"]
    assert (
        shared.tests[1].code == "inp = [(1, 2), (3,)]\nexp = ()\nassertion(set(shared(*inp)), set(exp), 0)\n"
    )
    assert "def assertion(out, exp, atol):" in shared.test_setup
    assert "inputs = " not in shared.test_setup  # the data lives in the tests, not the setup


def test_apps_stdio_and_call_based_problems() -> None:
    problems = by_id(load("apps"))
    assert sorted(problems) == [
        "apps/train/0001",
        "apps/train/0111",
        "apps/train/2287",
        "apps/train/2404",
        "apps/train/4184",
    ]
    first = problems["apps/train/0001"]
    assert first.kind == "stdio" and first.entry_point == ""
    assert first.tests[0].input == "3\n2 2 3\n4 3 7\n10 1 9\n" and first.tests[0].output == "1\n6\n-1\n"
    assert first.difficulty == "interview" and first.metadata["url"].endswith("/1036/B")
    assert len(first.solutions) == 5  # 24 in the sample, capped by max_solutions
    assert (
        len(data.load_apps(FIXTURES / "apps_schema_sample.jsonl", max_solutions=None).records[0].solutions)
        == 24
    )
    leet = problems["apps/train/2404"]
    assert leet.kind == "functional" and leet.entry_point == "Solution.findKthPositive"
    assert leet.tests[0].args == [[2, 3, 4, 7, 11], 5] and leet.tests[0].expected == 9
    assert leet.metadata["outputs_unwrapped"] is False
    kata = problems["apps/train/4184"]
    assert kata.entry_point == "is_prime" and kata.metadata["outputs_unwrapped"] is True
    assert [(t.args, t.expected) for t in kata.tests[:3]] == [([1], False), ([2], True), ([5], True)]
    assert problems["apps/train/2287"].metadata["multiple_answers"] is True


def test_taco_json_string_fields_time_limits_and_kinds() -> None:
    problems = by_id(load("taco"))
    assert len(problems) == 8
    plain = problems["taco/train/0"]
    assert plain.kind == "stdio" and plain.time_limit == 2.0 and plain.difficulty == "EASY"
    assert plain.metadata["tags"] == ["Math"] and plain.metadata["memory_limit"] == "256 megabytes"
    kata = problems["taco/train/1"]
    assert kata.kind == "functional" and kata.entry_point == "double"
    assert [(t.args, t.expected) for t in kata.tests] == [([1], 2), ([5], 10)]  # codewars wrapper removed
    assert kata.time_limit == 2.0 and kata.metadata["time_limit_raw"] == ""  # empty → default
    lines = problems["taco/train/2"]
    assert lines.tests[0].input == "3\n1 5 2" and lines.time_limit == 1.0
    assert problems["taco/train/7"].time_limit == 0.5
    assert problems["taco/train/3"].metadata["picture_num"] == 1
    assert problems["taco/train/6"].tests == []  # kept for the filter report to count


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("2 seconds", 2.0), ("1 second", 1.0), ("0.5 seconds", 0.5), ("1.5 s", 1.5), ("500 ms", 0.5),
     (3, 3.0), ({"seconds": 2, "nanos": 500_000_000}, 2.5), ("", None), ("None", None), (None, None),
     ({"seconds": 0, "nanos": 0}, None)],
)  # fmt: skip
def test_parse_time_limit(raw, seconds) -> None:
    assert data.parse_time_limit(raw) == seconds


def test_codecontests_hub_layout() -> None:
    problems = by_id(load("codecontests-hub"))
    socks = problems["codecontests/460_A. Vasya and Socks"]
    assert socks.kind == "stdio" and len(socks.tests) == 10  # 2 public + 1 private + 12 generated, first 10
    assert [t.input for t in socks.tests[:4]] == ["2 2\n", "9 3\n", "1 2\n", "3 3\n"]
    assert socks.metadata["test_counts"] == {"public_tests": 2, "private_tests": 1, "generated_tests": 12}
    assert socks.solutions == [
        "n, m = map(int, input().split())\nprint(n + (n - 1) // (m - 1))\n"
    ]  # Python 3 only
    assert socks.time_limit == 1.5 and socks.difficulty == "A" and socks.metadata["origin"] == "CODEFORCES"
    assert socks.metadata["cf_rating"] == 900
    brackets = problems["codecontests/brcktsrm"]
    assert brackets.difficulty == "EXTERNAL" and brackets.time_limit == 2.0 and brackets.solutions == []
    everything = by_id(load("codecontests-hub", max_tests=None))
    assert len(everything["codecontests/460_A. Vasya and Socks"].tests) == 15


def test_codecontests_sandboxfusion_layout() -> None:
    result = load("codecontests-sandboxfusion")
    problems = by_id(result)
    assert len(problems) == 5
    a3 = problems["codecontests/a3"]
    assert a3.kind == "stdio" and len(a3.tests) == 10 and a3.metadata["test_counts"] == {"all": 101}
    assert a3.tests[0].input.startswith("3\n2\n< 100 No\n? 100 No") and a3.tests[0].output == "0\n1\n2\n"
    assert a3.difficulty == "MEDIUM" and a3.metadata["origin"] == "CODECHEF"
    assert a3.question.startswith("Alice and Johnny are playing a simple guessing game.")
    assert problems["codecontests/1000_A. Codehorses T-shirts"].difficulty == "A"
    assert problems["codecontests/1025_B. Weakened Common Divisor"].metadata["multiple_answers"] is True


def test_livecodebench_sandboxfusion_layout() -> None:
    problems = by_id(load("livecodebench-sandboxfusion"))
    assert sorted(problems) == [
        "livecodebench/atcoder/abc301_a",
        "livecodebench/codeforces/1873_A",
        "livecodebench/leetcode/2727",
    ]
    cards = problems["livecodebench/codeforces/1873_A"]
    assert cards.kind == "stdio" and len(cards.tests) == 5
    assert cards.tests[0].input == "6\nabc\nacb\nbac\nbca\ncab\ncba\n"
    assert cards.tests[0].output == "YES\nYES\nYES\nNO\nNO\nYES\n"
    assert cards.question.startswith("There are three cards") and "### Format" not in cards.question
    assert cards.starter_code == "" and cards.solutions == []  # the placeholder is not a solution
    seniors = problems["livecodebench/leetcode/2727"]
    assert seniors.kind == "functional" and seniors.entry_point == "Solution.countSeniors"
    assert seniors.starter_code.startswith("class Solution:\n    def countSeniors(self, details: List[str])")
    assert len(seniors.tests) == 14
    assert seniors.tests[0].args == [["7868190130M7522", "5303914400F9211", "9273338290F4010"]]
    assert seniors.tests[0].expected == 2
    assert problems["livecodebench/atcoder/abc301_a"].difficulty == "easy"


def test_livecodebench_hub_layout_private_tests_and_date_window() -> None:
    problems = by_id(load("livecodebench-hub"))
    sums = problems["livecodebench/atcoder/abc900_a"]
    assert [(t.input, t.output) for t in sums.tests] == [
        ("2\n4 5\n", "9\n"),
        ("3\n1 2 3\n", "6\n"),
        ("1\n7\n", "7\n"),
    ]
    assert (
        sums.metadata["n_public"] == 1 and sums.metadata["n_private"] == 2
    )  # private from the compressed pickle
    assert sums.metadata["contest_date"] == "2024-09-07T00:00:00"
    add = problems["livecodebench/leetcode/9001"]
    assert add.entry_point == "Solution.addAll"
    assert [(t.args, t.expected) for t in add.tests] == [
        ([[0], 1], [1]),
        ([[1, 2, 3], 2], [3, 4, 5]),
        ([[], 5], []),
    ]
    window = load("livecodebench-hub", start_date="2024-09-01", end_date="2024-09-30")
    assert sorted(p.id for p in window.records) == ["livecodebench/atcoder/abc900_a"]
    assert window.skipped["outside the date window"] == 2


def test_livecodebench_release_files() -> None:
    assert release_files("release_v1") == ["test.jsonl"]
    assert release_files("release_v3") == ["test.jsonl", "test2.jsonl", "test3.jsonl"]
    assert release_files("v3") == ["test3.jsonl"]
    assert len(release_files("release_latest")) == 6
    with pytest.raises(ValueError, match="release_v9"):
        release_files("release_v9")


def test_judgebench_pairs() -> None:
    result = load("judgebench")
    assert [p.label for p in result.records] == ["A>B", "A>B", "B>A"]
    first = result.records[0]
    assert first.id == "b5ce1305-50fe-5a5e-b785-325ab15c6d2b" and first.original_id == 6603
    assert first.category == "mmlu-pro-health" and first.response_model == "claude-3-5-sonnet-20240620"
    assert first.question.startswith("In the brain stem") and first.response_a.startswith(
        "Let's break this down"
    )
    chem = load("judgebench", category_prefix="mmlu-pro-chem")
    assert [p.original_id for p in chem.records] == [4665] and chem.skipped["other category"] == 2

"""Atomic writes and resumable JSONL."""

from __future__ import annotations

from pathlib import Path

import pytest

from criticlab.io import JsonlError, append_jsonl, atomic_open, read_jsonl, write_json, write_jsonl


def test_atomic_write_keeps_old_content_on_error(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write('{"v": 2')
        raise RuntimeError("crash mid-write")
    assert target.read_text() == '{\n  "v": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temp file left behind


def test_jsonl_round_trip_unicode(tmp_path: Path) -> None:
    rows = [{"q": "Δ↑ ≥ 0", "n": 1}, {"q": "line\nbreak", "n": [1, 2]}]
    write_jsonl(tmp_path / "r.jsonl", rows)
    assert read_jsonl(tmp_path / "r.jsonl") == rows


def test_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\nnot json\n{"b": 2}\n')
    with pytest.raises(JsonlError, match=r"bad\.jsonl:2"):
        read_jsonl(path)
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(JsonlError, match="expected a JSON object"):
        read_jsonl(path)


def test_append_after_crash_drops_truncated_tail(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    append_jsonl(path, [{"i": 0}, {"i": 1}])
    with path.open("a") as handle:  # a crash mid-append leaves half a line
        handle.write('{"i": 2, "tex')
    assert read_jsonl(path, skip_truncated_tail=True) == [{"i": 0}, {"i": 1}]
    with pytest.raises(JsonlError):
        read_jsonl(path)
    append_jsonl(path, [{"i": 2}])
    assert read_jsonl(path) == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_atomic_dir_replaces_whole_or_not_at_all(tmp_path) -> None:
    from criticlab.io import atomic_dir

    target = tmp_path / "model"
    with atomic_dir(target) as tmp:
        (tmp / "config.json").write_text("{}")
    assert sorted(p.name for p in target.iterdir()) == ["config.json"]
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "half.bin").write_text("x")
        raise RuntimeError("save failed")
    assert sorted(p.name for p in target.iterdir()) == ["config.json"]  # the old copy stays
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary left behind

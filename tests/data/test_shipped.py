"""MBPP and JudgeBench ship inside the package: they load offline, by name, checksum-verified."""

from __future__ import annotations

import dataclasses
import shutil
import socket

import pytest

from criticlab.data import shipped
from criticlab.data.judgebench import load_judgebench
from criticlab.data.mbpp import MBPP_SPLITS, load_mbpp
from criticlab.data.sources import load_source


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise OSError("network access in an offline test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_mbpp_loads_offline_by_name_with_upstream_splits(offline) -> None:
    sizes = {split: len(load_mbpp(split=split).records) for split in MBPP_SPLITS}
    assert sizes == {"prompt": 10, "test": 500, "validation": 90, "train": 374}  # 974 in all
    test = load_mbpp(split="test").records
    assert (
        test[0].id.endswith("11") and all(p.tests for p in test) and all(p.kind == "functional" for p in test)
    )
    assert [p.id for p in load_source("mbpp", split="train").records] == [
        p.id for p in load_mbpp(split="train").records
    ]
    with pytest.raises(ValueError, match="no split 'dev'"):
        load_mbpp(split="dev")


def test_judgebench_loads_its_350_gpt4o_pairs_offline(offline) -> None:
    pairs = load_judgebench().records
    assert len(pairs) == 350 and {p.label for p in pairs} == {"A>B", "B>A"}
    coding = load_judgebench(category_prefix="livecodebench").records
    assert len(coding) == 42
    with pytest.raises(ValueError, match="GPT-4o pairs"):
        load_judgebench(split="claude")


def test_a_damaged_shipped_copy_stops_naming_the_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "shipped"
    shutil.copytree(shipped.HERE, copy)
    with (copy / shipped.MBPP).open("a") as handle:
        handle.write("\n")
    monkeypatch.setattr(shipped, "HERE", copy)
    with pytest.raises(shipped.ShippedDataError, match=r"mbpp\.jsonl: SHA-256 .* does not match"):
        load_mbpp(split="test")
    (copy / shipped.JUDGEBENCH_GPT4O).unlink()
    with pytest.raises(shipped.ShippedDataError, match="missing"):
        load_judgebench()


def test_every_shipped_mbpp_reference_solution_passes_in_the_sandbox(executor) -> None:
    """All 974 reference solutions against the tests the loader parsed (about 5 s on 2 cores).

    One reference is slower than the default 2-second limit: task 123 (the sum of amicable numbers
    below 10000, computed by trial division); it passes when given 10 seconds.
    """
    problems = [p for split in MBPP_SPLITS for p in load_mbpp(split=split).records]
    assert len(problems) == 974 and all(p.solutions for p in problems)
    results = executor.run_batch([(p, p.solutions[0]) for p in problems])
    failed = {p.id: r.verdict.value for p, r in zip(problems, results) if not r.accepted}
    assert failed == {"mbpp/123": "TimeLimitExceeded"}
    slow = next(p for p in problems if p.id == "mbpp/123")
    assert executor.run(dataclasses.replace(slow, time_limit=10.0), slow.solutions[0]).accepted

"""The machine's cores and CPU model, which size workers and threads and label benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from criticlab import machine


def test_usable_cores_follow_the_affinity_not_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert machine.usable_cores() == 1


def test_usable_cores_fall_back_to_the_cpu_count_and_never_say_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    def unsupported(pid: int) -> set[int]:
        raise OSError("no affinity here")

    monkeypatch.setattr(os, "sched_getaffinity", unsupported, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert machine.usable_cores() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert machine.usable_cores() == 1


def test_cpu_model_reads_the_model_name_or_says_unknown(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Example CPU @ 2.00GHz\n")
    assert machine.cpu_model(info) == "Example CPU @ 2.00GHz"
    info.write_text("processor\t: 0\n")
    assert machine.cpu_model(info) == "unknown"
    assert machine.cpu_model(tmp_path / "missing") == "unknown"


def test_the_profile_module_no_longer_holds_machine_facts() -> None:
    from criticlab import config

    assert not hasattr(config, "usable_cores") and not hasattr(config, "cpu_model")

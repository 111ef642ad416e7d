"""The unsloth import-order guard, with a fake module table and importer (no unsloth here)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from criticlab.config import ConfigError, load_profile
from criticlab.llm import import_order
from criticlab.llm.import_order import unsloth_first, wants_unsloth


def test_not_asked_imports_nothing() -> None:
    calls: list[str] = []
    assert unsloth_first(False, modules={"transformers": object()}, importer=calls.append) is False
    assert calls == []


def test_asked_and_first_imports_unsloth() -> None:
    calls: list[str] = []
    assert unsloth_first(True, modules={"torch": object()}, importer=calls.append) is True
    assert calls == ["unsloth"]


def test_already_imported_is_a_no_op() -> None:
    calls: list[str] = []
    assert unsloth_first(True, modules={"unsloth": object(), "trl": object()}, importer=calls.append)
    assert calls == []


def test_too_late_names_what_came_first_and_the_fix() -> None:
    with pytest.raises(ConfigError) as err:
        unsloth_first(True, modules={"transformers": object(), "peft": object()}, importer=lambda _: None)
    text = str(err.value)
    assert "transformers, peft were imported first" in text
    assert "unsloth_first(criticlab.llm.wants_unsloth(cfg)) right after loading the profile" in text
    assert "use_unsloth: false" in text


def test_missing_or_broken_unsloth_is_a_config_error() -> None:
    def missing(name: str) -> None:
        raise ImportError(f"No module named {name!r}")

    def no_gpu(name: str) -> None:
        raise NotImplementedError("Unsloth cannot find any torch accelerator")

    with pytest.raises(ConfigError, match="make setup-gpu"):
        unsloth_first(True, modules={}, importer=missing)
    with pytest.raises(ConfigError, match="NotImplementedError: Unsloth cannot find any torch accelerator"):
        unsloth_first(True, modules={}, importer=no_gpu)


def test_profiles_ask_for_unsloth_where_they_say() -> None:
    assert wants_unsloth(load_profile("gpu")) and not wants_unsloth(load_profile("cpu"))


def test_the_training_notebooks_imports_leave_room_for_unsloth() -> None:
    """Importing what 04-06 import must not load transformers, trl or peft: unsloth comes after."""
    code = (
        "import sys\n"
        "from criticlab import config, crl, ctrl, stages, stats, training\n"
        "from criticlab.llm import engine_for, policy_engine, sampling_for, unsloth_first\n"
        "from criticlab.sandbox import make_executor\n"
        f"print(sorted(m for m in {import_order.PATCHED!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

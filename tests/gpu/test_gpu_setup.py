"""make setup-gpu: its own venv, which the CPU targets never touch, and a Python new enough for
the pinned TRL, refused otherwise with one line before anything is installed.

The interpreters here are stand-ins that print a version: the check must stop an old one before
the venv step, and let a new one through to it (where the stand-in, which makes no venv, stops
the recipe at pip without installing anything).
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")


def makefile_value(name: str) -> str:
    match = re.search(rf"^{name} :?= *(\S+)$", MAKEFILE, re.MULTILINE)
    assert match, f"the Makefile sets no {name}"
    return match.group(1)


def stand_in_python(directory: Path, version: str) -> Path:
    path = directory / f"python{version}"
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def make_n(target: str) -> str:
    out = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_python_floor_agrees_with_constraints_and_the_pinned_trl() -> None:
    """trl 1.15.0 (constraints/gpu.txt) requires Python >= 3.11 (its wheel's Requires-Python; so
    does the installed, newer TRL); the Makefile refuses below GPU_PYTHON_MIN and the
    constraints' comment names the range."""
    floor = makefile_value("GPU_PYTHON_MIN")
    constraints = (ROOT / "constraints" / "gpu.txt").read_text(encoding="utf-8")
    assert "trl==1.15.0" in constraints.splitlines()
    said = re.search(r"Python (\d+\.\d+)-(\d+\.\d+)", constraints)
    assert said, "constraints/gpu.txt names no Python range"
    assert said.group(1) == floor == "3.11"
    pinned_trl = SpecifierSet(">=3.11")
    assert floor in pinned_trl and said.group(2) in pinned_trl and "3.10" not in pinned_trl
    installed = importlib.metadata.metadata("trl")
    if Version(installed["Version"]) >= Version("1.15"):
        assert floor in SpecifierSet(installed["Requires-Python"])


@pytest.mark.parametrize("version", ["3.9", "3.10"])
def test_setup_gpu_refuses_an_older_python_with_one_line(tmp_path: Path, version: str) -> None:
    python = stand_in_python(tmp_path, version)
    venv = tmp_path / "venv-gpu"
    out = make("setup-gpu", f"PYTHON={python}", f"GPU_VENV={venv}")
    assert out.returncode != 0
    said = [line for line in out.stderr.splitlines() if not line.startswith(("make:", "make["))]
    assert said == [
        f"make setup-gpu needs Python 3.11 or newer (trl 1.15.0 requires it) and {python} is Python "
        f"{version}: delete {venv} if it exists and run make setup-gpu PYTHON=python3.11"
    ]
    assert out.stdout == "" and not venv.exists()


@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13"])
def test_setup_gpu_lets_a_new_enough_python_through(tmp_path: Path, version: str) -> None:
    python = stand_in_python(tmp_path, version)
    venv = tmp_path / "venv-gpu"
    out = make("setup-gpu", f"PYTHON={python}", f"GPU_VENV={venv}")
    assert "needs Python" not in out.stderr
    # past the check: the stand-in was asked to make the venv, and pip (absent) is where it stops
    assert f"{venv}/bin/python" in out.stderr and out.returncode != 0


def test_setup_gpu_and_gpu_smoke_use_their_own_venv() -> None:
    """setup, test, run and models install the CPU set (CPU torch, numpy<2 for verl) into .venv;
    the GPU set lives in .venv-gpu, so neither replaces the other."""
    assert makefile_value("VENV") == ".venv" and makefile_value("GPU_VENV") == ".venv-gpu"
    setup_gpu = make_n("setup-gpu")
    assert ".venv-gpu/bin/python -m pip install -c constraints/gpu.txt -e '.[gpu]'" in setup_gpu
    assert ".venv/" not in setup_gpu.replace(".venv-gpu/", "")
    assert "constraints/gpu.txt" not in make_n("setup")
    recipe = re.search(r"^gpu-smoke:.*\n\t(.*)$", MAKEFILE, re.MULTILINE)
    assert recipe and "$(GPU_BASE_PY) -m criticlab.tools.gpu_smoke" in recipe.group(1)
    assert "GPU_BASE_PY = $(if $(wildcard $(GPU_PY)),$(GPU_PY),$(PYTHON))" in MAKEFILE
    assert ".venv-gpu/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()

"""The package's layout holds: imports flow one way, stage packages stay apart, notebooks call their own.

Layers, lowest first; a module may import its own layer and those below it, never above:

    config, io, stats, stages,         the contracts every layer shares, and what they need:
    records, machine, gpu_plan,        the record codec, the machine's cores, the one-card plan,
    outputs                            how a stage writes
    data, sandbox, llm                 problems, execution, engines
    rollout, training, rewards         prompts and trajectories; TRL glue; the reward functions
    ctrl, crl, evaluation, analysis    one stage package per notebook group (never each other)
    viz, tools, bench                  figures and tables; entry points; benchmarks
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "lib" / "criticlab"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LAYERS = [
    {"config", "io", "stats", "stages", "records", "machine", "gpu_plan", "outputs"},
    {"data", "sandbox", "llm"},
    {"rollout", "training", "rewards"},
    {"ctrl", "crl", "evaluation", "analysis"},
    {"viz", "tools", "bench"},
]
STAGE_PACKAGES = LAYERS[3]
LAYER_OF = {name: i for i, layer in enumerate(LAYERS) for name in layer}
NOTEBOOK_STAGE = {"03": "ctrl", "04": "ctrl", "05": "ctrl", "06": "crl", "07": "evaluation", "08": "analysis"}


def top(module: str) -> str | None:
    """``criticlab.rollout.loop`` → ``rollout``; None for anything outside the package."""
    parts = module.split(".")
    return parts[1] if parts[0] == "criticlab" and len(parts) > 1 else None


def imported(path: Path) -> set[str]:
    """The criticlab parts a file imports (``from criticlab import x`` counts as ``x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "criticlab":
                found.update(alias.name for alias in node.names)
            elif (part := top(node.module)) is not None:
                found.add(part)
        elif isinstance(node, ast.Import):
            found.update(p for alias in node.names if (p := top(alias.name)) is not None)
    return found


MODULES = sorted(p for p in LIB.rglob("*.py"))


def test_the_top_level_holds_only_the_shared_contracts_and_subpackages() -> None:
    modules = {p.stem for p in LIB.glob("*.py")} - {"__init__"}
    packages = {p.name for p in LIB.iterdir() if (p / "__init__.py").is_file()}
    assert modules == LAYERS[0]
    assert packages == set().union(*LAYERS[1:])


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(LIB)))
def test_imports_flow_one_way(path: Path) -> None:
    own = path.relative_to(LIB).parts[0].removesuffix(".py")
    for part in imported(path) - {own}:
        assert LAYER_OF[part] <= LAYER_OF[own], (
            f"{path.relative_to(LIB)} ({own}) imports {part}, a layer above it"
        )
        if own in STAGE_PACKAGES:
            assert part not in STAGE_PACKAGES, f"stage package {own} imports stage package {part}"


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.glob("0[3-8]_*.py")), ids=lambda p: p.stem)
def test_each_notebook_calls_its_own_stage_package(notebook: Path) -> None:
    stage = NOTEBOOK_STAGE[notebook.stem[:2]]
    parts = imported(notebook)
    assert stage in parts, f"{notebook.name} does not import criticlab.{stage}"
    others = (parts & STAGE_PACKAGES) - {stage}
    assert not others, f"{notebook.name} imports another stage's package: {sorted(others)}"


TOOL_IMPORTS_ALLOWED = {("gpu_smoke", "run")}
"""(tool, tool it imports): the GPU smoke run drives the notebook runner, the entry point it checks."""


def tool_modules(path: Path) -> set[str]:
    """The ``criticlab.tools`` modules a file imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "criticlab.tools":
                found.update(alias.name for alias in node.names)
            elif node.module.startswith("criticlab.tools."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[2] for a in node.names if a.name.startswith("criticlab.tools."))
    return found


@pytest.mark.parametrize("path", sorted((LIB / "tools").glob("*.py")), ids=lambda p: p.stem)
def test_no_tool_imports_another_tool(path: Path) -> None:
    """Shared logic of the tools lives in the stage packages, where notebooks and tests reach it too."""
    others = {m for m in tool_modules(path) - {path.stem} if (path.stem, m) not in TOOL_IMPORTS_ALLOWED}
    assert not others, f"tools/{path.name} imports tools {sorted(others)}"


MAX_MODULE_LINES = 650
"""A module longer than this does more than one job: split it (the profile schema, the stage
records, the judge and the llama.cpp decode loop are each one job and fit)."""


def test_no_module_is_longer_than_one_job() -> None:
    long = [
        f"{path.relative_to(LIB)} ({lines} lines)"
        for path in MODULES
        if (lines := path.read_text().count("\n")) > MAX_MODULE_LINES
    ]
    assert not long, f"modules over {MAX_MODULE_LINES} lines: split them by job: {long}"


TRAINING_NOTEBOOKS = sorted(p for p in NOTEBOOKS.glob("0[5-6]_*.py"))
"""Notebooks whose loops live in their stage package: they hold calls, not definitions or wiring."""


@pytest.mark.parametrize("notebook", TRAINING_NOTEBOOKS, ids=lambda p: p.stem)
def test_training_notebooks_define_nothing_and_wire_no_training(notebook: Path) -> None:
    tree = ast.parse(notebook.read_text())
    defined = [
        getattr(node, "name", "lambda")
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
    ]
    assert not defined, f"{notebook.name} defines {defined}: move them to its stage package"
    called = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    wiring = called & {"train_grpo", "train_sft", "StepTimer", "CTRLReward", "MixedReward"}
    assert not wiring, f"{notebook.name} wires training by hand: {sorted(wiring)}"

"""Notebook hygiene (pairing, no outputs, one literal parameters cell) and a smoke run of all eight."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import jupytext
import pytest

from criticlab import config
from criticlab.io import read_json
from criticlab.tools import run

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PAIRS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def test_all_eight_stages_exist() -> None:
    assert [p.stem[:2] for p in PAIRS] == [f"{n:02d}" for n in range(1, 9)]


@pytest.mark.parametrize("script", PAIRS, ids=lambda p: p.stem)
def test_pair_is_in_sync(script: Path) -> None:
    ipynb = script.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{ipynb.name} is missing: run `make notebooks`"
    from_py = jupytext.read(script)
    from_nb = jupytext.read(ipynb)
    cells = lambda nb: [(c.cell_type, c.source.strip(), c.metadata.get("tags", [])) for c in nb.cells]  # noqa: E731
    assert cells(from_py) == cells(from_nb), f"{script.name} and {ipynb.name} differ: run `make notebooks`"


@pytest.mark.parametrize("script", PAIRS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(script: Path) -> None:
    nb = json.loads(script.with_suffix(".ipynb").read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{script.with_suffix('.ipynb').name}: cells {dirty} carry outputs; run `make notebooks`"


@pytest.mark.parametrize("script", PAIRS, ids=lambda p: p.stem)
def test_one_literal_parameters_cell_with_known_names(script: Path) -> None:
    nb = jupytext.read(script)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{script.name}: expected exactly one cell tagged 'parameters', found {len(cells)}"
    section = config.NOTEBOOK_SECTIONS[script.stem[:2]]
    known = {"profile", *config.schema_keys(section)}
    names = []
    for node in ast.parse(cells[0].source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name), (
            f"{script.name}: the parameters cell may hold only `name = literal` lines"
        )
        ast.literal_eval(node.value)  # raises on anything but a plain literal
        names.append(node.targets[0].id)
    assert "profile" in names
    unknown = set(names) - known
    assert not unknown, f"{script.name}: parameters {sorted(unknown)} are not keys of the '{section}' section"


@pytest.mark.timeout(2400)
def test_smoke_profile_runs_every_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole pipeline, headless, through the same runner `make run` uses."""
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    report = run.run_profile("smoke", echo=lambda *a, **k: None)
    assert [r.status for r in report.runs] == ["ok"] * 8
    for stage in (r.notebook for r in report.runs):
        metrics = tmp_path / "smoke" / stage / "metrics.json"
        assert metrics.is_file(), f"{stage} wrote no metrics.json"
        assert read_json(metrics)

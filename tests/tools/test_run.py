"""The papermill runner: success, a failing cell, a dead kernel, a mistyped profile."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from criticlab import config, stages
from criticlab.config import ConfigError
from criticlab.io import read_json
from criticlab.tools import run


def notebook(path: Path, *cells: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('profile = "x"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "tiny.yaml").write_text("progress: false\n")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.setenv(config.ROOT_ENV, str(tmp_path))
    monkeypatch.delenv(config.OUTPUTS_ENV, raising=False)
    return tmp_path


def test_runs_in_order_with_profile_injected_and_reports_times(project: Path) -> None:
    nbs = project / "notebooks"
    notebook(nbs / "01_first.ipynb", "open('first.txt', 'w').write(profile)")
    notebook(nbs / "02_second.ipynb", "assert open('first.txt').read().endswith('tiny.yaml')")
    (nbs / "scratch.ipynb").write_text("not a numbered notebook, never run")
    report = run.run_profile("tiny", echo=lambda *a, **k: None)
    assert [r.notebook for r in report.runs] == ["01_first", "02_second"]
    assert all(r.status == "ok" and r.seconds > 0 for r in report.runs)
    executed = project / "outputs" / "tiny" / "notebooks" / "02_second.ipynb"
    assert executed.is_file()
    saved = read_json(project / "outputs" / "tiny" / stages.RUN_FILE)
    assert [r["notebook"] for r in saved["runs"]] == ["01_first", "02_second"]
    assert all(r["finished"] for r in saved["runs"])


def test_a_rerun_keeps_the_earlier_timings_in_the_history(project: Path) -> None:
    nbs = project / "notebooks"
    notebook(nbs / "01_first.ipynb", "pass")
    notebook(nbs / "02_second.ipynb", "pass")
    first = run.run_profile("tiny", echo=lambda *a, **k: None)
    run.run_profile("tiny", only=["02"], echo=lambda *a, **k: None)
    saved = read_json(project / "outputs" / "tiny" / stages.RUN_FILE)
    assert [r["notebook"] for r in saved["runs"]] == ["01_first", "02_second"]
    assert saved["runs"][0]["seconds"] == first.runs[0].seconds  # an --only run keeps the others
    assert [r["notebook"] for r in saved["history"]] == ["01_first", "02_second", "02_second"]
    assert saved["history"][1]["seconds"] == first.runs[1].seconds
    assert saved["runs"][1] == saved["history"][2]


def test_failing_cell_is_named_and_run_stops(project: Path) -> None:
    nbs = project / "notebooks"
    notebook(nbs / "01_ok.ipynb", "x = 1")
    notebook(nbs / "02_bad.ipynb", "y = 2", "raise ValueError('no such column: tests')")
    notebook(nbs / "03_never.ipynb", "open('ran.txt', 'w')")
    with pytest.raises(run.RunError) as err:
        run.run_profile("tiny", echo=lambda *a, **k: None)
    message = str(err.value)
    assert (
        "02_bad" in message
        and "ValueError: no such column: tests" in message
        and "In[4] (`raise ValueError(" in message
    )
    assert not (nbs / "ran.txt").exists()
    saved = read_json(project / "outputs" / "tiny" / stages.RUN_FILE)
    assert [(r["notebook"], r["status"]) for r in saved["runs"]] == [("01_ok", "ok"), ("02_bad", "failed")]


def test_dead_kernel_is_reported_as_such(project: Path) -> None:
    notebook(
        project / "notebooks" / "01_oom.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
    )
    with pytest.raises(run.RunError, match="kernel died"):
        run.run_profile("tiny", echo=lambda *a, **k: None)


def test_only_selects_by_number_and_unknown_is_an_error(project: Path) -> None:
    nbs = project / "notebooks"
    for name in ("01_a", "02_b", "03_c"):
        notebook(nbs / f"{name}.ipynb", "pass")
    assert [p.stem for p in run.discover(["03", "1"])] == ["01_a", "03_c"]
    with pytest.raises(run.RunError, match="--only 09"):
        run.discover(["09"])


def test_mistyped_profile_fails_before_any_notebook(project: Path) -> None:
    notebook(project / "notebooks" / "01_a.ipynb", "open('ran.txt', 'w')")
    (project / "params" / "typo.yaml").write_text("evaluation:\n  round: 3\n")
    assert run.main(["--profile", "typo"]) == 1
    assert not (project / "notebooks" / "ran.txt").exists()
    with pytest.raises(ConfigError, match=r"typo\.yaml: unknown key 'evaluation.round'"):
        run.run_profile("typo", echo=lambda *a, **k: None)


@pytest.mark.parametrize("profile", ["smoke", "cpu", "cpu-llamacpp", "gpu", "paper"])
def test_prepare_only_for_every_shipped_profile(profile: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    report = run.run_profile(profile, prepare_only=True, echo=lambda *a, **k: None)
    assert len(report.runs) == 8 and all(r.status == "prepared" for r in report.runs)
    prepared = nbformat.read(tmp_path / profile / "notebooks" / "05_grpo.ipynb", as_version=4)
    injected = [c for c in prepared.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and f"{profile}.yaml" in injected[0].source


def test_a_vllm_profile_runs_in_the_vllm_venv(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without vLLM in this Python, a profile whose engine is vLLM is run by .venv-vllm's Python."""
    (project / "params" / "v.yaml").write_text("progress: false\nmodels:\n  engine: vllm\n")
    monkeypatch.setattr(run.importlib.util, "find_spec", lambda name: None)
    assert run.vllm_python(config.load_profile("tiny")) is None  # llama.cpp: this Python
    with pytest.raises(ConfigError, match=r"v\.yaml: models.engine is vllm .* run `make setup-vllm`"):
        run.vllm_python(config.load_profile("v"))
    python = project / ".venv-vllm" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    assert run.vllm_python(config.load_profile("v")) == python
    monkeypatch.setattr(run.importlib.util, "find_spec", lambda name: object())  # vLLM here
    assert run.vllm_python(config.load_profile("v")) is None

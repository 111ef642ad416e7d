"""The stage writer: empty tables write nothing, figures are PDF + PNG, the record lands atomically."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from criticlab import config, outputs, stages
from criticlab.stats import LearningCheck
from criticlab.viz import plots


def tmp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".") and p.name.endswith(".tmp")]


class FakeWatch:
    """Stands in for :class:`criticlab.llm.throughput.StageWatch`: remembers how it was built."""

    def __init__(self, root: Path, stage: str) -> None:
        self.root, self.stage = root, stage

    def record(self) -> stages.Throughput:
        return stages.Throughput(tokens=12, sequences=3, generation_seconds=2.0, tokens_per_second=6.0)


def test_profile_paths_are_the_outputs_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    paths = config.load_profile("smoke").paths
    assert isinstance(paths, outputs.Paths) and config.Paths is outputs.Paths
    assert paths.root == tmp_path / "smoke"
    writer = paths.stage(stages.ANALYSIS)
    assert writer.dir == tmp_path / "smoke" / stages.ANALYSIS and writer.dir.is_dir()
    assert writer.watch is None
    with pytest.raises(KeyError, match="unknown stage '09_more'"):
        paths.stage("09_more")


def test_an_empty_frame_writes_nothing(tmp_path: Path) -> None:
    out = outputs.Paths(tmp_path).stage(stages.ANALYSIS)
    checked = []
    assert out.table(pd.DataFrame(), "08_empty", validate=checked.append) == {}
    assert out.table(pd.DataFrame(columns=["critic", "rate"]), "08_header_only") == {}
    assert checked == []  # nothing to validate either
    assert not list(out.paths.tables_dir.iterdir()) and out.written == []


def test_a_table_is_csv_markdown_and_latex_and_validated_first(tmp_path: Path) -> None:
    out = outputs.Paths(tmp_path).stage(stages.EVALUATION)
    frame = pd.DataFrame({"method": ["a_b"], "Δ↑": [0.125]})
    paths = out.table(frame, "07_t")
    assert sorted(p.name for p in paths.values()) == ["07_t.csv", "07_t.md", "07_t.tex"]
    assert paths["csv"].read_text() == "method,Δ↑\na_b,0.125\n"
    assert "| a_b    | 0.1250 |" in paths["md"].read_text()
    assert r"$\Delta\uparrow$" in paths["tex"].read_text()
    assert out.written == list(paths.values())

    def refuse(df: pd.DataFrame) -> None:
        raise ValueError("breaks the identity")

    with pytest.raises(ValueError, match="identity"):
        out.table(frame, "07_refused", validate=refuse)
    assert not list(out.paths.tables_dir.glob("07_refused*")) and not tmp_files(tmp_path)


def test_a_figure_is_a_pdf_and_a_png_and_plot_skips_an_empty_frame(tmp_path: Path) -> None:
    out = outputs.Paths(tmp_path).stage(stages.DATA)
    counts = pd.Series({"a": 3, "b": 1}, name="count")
    paths = out.figure(plots.plot_counts(counts), "01_counts", dpi=40)
    assert [p.name for p in paths] == ["01_counts.pdf", "01_counts.png"]
    pdf, png = (p.read_bytes() for p in paths)
    assert pdf.startswith(b"%PDF") and b"CreationDate" not in pdf
    assert png.startswith(b"\x89PNG") and b"Software" not in png
    assert out.figure(None, "01_none") == []
    drawn = []
    assert out.plot(lambda frame, **kw: drawn.append(kw), pd.DataFrame(), "01_empty", title="t") == []
    assert drawn == []  # an empty frame is not even drawn
    frame = pd.DataFrame({"k": [1, 2], "accuracy": [0.5, 0.75]})
    assert [p.name for p in out.plot(plots.plot_majority_curve, frame, "01_curve", title="Maj@k")] == [
        "01_curve.pdf",
        "01_curve.png",
    ]
    assert sorted(p.name for p in out.paths.figures_dir.iterdir()) == [
        "01_counts.pdf",
        "01_counts.png",
        "01_curve.pdf",
        "01_curve.png",
    ]
    assert not tmp_files(tmp_path)


def test_finish_writes_the_record_atomically(tmp_path: Path) -> None:
    out = outputs.Paths(tmp_path).stage(stages.SFT)
    record = stages.SFTMetrics(
        rows=4, run=stages.TrainingRun(trained=True, steps=2), loss=LearningCheck(1.0, 0.5, -0.5, 0.1, True)
    )
    assert out.finish(record) == record
    path = stages.metrics_path(tmp_path, stages.SFT)
    assert out.written == [path] and stages.read_metrics(tmp_path, stages.SFT) == record
    before = path.read_bytes()
    broken = dataclasses.replace(record, rows=object())  # not JSON: fails while writing
    with pytest.raises(TypeError):
        out.finish(broken)
    assert path.read_bytes() == before and not tmp_files(tmp_path)  # the old record stays whole
    with pytest.raises(TypeError, match="record of 08_analysis, not of 04_sft"):
        out.finish(
            stages.AnalysisMetrics(
                trajectories=0,
                methods=[],
                transition_rates=[],
                strategies=[],
                strategy_agreement=None,
                similarity_mean={},
            )
        )
    assert path.read_bytes() == before


def test_finish_takes_the_throughput_from_the_watch(tmp_path: Path) -> None:
    out = outputs.Paths(tmp_path).stage(stages.SYNTHESIS, watch=FakeWatch)
    assert (out.watch.root, out.watch.stage) == (tmp_path, stages.SYNTHESIS)
    record = stages.SynthesisMetrics(
        problems=1, datasets=stages.DatasetReport(), zero_shot_pass_rate=0.0, critiques=0, revisions_passed=0
    )
    saved = out.finish(record)
    assert saved.throughput == FakeWatch(tmp_path, "").record() and record.throughput is None
    assert stages.read_metrics(tmp_path, stages.SYNTHESIS).throughput.tokens == 12
    own = stages.Throughput(tokens=99)
    assert out.finish(dataclasses.replace(record, throughput=own)).throughput == own  # set by the stage: kept
    bare = outputs.Paths(tmp_path).stage(stages.SYNTHESIS).finish(record)
    assert bare.throughput is None  # a stage without a watch leaves it to the record

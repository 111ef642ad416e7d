"""The run summary quotes what the notebooks wrote and says what has not run."""

from __future__ import annotations

from criticlab import stages
from criticlab.io import write_json, write_text
from criticlab.stats import LearningCheck
from criticlab.tools.report import stage_times, summarize_run


def test_summary_of_a_partial_run(tmp_path) -> None:
    root = tmp_path / "cpu"
    write_json(
        root / stages.RUN_FILE,
        {
            "runs": [
                {"notebook": stages.DATA, "status": "ok", "seconds": 6.0},
                {"notebook": stages.GRPO, "status": "ok", "seconds": 1200.0},
            ]
        },
    )
    stages.write_metrics(
        root,
        stages.SFTMetrics(
            rows=21,
            run=stages.TrainingRun(trained=True, steps=18),
            loss=LearningCheck(1.06, 0.39, -0.67, 0.1, False),
        ),
    )
    stages.write_metrics(
        root,
        stages.GRPOMetrics(
            rl_rows=4,
            start="sft",
            run=stages.TrainingRun(trained=True, steps=16),
            learned=LearningCheck(0.4, 0.7, 0.3, 0.1, True),
            seconds_per_step={
                "seconds": 70.0,
                "sampling": 25.0,
                "revision": 20.0,
                "execution": 0.1,
                "optimisation": 24.9,
            },
        ),
    )
    write_text(
        root / stages.TABLES_DIR / f"{stages.TABLE_FINAL}.md",
        "| method | pass@1 |\n|---|---|\n| zero_shot | 80.0 |\n",
    )
    text = summarize_run(root)
    assert "| **total** | | **20.1** |" in text
    assert "loss 1.060 (first quarter of steps) → 0.390" in text
    assert "difference +0.300 ± 0.100 (1 s.e.): above its noise" in text
    assert "Seconds per step 70.0: sampling 25.0 s, revision 20.0 s" in text
    assert "| zero_shot | 80.0 |" in text
    assert text.count("(not written)") == 4  # differences, discrimination, Maj@k, transition rates


def test_stage_times_list_every_run_of_a_repeated_notebook(tmp_path) -> None:
    # 07 generated for 80 min, then ran again in a minute on cached generations: both are shown
    first = {"notebook": stages.EVALUATION, "status": "ok", "seconds": 4800.0}
    again = {"notebook": stages.EVALUATION, "status": "ok", "seconds": 60.0}
    data = {"notebook": stages.DATA, "status": "ok", "seconds": 6.0}
    write_json(tmp_path / stages.RUN_FILE, {"runs": [data, again], "history": [data, first, again]})
    lines = stage_times(tmp_path)
    assert (
        f"| {stages.EVALUATION} | ok | 80.0 |" in lines
        and f"| {stages.EVALUATION} (again) | ok | 1.0 |" in lines
    )
    assert lines[-1] == "| **total of every recorded run** | | **81.1** |"
    write_json(tmp_path / stages.RUN_FILE, {"runs": [data, first], "history": [data, first]})
    assert stage_times(tmp_path)[-1] == "| **total** | | **80.1** |"


def test_summary_of_nothing(tmp_path) -> None:
    text = summarize_run(tmp_path / "none")
    assert "no notebook has run" in text and "No training stage has run." in text


def test_snapshot_keeps_the_small_files_and_their_provenance(tmp_path) -> None:
    import json

    import pytest

    from criticlab.tools.report import snapshot

    root = tmp_path / "outputs" / "cpu-study"
    write_json(root / stages.RUN_FILE, {"runs": [{"notebook": stages.DATA, "status": "ok", "seconds": 6.0}]})
    checkpoint = root / "checkpoints" / "sft" / "final"
    stages.write_metrics(
        root,
        stages.SFTMetrics(
            rows=21, run=stages.TrainingRun(trained=True, steps=18, checkpoint=str(checkpoint))
        ),
    )
    write_text(root / stages.TABLES_DIR / f"{stages.TABLE_FINAL}.md", "| method | pass@1 |\n")
    write_text(root / stages.TABLES_DIR / f"{stages.TABLE_FINAL}.csv", "method,pass@1\n")
    write_text(root / stages.FIGURES_DIR / "pass_by_round.png", "png")
    write_text(root / "checkpoints" / "grpo" / "final" / "model.safetensors", "weights")
    write_text(root / stages.EVALUATION / "zero_shot.jsonl", "{}\n")
    out = tmp_path / "docs" / "results" / "cpu-study"
    write_text(out / "stale.md", "from an earlier snapshot")

    snapshot(root, out, "make run PROFILE=cpu-study", checkout=tmp_path)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [
        "04_sft/metrics.json",
        "figures/pass_by_round.png",
        "provenance.json",
        "run.json",
        "summary.md",
        "tables/07_final.md",
    ]
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["command"] == "make run PROFILE=cpu-study" and provenance["profile"] == "cpu-study"
    assert provenance["commit"] == "unknown"  # tmp_path is not a git checkout
    assert "| method | pass@1 |" in (out / "summary.md").read_text()
    # no path of the machine that ran it: the checkpoint is named as in a reader's clone
    saved = (out / "04_sft" / "metrics.json").read_text()
    assert str(tmp_path) not in saved and '"outputs/cpu-study/checkpoints/sft/final"' in saved
    with pytest.raises(FileNotFoundError, match="run.json"):
        snapshot(tmp_path / "nothing", tmp_path / "elsewhere", "make run")


def test_the_commit_of_a_checkout_and_whether_it_was_changed(tmp_path) -> None:
    import subprocess

    from criticlab.tools.report import checkout_commit

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    write_text(tmp_path / "a.txt", "1")
    git("add", "a.txt")
    git("commit", "-qm", "one")
    clean = checkout_commit(tmp_path)
    assert len(clean) == 40 and all(c in "0123456789abcdef" for c in clean)
    write_text(tmp_path / "a.txt", "2")
    assert checkout_commit(tmp_path) == clean + "+dirty"

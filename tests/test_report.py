"""The run summary quotes what the notebooks wrote and says what has not run."""

from __future__ import annotations

from criticlab.io import write_json, write_text
from criticlab.tools.report import summarize_run


def test_summary_of_a_partial_run(tmp_path) -> None:
    root = tmp_path / "cpu"
    write_json(root / "run.json", {"runs": [
        {"notebook": "01_data", "status": "ok", "seconds": 6.0},
        {"notebook": "05_grpo", "status": "ok", "seconds": 1200.0},
    ]})
    write_json(root / "04_sft" / "metrics.json", {"trained": True, "rows": 21, "steps": 18, "loss_first_quarter": 1.06,
                                                   "loss_last_quarter": 0.39, "loss_quarter_se": 0.1})
    write_json(root / "05_grpo" / "metrics.json", {
        "steps": 16, "learned": {"first_quarter": 0.4, "last_quarter": 0.7, "difference": 0.3, "se": 0.1,
                                 "above_noise": True},
        "seconds_per_step": {"seconds": 70.0, "sampling": 25.0, "revision": 20.0, "execution": 0.1,
                             "optimisation": 24.9},
    })
    write_text(root / "tables" / "07_final.md", "| method | pass@1 |\n|---|---|\n| zero_shot | 80.0 |\n")
    text = summarize_run(root)
    assert "| **total** | | **20.1** |" in text
    assert "loss 1.060 (first quarter of steps) → 0.390" in text
    assert "difference +0.300 ± 0.100 (1 s.e.): above its noise" in text
    assert "Seconds per step 70.0: sampling 25.0 s, revision 20.0 s" in text
    assert "| zero_shot | 80.0 |" in text
    assert text.count("(not written)") == 3  # discrimination, Maj@k, transition rates


def test_summary_of_nothing(tmp_path) -> None:
    text = summarize_run(tmp_path / "none")
    assert "no notebook has run" in text and "No training stage has run." in text

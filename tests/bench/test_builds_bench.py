"""``python -m criticlab.bench builds``: llama.cpp builds measured in their own processes, side by side."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

from criticlab.bench.builds import INSTALLED, summarise
from criticlab.bench.cli import main


def test_ratios_are_to_the_first_build_and_use_medians() -> None:
    row = {
        "system_info": "AVX2 = 1",
        "prompt_tokens": 100,
        "decode_tok_per_s": 50.0,
        "end_to_end_tok_per_s": 20.0,
    }
    runs = {
        "old": [{**row, "prefill_tok_per_s": 80.0}, {**row, "prefill_tok_per_s": 90.0}],
        "new": [
            {**row, "prefill_tok_per_s": 170.0},
            {**row, "prefill_tok_per_s": 1000.0},
            {**row, "prefill_tok_per_s": 160.0},
        ],
    }
    summary = summarise(runs)
    assert summary["old"]["ratio_prefill_tok_per_s"] == 1.0
    assert summary["new"]["prefill_tok_per_s"] == 170.0 and summary["new"]["repeats"] == 3
    assert summary["new"]["ratio_prefill_tok_per_s"] == pytest.approx(170.0 / 85.0)
    assert summary["new"]["ratio_decode_tok_per_s"] == 1.0


def test_two_builds_are_measured_in_their_own_processes(tmp_path: Path) -> None:
    import llama_cpp

    other = tmp_path / "same-build"  # the installed package again, reached through --build DIR
    other.mkdir()
    os.symlink(Path(llama_cpp.__file__).parent, other / "llama_cpp")
    out = tmp_path / "builds.json"
    assert (
        main(
            [
                "builds",
                "--build",
                INSTALLED,
                "--build",
                str(other),
                "--model",
                "smollm2-135m-instruct",
                "--prompts",
                "2",
                "--parallel",
                "2",
                "--max-tokens",
                "4",
                "--repeats",
                "1",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert set(result["summary"]) == {INSTALLED, str(other)}
    (run,) = result["runs"][str(other)]
    assert run["llama_cpp"] == str(other / "llama_cpp") and run["prompt_tokens"] > 100
    assert 0 < run["generated_tokens"] <= 2 * 4
    assert result["summary"][INSTALLED]["ratio_prefill_tok_per_s"] == 1.0


def test_a_directory_without_llama_cpp_is_named(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=str(tmp_path)):
        main(["builds", "--build", str(tmp_path), "--repeats", "1"])

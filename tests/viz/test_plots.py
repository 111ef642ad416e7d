"""Every figure helper draws from library tables, and saving is byte-reproducible."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest
from matplotlib.figure import Figure

from criticlab import analysis, evaluation
from criticlab.evaluation.metrics import PairJudgments
from criticlab.rollout.trajectory import Round, Trajectory
from criticlab.sandbox.types import ExecResult, Verdict
from criticlab.viz import plots

OK = ExecResult(Verdict.ACCEPTED, 1, 1)
BAD = ExecResult(Verdict.WRONG_ANSWER, 0, 1)


def trajectories() -> list[Trajectory]:
    """A small fixed evaluation: two critics, 3 rounds, plus zero-shot."""
    chains = {
        "zero_shot": analysis.simulate_chain(0.3, 1.0, 0.0, 60, 0, seed=1),
        "self_critique": analysis.simulate_chain(0.3, 0.8, 0.15, 60, 3, seed=2),
        "ctrl": analysis.simulate_chain(0.3, 0.95, 0.25, 60, 3, seed=3),
    }
    out = []
    for method, matrix in chains.items():
        for i, row in enumerate(matrix):
            rounds = [
                Round(
                    "", f"x = {i}\nprint(x + {k})", OK if c else BAD, critique="Let's trace the sample input."
                )
                for k, c in enumerate(row)
            ]
            out.append(Trajectory(f"p{i // 2}", i % 2, method, rounds))
    return out


def figures() -> dict[str, Callable[[], Figure]]:
    ts = trajectories()
    table = evaluation.round_table(ts, resamples=100, seed=0)
    pairs = [
        PairJudgments(str(i), ["correct"] * (i % 3) + ["incorrect"] * 3, ["incorrect", "correct"] * 2)
        for i in range(8)
    ]
    curve = evaluation.majority_curve(pairs, max_k=3)
    colors = plots.colors_for([t.method for t in ts])  # zero_shot keeps its colour though absent below
    labels = {"sft": ["static_analysis", "dynamic_testing", "other"], "ctrl": ["dynamic_testing"] * 2}
    return {
        "pass": lambda: plots.plot_pass_by_round(table, title="Pass@1"),
        "deltas": lambda: plots.plot_deltas(table),
        "majority": lambda: plots.plot_majority_curve(
            pd.concat([curve.assign(critic="a"), curve.assign(critic="b")])
        ),
        "markov": lambda: plots.plot_markov(analysis.markov_prediction(ts)),
        "critic_compounding": lambda: plots.plot_critic_compounding(
            analysis.compounding_by_critic(ts, attempts=5, resamples=50).curves
        ),
        "c_to_i": lambda: plots.plot_correct_to_incorrect(analysis.markov_table(ts), colors=colors),
        "updown": lambda: plots.plot_iteration_updown(
            analysis.iteration_updown(ts), analysis.markov_table(ts), colors=colors
        ),
        "strategies": lambda: plots.plot_strategies(analysis.strategy_distribution(labels)),
        "similarity": lambda: plots.plot_similarity(analysis.revision_similarity(ts)),
        "similarity_c4": lambda: plots.plot_similarity(
            analysis.revision_similarity(ts), column="similarity (C.4)"
        ),
        "abilities": lambda: plots.plot_abilities(analysis.simulate_abilities(rounds=3, runs=200)),
        "crl": lambda: plots.plot_crl_comparison(
            pd.DataFrame(
                {
                    "policy": ["start", "ratio 0", "ratio 0.2", "ratio 0.2", "ratio 0.2", "ratio 0.2"],
                    "seed": ["-", "0", "0", "1", "mean", "sd"],
                    "humaneval pass@1": [0.1, 0.3, 0.2, 0.4, 0.3, 0.14],
                    "mbpp pass@1": [0.2, 0.2, 0.3, 0.3, 0.3, 0.0],
                    "judge acc": [0.5, 0.5, 0.6, 0.7, 0.65, 0.07],
                    "acc on T": [1.0, 0.9, 0.8, 0.7, 0.75, 0.07],
                    "acc on F": [0.0, 0.1, 0.4, 0.7, 0.55, 0.2],
                    "always-T": [0.5] * 6,
                }
            )
        ),
        "counts": lambda: plots.plot_counts(pd.Series({"samples": 8, "kept": 5, "dropped: leak": 3})),
        "data": lambda: plots.plot_data_overview(
            pd.DataFrame(
                {
                    "source": ["humaneval"] * 6 + ["mbpp"] * 2,
                    "split": ["train", "eval"] * 4,
                    "n_cases": [3, 5, 7, 2, 4, 9, 1, 1],
                    "question_tokens": [40, 80, 120, 60, 30, 90, 20, 25],
                    "difficulty": ["", "", "", "", "", "", "easy", "hard"],
                }
            )
        ),
    }


TEST_DPI = 60  # small PNGs keep the test fast; determinism does not depend on resolution
PDF_CHECKED = ("pass", "deltas", "similarity")
"""Figures also checked as PDF: between them every kind of artist the helpers draw (lines, bands,
bars with error bars, histograms, legends, unicode labels). Embedding the font subsets costs
~0.4 s per PDF, so the other helpers are checked as PNG only to keep the suite fast."""


def save_all(directory: Path) -> list[Path]:
    """Draw and save every figure helper's output into ``directory`` (run in two processes)."""
    return [
        path
        for name, make in figures().items()
        for path in plots.save_figure(
            make(),
            directory / name,
            formats=("pdf", "png") if name in PDF_CHECKED else ("png",),
            dpi=TEST_DPI,
        )
    ]


def test_every_figure_is_byte_identical_across_two_processes(tmp_path: Path) -> None:
    # a fresh interpreter draws everything while this one does the same: identical bytes prove
    # nothing depends on time, process, hash seed or state left by earlier figures
    script = (
        "import sys, matplotlib; matplotlib.use('Agg'); sys.path.insert(0, sys.argv[1]); "
        "from pathlib import Path; import test_plots; test_plots.save_all(Path(sys.argv[2]))"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(Path(__file__).parent), str(tmp_path / "child")]
    )
    here = save_all(tmp_path / "here")
    assert child.wait(timeout=300) == 0
    assert len(here) == len(figures()) + len(PDF_CHECKED)
    for path in here:
        other = tmp_path / "child" / path.name
        assert path.read_bytes() == other.read_bytes(), f"{path.name} differs between two runs"
        data = path.read_bytes()
        if path.suffix == ".pdf":
            assert data.startswith(b"%PDF") and b"CreationDate" not in data and b"ModDate" not in data
        else:
            assert data.startswith(b"\x89PNG") and b"Software" not in data
    assert not list(tmp_path.rglob(".*.tmp"))  # atomic writes leave no temp files


def test_style_is_scoped_and_colors_are_stable() -> None:
    before = matplotlib.rcParams["font.size"]
    with plots.figure_style():
        assert matplotlib.rcParams["font.size"] == plots.STYLE["font.size"]
    assert matplotlib.rcParams["font.size"] == before
    assert plots.colors_for(["b", "a", "b"]) == {"b": plots.PALETTE[0], "a": plots.PALETTE[1]}


def test_pass_by_round_draws_bands_and_zero_shot_level() -> None:
    fig = plots.plot_pass_by_round(evaluation.round_table(trajectories(), resamples=50))
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["zero_shot", "self_critique", "ctrl"]
    assert ax.get_lines()[0].get_linestyle() == "--"  # zero-shot has one round: a level line
    assert len(ax.collections) == 2  # one CI band per multi-round method
    fig_no_ci = plots.plot_pass_by_round(evaluation.round_table(trajectories(), resamples=0))
    assert len(fig_no_ci.axes[0].collections) == 0


def test_strategy_bars_are_shares_of_critiques_multi_label() -> None:
    # critic a: two critiques, one using static analysis and dynamic testing, one using nothing
    dist = analysis.strategy_distribution(
        {"a": [("static_analysis", "dynamic_testing"), ("other",)], "b": ["dynamic_testing"]}
    )
    fig = plots.plot_strategies(dist)
    widths: dict[tuple[int, str], float] = {}
    for patch in fig.axes[0].patches:
        critic = round(patch.get_y() + patch.get_height() / 2)
        widths[critic, patch.get_facecolor()] = patch.get_width()
    by_critic = [sorted(w for (c, _), w in widths.items() if c == i and w) for i in (0, 1)]
    assert by_critic == [[50.0, 50.0, 50.0], [100.0]]  # a's bars sum to 150%: multi-label


def test_training_curves_draw_one_line_per_run_with_a_legend() -> None:
    from criticlab.viz import plots

    fig = plots.plot_training_curves(
        {
            "reward": {"seed 0": [(1, 0.2), (2, 0.4), (3, 0.5)], "seed 1": [(1, 0.1), (2, 0.3), (3, 0.6)]},
            "KL": [(1, 0.0), (2, 0.1)],
        },
        smooth=2,
    )
    reward, kl = fig.axes
    assert [t.get_text() for t in reward.get_legend().get_texts()] == ["seed 0", "seed 1"]
    assert len(reward.lines) == 4 and kl.get_legend() is None and len(kl.lines) == 2


def test_sandbox_figure_has_throughput_bars_and_a_latency_histogram() -> None:
    throughput = pd.DataFrame({"workers": [1, 2], "per_second": [30.0, 55.0]})
    latencies = pd.Series([10.0, 12.0, 11.0, 30.0], name="latency_ms")
    fig = plots.plot_sandbox(throughput, latencies)
    bars, dist = fig.axes
    assert [p.get_height() for p in bars.patches] == [30.0, 55.0]
    assert [t.get_text() for t in bars.get_xticklabels()] == ["1", "2"]
    assert sum(p.get_height() for p in dist.patches) == 4  # every latency in the histogram
    assert dist.get_lines()[0].get_xdata()[0] == pytest.approx(11.5)  # the median

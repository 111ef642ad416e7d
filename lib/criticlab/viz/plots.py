"""One figure style for every figure, deterministic saving, and the plots the notebooks draw.

Every helper takes the DataFrame that :mod:`criticlab.metrics` or :mod:`criticlab.analysis`
returns and gives back a :class:`matplotlib.figure.Figure` built without pyplot (no global figure
state, works under any backend; a notebook shows it by returning it or with ``display(fig)``).

:data:`STYLE` and :func:`save_figure` (a PDF and a PNG whose bytes depend only on the figure) live
in :mod:`criticlab.outputs`, beside the stage writer that saves every figure, and are re-exported
here: figures are drawn and saved under the same style. Same inputs → byte-identical files (a
test checks it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from criticlab.outputs import PALETTE, STYLE, figure_style
from criticlab.outputs import save_figure as save_figure  # re-exported: figures are drawn here


def new_figure(
    nrows: int = 1, ncols: int = 1, size: tuple[float, float] | None = None
) -> tuple[Figure, np.ndarray]:
    """A styled figure with constrained layout and its axes as a 2-D array."""
    with figure_style():
        fig = Figure(figsize=size or STYLE["figure.figsize"], layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def colors_for(names: Sequence[str]) -> dict[str, str]:
    """A fixed colour per name, in the order given (same method → same colour across figures)."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(dict.fromkeys(names))}


def _colors(names: Sequence[str], colors: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's colours (pass ``colors_for(all methods)`` to keep them across figures), else by order."""
    own = colors_for(names)
    return {name: (colors or {}).get(name, own[name]) for name in own}


def _single_panel(percent: bool = False) -> tuple[Figure, Axes, float]:
    """One figure with one axes, and the factor that turns shares into what the axis shows (%)."""
    fig, axes = new_figure()
    return fig, axes[0, 0], 100.0 if percent else 1.0


def _integer_x(ax: Axes) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _has(values: pd.Series) -> bool:
    return bool(np.isfinite(values.to_numpy(dtype=float)).any())


# --------------------------------------------------------------------------------------------
# Evaluation figures
# --------------------------------------------------------------------------------------------


def plot_pass_by_round(
    table: pd.DataFrame, percent: bool = True, title: str = "", colors: Mapping[str, str] | None = None
) -> Figure:
    """Pass@1 against round per method with its bootstrap band; a round-0-only method is a dashed level."""
    fig, ax, scale = _single_panel(percent)
    colors = _colors(list(table["method"]), colors)
    last = int(table["round"].max()) if len(table) else 0
    with figure_style():
        for method, rows in table.groupby("method", sort=False):
            rows = rows.sort_values("round")
            color = colors[method]
            if len(rows) == 1:
                ax.axhline(rows["pass@1"].iloc[0] * scale, color=color, linestyle="--", label=method)
                continue
            ax.plot(rows["round"], rows["pass@1"] * scale, marker="o", color=color, label=method)
            if "pass@1 lo" in rows and _has(rows["pass@1 lo"]):
                ax.fill_between(
                    rows["round"],
                    rows["pass@1 lo"] * scale,
                    rows["pass@1 hi"] * scale,
                    color=color,
                    alpha=0.15,
                    linewidth=0,
                )
        ax.set_xticks(range(last + 1))
        ax.set_xlabel("revision round")
        ax.set_ylabel("Pass@1 (%)" if percent else "Pass@1")
        if title:
            ax.set_title(title)
        ax.legend(loc="best")
    return fig


def plot_deltas(table: pd.DataFrame, percent: bool = True, title: str = "") -> Figure:
    """Δ↑ and Δ↓ of each method's final round as paired bars with their intervals."""
    final = table[table["round"] == table.groupby("method", sort=False)["round"].transform("max")]
    final = final[final["round"] > 0]
    fig, ax, scale = _single_panel(percent)
    x = np.arange(len(final))
    width = 0.38
    with figure_style():
        for offset, column, color in ((-width / 2, "Δ↑", PALETTE[2]), (width / 2, "Δ↓", PALETTE[3])):
            values = final[column].to_numpy(dtype=float) * scale
            errors = None
            if f"{column} lo" in final and _has(final[f"{column} lo"]):
                lo = final[f"{column} lo"].to_numpy(dtype=float) * scale
                hi = final[f"{column} hi"].to_numpy(dtype=float) * scale
                errors = np.vstack([values - lo, hi - values])
            ax.bar(x + offset, values, width, yerr=errors, color=color, label=column, capsize=2)
        ax.set_xticks(x, list(final["method"]), rotation=20, ha="right")
        ax.grid(axis="x", visible=False)
        ax.set_ylabel("share of samples (%)" if percent else "share of samples")
        if title:
            ax.set_title(title)
        ax.legend()
    return fig


def plot_majority_curve(curve: pd.DataFrame, percent: bool = True, title: str = "") -> Figure:
    """Maj@k: pairwise accuracy against critiques per response; one line per ``critic`` if present."""
    fig, ax, scale = _single_panel(percent)
    groups = curve.groupby("critic", sort=False) if "critic" in curve else [("", curve)]
    with figure_style():
        for name, rows in groups:
            ax.plot(rows["k"], rows["accuracy"] * scale, marker="o", label=name or None)
        _integer_x(ax)
        ax.axhline(50.0 * scale / 100.0, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("critiques per response (k)")
        ax.set_ylabel("pairwise accuracy (%)" if percent else "pairwise accuracy")
        if title:
            ax.set_title(title)
        if "critic" in curve:
            ax.legend()
    return fig


def plot_selection(table: pd.DataFrame, percent: bool = True, title: str = "") -> Figure:
    """Best-of-N: the chosen solution's Pass@1 against N, one line per critic (bars: 95% intervals
    over problems), beside random choice (dashed) and pass@N, what a perfect selector gets (dotted)."""
    fig, ax, scale = _single_panel(percent)
    rows = table.dropna(subset=["selected"])
    with figure_style():
        for critic, group in rows.groupby("critic", sort=False):
            y = group["selected"].to_numpy(dtype=float) * scale
            errors = np.vstack([y - group["selected lo"] * scale, group["selected hi"] * scale - y])
            ax.errorbar(group["N"], y, yerr=errors, marker="o", capsize=3, label=critic)
        by_n = rows.groupby("N", sort=True)[["random", "pass@N"]].mean()
        ax.plot(by_n.index, by_n["random"] * scale, color="grey", linestyle="--", label="random choice")
        ax.plot(by_n.index, by_n["pass@N"] * scale, color="black", linestyle=":", label="pass@N (oracle)")
        _integer_x(ax)
        ax.set_xlabel("solutions to choose from (N)")
        ax.set_ylabel("Pass@1 of the chosen solution (%)" if percent else "Pass@1 of the chosen solution")
        if title:
            ax.set_title(title)
        ax.legend(fontsize="small")
    return fig


# --------------------------------------------------------------------------------------------
# Analysis figures
# --------------------------------------------------------------------------------------------


def plot_markov(
    prediction: pd.DataFrame, percent: bool = True, title: str = "", colors: Mapping[str, str] | None = None
) -> Figure:
    """Observed Pass@1 per round (markers, Wilson bars) against the fitted chain's prediction (dashed)."""
    fig, ax, scale = _single_panel(percent)
    colors = _colors(list(prediction["method"]), colors)
    with figure_style():
        for method, rows in prediction.groupby("method", sort=False):
            if len(rows) < 2:  # zero-shot: no transitions, nothing to compare
                continue
            observed = rows["observed"].to_numpy(dtype=float) * scale
            errors = np.vstack(
                [observed - rows["observed lo"] * scale, rows["observed hi"] * scale - observed]
            )
            ax.errorbar(
                rows["round"],
                observed,
                yerr=errors,
                marker="o",
                linestyle="-",
                capsize=2,
                color=colors[method],
                label=f"{method} observed",
            )
            ax.plot(
                rows["round"],
                rows["predicted"] * scale,
                linestyle="--",
                color=colors[method],
                label=f"{method} chain",
            )
        _integer_x(ax)
        ax.set_xlabel("revision round")
        ax.set_ylabel("Pass@1 (%)" if percent else "Pass@1")
        if title:
            ax.set_title(title)
        ax.legend(ncols=2)
    return fig


def plot_abilities(grid: pd.DataFrame, percent: bool = True, title: str = "") -> Figure:
    """CTRL Figure 3: simulated pass rate against critique→revision rounds, one colour per critiquing
    ability and one line style per discrimination ability, with ±2 standard errors as a band.

    ``grid`` is :func:`criticlab.analysis.simulate_abilities`' table.
    """
    fig, ax, scale = _single_panel(percent)
    colors = colors_for(list(dict.fromkeys(grid["critiquing"])))
    styles = dict(zip(dict.fromkeys(grid["discrimination"]), ("-", "--", ":", "-.")))
    with figure_style():
        for (critiquing, discrimination), rows in grid.groupby(["critiquing", "discrimination"], sort=False):
            value, band = rows["pass"] * scale, 2 * rows["se"] * scale
            ax.plot(
                rows["round"],
                value,
                color=colors[critiquing],
                linestyle=styles.get(discrimination, "-"),
                label=f"{critiquing} critiquing, {discrimination}",
            )
            ax.fill_between(
                rows["round"], value - band, value + band, color=colors[critiquing], alpha=0.15, linewidth=0
            )
        _integer_x(ax)
        ax.set_xlabel("critique→revision rounds")
        ax.set_ylabel("pass rate (%)" if percent else "pass rate")
        if title:
            ax.set_title(title)
        ax.legend(fontsize="small")
    return fig


def plot_critic_compounding(curves: pd.DataFrame, percent: bool = True, title: str = "") -> Figure:
    """Each critic's simulated Pass@1 (line, bootstrap band) against attempts, beside its observed
    Pass@1 per round (markers, Wilson bars); one colour per critic, dashed for the stop-at-Correct loop.

    ``curves`` is :func:`criticlab.analysis.compounding_by_critic`'s table.
    """
    fig, ax, scale = _single_panel(percent)
    colors = colors_for(list(dict.fromkeys(curves["critic"])))
    with figure_style():
        for (critic, loop), rows in curves.groupby(["critic", "loop"], sort=False):
            style = "-" if loop.startswith("revise") else "--"
            ax.plot(
                rows["attempt"],
                rows["simulated"] * scale,
                color=colors[critic],
                linestyle=style,
                label=f"{critic}, {loop} (simulated)",
            )
            if _has(rows["lo"]):
                ax.fill_between(
                    rows["attempt"],
                    rows["lo"] * scale,
                    rows["hi"] * scale,
                    color=colors[critic],
                    alpha=0.12,
                    linewidth=0,
                )
            seen = rows[rows["observed"].notna()]
            if len(seen):
                observed = seen["observed"].to_numpy(dtype=float) * scale
                errors = np.vstack(
                    [observed - seen["observed lo"] * scale, seen["observed hi"] * scale - observed]
                )
                ax.errorbar(
                    seen["attempt"],
                    observed,
                    yerr=errors,
                    marker="o" if style == "-" else "s",
                    linestyle="none",
                    capsize=2,
                    color=colors[critic],
                    label=f"{seen['observed method'].iloc[0]} (observed)",
                )
        _integer_x(ax)
        ax.set_xlabel("critique→revision attempts")
        ax.set_ylabel("Pass@1 (%)" if percent else "Pass@1")
        if title:
            ax.set_title(title)
        if len(curves):
            ax.legend(fontsize="x-small")
    return fig


def plot_correct_to_incorrect(
    rates: pd.DataFrame, percent: bool = True, title: str = "", colors: Mapping[str, str] | None = None
) -> Figure:
    """Observed correct→incorrect rate per round and method with intervals (compounding-error figure)."""
    fig, ax, scale = _single_panel(percent)
    colors = _colors(list(rates["method"]), colors)
    with figure_style():
        for method, rows in rates.groupby("method", sort=False):
            x = rows["to_round"]
            ax.plot(x, rows["c→i rate"] * scale, marker="o", color=colors[method], label=method)
            if _has(rows["c→i rate lo"]):
                ax.fill_between(
                    x,
                    rows["c→i rate lo"] * scale,
                    rows["c→i rate hi"] * scale,
                    color=colors[method],
                    alpha=0.15,
                    linewidth=0,
                )
        _integer_x(ax)
        ax.set_xlabel("revision round")
        ax.set_ylabel("P(correct → incorrect) (%)" if percent else "P(correct → incorrect)")
        if title:
            ax.set_title(title)
        ax.legend()
    return fig


def plot_iteration_updown(
    updown: pd.DataFrame,
    rates: pd.DataFrame,
    percent: bool = True,
    title: str = "",
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """CTRL Figure 4 and its conditional companion: two panels per iteration and method.

    Left, the unconditional Δ↓(t): correct at t−1 and incorrect at t as a share of all samples
    (:func:`criticlab.analysis.iteration_updown`; the paper's axis runs 0–3%). Right, the
    conditional P(correct → incorrect | correct) of :func:`criticlab.analysis.markov_table`.
    """
    fig, axes = new_figure(1, 2, size=(2 * STYLE["figure.figsize"][0], STYLE["figure.figsize"][1]))
    scale = 100.0 if percent else 1.0
    unit = " (%)" if percent else ""
    names = list(updown["method"]) + (list(rates["method"]) if len(rates) else [])
    colors = _colors(names, colors)
    panels = (
        (axes[0, 0], updown, "round", "Δ↓", "Δ↓: correct → incorrect, share of all samples"),
        (axes[0, 1], rates, "to_round", "c→i rate", "P(correct → incorrect | correct)"),
    )
    with figure_style():
        for ax, frame, x_col, y_col, label in panels:
            if len(frame):
                for method, rows in frame.groupby("method", sort=False):
                    x = rows[x_col]
                    ax.plot(x, rows[y_col] * scale, marker="o", color=colors[method], label=method)
                    if _has(rows[f"{y_col} lo"]):
                        lo, hi = rows[f"{y_col} lo"] * scale, rows[f"{y_col} hi"] * scale
                        ax.fill_between(x, lo, hi, color=colors[method], alpha=0.15, linewidth=0)
                ax.legend()
            _integer_x(ax)
            ax.set_xlabel("iteration")
            ax.set_ylabel(label + unit)
        if title:
            fig.suptitle(title)
    return fig


def plot_strategies(distribution: pd.DataFrame, title: str = "") -> Figure:
    """Grouped horizontal bars: per critic, the share of its critiques that use each strategy.

    Multi-label (a critique counts for every strategy it uses), so a critic's bars need not sum
    to 100%. ``distribution`` is :func:`criticlab.analysis.strategy_distribution`'s table (shares
    or counts; counts are divided by ``n``).
    """
    frame = distribution.set_index("critic") if "critic" in distribution.columns else distribution
    labels = [c for c in frame.columns if c != "n"]  # the strategies, in the table's order
    shares = frame[labels].to_numpy(dtype=float)
    if "n" in frame and np.nanmax(shares, initial=0.0) > 1.0:  # counts, not shares
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = shares / frame["n"].to_numpy(dtype=float)[:, None]
    shares = np.nan_to_num(shares) * 100.0
    height = 0.8 / max(len(labels), 1)
    fig, axes = new_figure(size=(5.5, (0.25 * len(labels) + 0.3) * len(frame) + 1.4))
    ax: Axes = axes[0, 0]
    y = np.arange(len(frame))
    with figure_style():
        for j, label in enumerate(labels):
            ax.barh(
                y - 0.4 + (j + 0.5) * height,
                shares[:, j],
                height=height,
                color=PALETTE[j % len(PALETTE)],
                label=label.replace("_", " "),
            )
        ax.set_yticks(y, [str(i) for i in frame.index])
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("critiques using the strategy (%)")
        ax.grid(axis="y", visible=False)
        if title:
            ax.set_title(title)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3)
    return fig


def plot_similarity(
    similarity: pd.DataFrame,
    bins: int = 20,
    title: str = "",
    colors: Mapping[str, str] | None = None,
    column: str = "similarity",
) -> Figure:
    """Histogram of original-vs-revised code similarity per method (step outlines, density scale).

    ``column`` picks the measure of :func:`criticlab.analysis.revision_similarity`: ``similarity``
    (the workbook's token ratio) or ``similarity (C.4)`` (CTRL's Figure 7 character ratio).
    """
    fig, ax, _ = _single_panel()
    colors = _colors(list(similarity["method"]), colors)
    edges = np.linspace(0.0, 1.0, bins + 1)
    with figure_style():
        for method, rows in similarity.groupby("method", sort=False):
            ax.hist(
                rows[column].to_numpy(dtype=float),
                bins=edges,
                density=True,
                histtype="step",
                linewidth=1.6,
                color=colors[method],
                label=f"{method} (n={len(rows)})",
            )
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"{column} of revised to original code")
        ax.set_ylabel("density")
        if title:
            ax.set_title(title)
        ax.legend(loc="upper left")
    return fig


# --------------------------------------------------------------------------------------------
# Training figures
# --------------------------------------------------------------------------------------------


def plot_training_curves(
    series: Mapping[str, Sequence[tuple[int, float]] | Mapping[str, Sequence[tuple[int, float]]]],
    title: str = "",
    smooth: int = 1,
) -> Figure:
    """One panel per logged metric (loss, reward, KL, judgment accuracy...) against the optimizer step.

    A metric's value is its (step, value) points, or a mapping of run label → points (one line per
    run, e.g. per seed, with a legend). ``smooth`` > 1 overlays a trailing moving average (noisy RL
    curves), keeping the raw points faint.
    """
    runs = {name: points if isinstance(points, Mapping) else {"": points} for name, points in series.items()}
    names = [name for name, lines in runs.items() if any(lines.values())]
    fig, axes = new_figure(1, max(1, len(names)), size=(3.2 * max(1, len(names)), 2.8))
    with figure_style():
        for ax, name in zip(axes[0], names):
            colors = colors_for(list(runs[name]))
            for label, points in runs[name].items():
                steps = np.array([s for s, _ in points], dtype=float)
                values = np.array([v for _, v in points], dtype=float)
                color, smoothed = colors[label], smooth > 1 and len(values) >= smooth
                ax.plot(
                    steps,
                    values,
                    marker="o",
                    markersize=2,
                    alpha=0.35 if smooth > 1 else 1.0,
                    color=color,
                    label=None if smoothed else label or None,
                )
                if smoothed:
                    kernel = np.ones(smooth) / smooth
                    ax.plot(
                        steps[smooth - 1 :],
                        np.convolve(values, kernel, mode="valid"),
                        color=color,
                        label=label or None,
                    )
            if len(runs[name]) > 1:
                ax.legend(fontsize="small")
            ax.set_xlabel("step")
            ax.set_title(name)
            _integer_x(ax)
        if title:
            fig.suptitle(title)
    return fig


def plot_counts(counts: pd.Series, title: str = "", xlabel: str = "records") -> Figure:
    """Horizontal bars of a labelled count series, first entry on top (e.g. synthesis outcomes)."""
    fig, axes = new_figure(size=(5.0, 0.35 * max(len(counts), 3) + 1.0))
    ax: Axes = axes[0, 0]
    with figure_style():
        labels = [str(i) for i in counts.index][::-1]
        ax.barh(labels, counts.to_numpy(dtype=float)[::-1], color=PALETTE[0])
        ax.set_xlabel(xlabel)
        ax.grid(axis="y", visible=False)
        if title:
            ax.set_title(title)
    return fig


def plot_sandbox(throughput: pd.DataFrame, latencies: pd.Series) -> Figure:
    """Notebook 02's two panels: executions per second at each worker count (``throughput``'s
    ``workers`` and ``per_second``), and the histogram of single-execution latencies (ms) with its
    median.

    Drawn as the notebook drew it, outside :func:`figure_style` (titles, labels and the legend take
    matplotlib's defaults; saving applies the style as for every figure), so the saved files keep
    their bytes; drawing it under the style is a change of its own.
    """
    fig, axes = new_figure(1, 2, size=(8.0, 3.0))
    bars, dist = axes[0]
    bars.bar([str(level) for level in throughput["workers"]], throughput["per_second"], color=PALETTE[0])
    bars.set_xlabel("workers")
    bars.set_ylabel("executions / s")
    bars.set_title("throughput (reference solutions)")
    dist.hist(latencies, bins=30, color=PALETTE[1])
    dist.axvline(latencies.quantile(0.5), color=PALETTE[7], linestyle="--", linewidth=1, label="p50")
    dist.set_xlabel("latency of one execution (ms)")
    dist.set_ylabel("executions")
    dist.set_title("latency, one at a time")
    dist.legend()
    return fig


def plot_crl_comparison(table: pd.DataFrame, title: str = "") -> Figure:
    """Critique-Coder's comparison (06's table): per policy and seed, code Pass@1 per benchmark (left)
    and held-out judge accuracy overall and per label (right), the always-T base rate as a black dash.

    Mean rows are drawn like the seeds' rows; ``sd`` rows are not drawn (the table gives them)."""
    shown = table[table["seed"] != "sd"]
    labels = [
        p if s == "-" else f"{p} · seed {s}" if s.isdigit() else f"{p} · {s}"
        for p, s in zip(shown["policy"], shown["seed"])
    ]
    code = shown[[c for c in shown.columns if c.endswith(" pass@1")]].set_axis(labels)
    judge = shown[["judge acc", "acc on T", "acc on F"]].set_axis(labels)
    fig, axes = new_figure(1, 2, size=(max(6.4, 1.1 * len(labels) + 3.0), 3.0))
    with figure_style():
        for ax, frame, name in (
            (axes[0, 0], code, "code Pass@1"),
            (axes[0, 1], judge, "judge accuracy (held out)"),
        ):
            _grouped_bars(ax, frame.set_axis([c.removesuffix(" pass@1") for c in frame.columns], axis=1))
            ax.set_ylim(0, 1.05)
            ax.set_title(name)
            ax.tick_params(axis="x", labelrotation=20)
            ax.grid(axis="x", visible=False)
            ax.legend(fontsize="small")
        at = np.arange(len(labels))
        axes[0, 1].hlines(
            shown["always-T"].to_numpy(dtype=float),
            at - 0.8 / 6,
            at + 0.8 - 0.8 / 6,
            color="black",
            label="always-T",
            zorder=3,
        )
        axes[0, 1].legend(fontsize="small")
        if title:
            fig.suptitle(title)
    return fig


def _grouped_bars(ax: Axes, frame: pd.DataFrame, horizontal: bool = False) -> None:
    """One group of bars per row of ``frame``, one bar (and legend entry) per column."""
    at = np.arange(len(frame))
    size = 0.8 / max(len(frame.columns), 1)
    for i, column in enumerate(frame.columns):
        draw = ax.barh if horizontal else ax.bar
        draw(at + i * size, frame[column], size, label=column)
    ticks = ax.set_yticks if horizontal else ax.set_xticks
    ticks(at + size * (len(frame.columns) - 1) / 2, list(frame.index))


def plot_data_overview(table: pd.DataFrame) -> Figure:
    """Notebook 01's four panels from a problem table (``source``, ``split``, ``n_cases``,
    ``question_tokens``, ``difficulty``): problems per source and split, tests per problem,
    question length and difficulty labels."""
    fig, axes = new_figure(2, 2, size=(9.0, 6.0))
    splits = sorted(table["split"].unique())
    with figure_style():
        _grouped_bars(axes[0, 0], table.groupby(["source", "split"]).size().unstack(fill_value=0))
        axes[0, 0].set(title="Problems per source and split", ylabel="problems")
        for split in splits:
            group = table[table["split"] == split]
            axes[0, 1].hist(group["n_cases"], bins=20, alpha=0.6, label=split)
            axes[1, 0].hist(group["question_tokens"], bins=20, alpha=0.6, label=split)
        axes[0, 1].set(
            title="Tests per problem", xlabel="test cases (each assert counted)", ylabel="problems"
        )
        axes[1, 0].set(
            title="Question length", xlabel="tokens (proxy: words + punctuation)", ylabel="problems"
        )
        labels = (table["source"] + ": " + table["difficulty"].replace("", "unlabelled")).rename("label")
        difficulty = table.assign(label=labels).groupby(["label", "split"]).size().unstack(fill_value=0)
        _grouped_bars(axes[1, 1], difficulty, horizontal=True)
        axes[1, 1].set(title="Difficulty (labels differ by source)", xlabel="problems")
        for ax in axes.flat:
            ax.legend()
    return fig

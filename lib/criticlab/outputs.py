"""What a run writes and how: its locations (:class:`Paths`), the file formats of its tables and
figures, and the one object a stage writes through (:class:`StageOutputs`, from ``paths.stage(name)``).

Why a module of its own, in the lowest layer. Every stage package builds its own metrics record,
and every notebook writes tables, figures and that record; the writer therefore has to sit below
all of them, beside :mod:`criticlab.stages` (the names) and :mod:`criticlab.io` (atomic writes).
The layer above may not be imported from here, so the writer takes what the higher layers make
rather than making it: ``.figure()`` takes a finished matplotlib figure (drawn by
:mod:`criticlab.viz.plots`), and a stage that generates names its watch
(:class:`criticlab.llm.throughput.StageWatch`) when it asks for its writer. What the writer needs
to *save* lives here, so there is one way to write each kind of file: the table formats (CSV, Markdown,
LaTeX) and the figure style with its byte-reproducible saver, which :mod:`criticlab.viz` re-exports
and draws with. :mod:`criticlab.config` keeps the profile schema and re-exports :class:`Paths`.

pandas and matplotlib are imported where a table or a figure is written, not at import time:
:mod:`criticlab.config` imports this module, and a process that only reads a profile (a sandbox
worker, a verl reward worker) should not pay for them.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from criticlab import stages
from criticlab.io import atomic_open, write_text

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

# --------------------------------------------------------------------------------------------
# Locations
# --------------------------------------------------------------------------------------------


class Watch(Protocol):
    """What a stage's watch gives at its end: the stage's generation (tokens, seconds)."""

    def record(self) -> stages.Throughput: ...


WatchFactory = Callable[[Path, str], Watch]
"""Builds a stage's watch from the output root and the stage name, e.g.
:meth:`criticlab.llm.throughput.StageWatch.resuming`."""


@dataclass(frozen=True)
class Paths:
    """Where a profile's run writes. Directories are created when first asked for."""

    root: Path

    def _dir(self, *parts: str) -> Path:
        path = self.root.joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def data_dir(self) -> Path:
        return self._dir(stages.DATA_DIR)

    @property
    def train_jsonl(self) -> Path:
        return self.data_dir / stages.TRAIN_PROBLEMS

    @property
    def eval_jsonl(self) -> Path:
        return self.data_dir / stages.EVAL_PROBLEMS

    @property
    def validation_jsonl(self) -> Path:
        return self.data_dir / stages.VALIDATION_PROBLEMS

    @property
    def figures_dir(self) -> Path:
        return self._dir(stages.FIGURES_DIR)

    @property
    def tables_dir(self) -> Path:
        return self._dir(stages.TABLES_DIR)

    @property
    def checkpoints_dir(self) -> Path:
        return self._dir(stages.CHECKPOINTS_DIR)

    @property
    def notebooks_dir(self) -> Path:
        return self._dir(stages.NOTEBOOKS_DIR)

    @property
    def cache_dir(self) -> Path:
        """Engine response cache of this profile (re-runs reuse finished generations)."""
        return self._dir(stages.CACHE_DIR)

    def stage_dir(self, stage: str) -> Path:
        """A stage's own directory, e.g. ``stage_dir(stages.SYNTHESIS)``."""
        return self._dir(stage)

    def stage(self, name: str, *, watch: WatchFactory | None = None) -> StageOutputs:
        """The writer of stage ``name`` (one of :data:`criticlab.stages.STAGES`).

        A stage that generates passes ``watch=throughput.StageWatch.resuming``: the watch starts
        now, adds what the stage's earlier runs recorded, and :meth:`StageOutputs.finish` puts its
        figures into the record.
        """
        return StageOutputs(self, name, watch)


# --------------------------------------------------------------------------------------------
# Tables: CSV (full precision), Markdown and LaTeX, deterministic for a given frame
# --------------------------------------------------------------------------------------------

_LATEX_SYMBOLS = {
    "Δ↑": r"$\Delta\uparrow$",
    "Δ↓": r"$\Delta\downarrow$",
    "→": r"$\to$",
    "Δ": r"$\Delta$",
}


def _cell(value: object, digits: int) -> str:
    import numpy as np

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}"
    return str(value)


def to_markdown(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned; no ``tabulate`` dependency)."""
    import pandas as pd

    header = [str(c) for c in df.columns]
    body = [[_cell(v, digits).replace("|", r"\|") for v in row] for row in df.itertuples(index=False)]
    numeric = [
        pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns
    ]
    widths = [max([len(h), 3, *(len(r[i]) for r in body)]) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "| " + " | ".join(("-" * (w - 1) + ":") if num else "-" * w for w, num in zip(widths, numeric)) + " |"
    )
    return "\n".join([line(header), rule, *(line(r) for r in body)]) + "\n"


def to_latex(df: pd.DataFrame, digits: int = 4) -> str:
    """A booktabs LaTeX table; Δ↑/Δ↓ and arrows become math so the file compiles with pdflatex."""
    text = df.to_latex(index=False, escape=True, na_rep="", float_format=lambda x: f"{x:.{digits}f}")
    for symbol, latex in _LATEX_SYMBOLS.items():
        text = text.replace(symbol, latex)
    return text


def write_table(
    df: pd.DataFrame,
    stem: str | os.PathLike,
    *,
    digits: int = 4,
    validate: Callable[[pd.DataFrame], None] | None = None,
) -> dict[str, Path]:
    """Write ``stem.csv`` (full precision), ``stem.md`` and ``stem.tex`` atomically; return the paths.

    The three formats come from one frame in one call, so they always agree. ``validate`` runs
    first and raises on a table that must not be written (evaluation passes
    :func:`criticlab.evaluation.check_delta_identity`, so no table that breaks Pass@1 = Pass@1(0)
    + Δ↑ − Δ↓ reaches a paper).
    """
    if validate is not None:
        validate(df)
    stem = Path(stem)
    return {
        "csv": write_text(stem.with_suffix(".csv"), df.to_csv(index=False, lineterminator="\n")),
        "md": write_text(stem.with_suffix(".md"), to_markdown(df, digits)),
        "tex": write_text(stem.with_suffix(".tex"), to_latex(df, digits)),
    }


# --------------------------------------------------------------------------------------------
# Figures: one style, byte-reproducible PDF and PNG
# --------------------------------------------------------------------------------------------

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
"""Okabe–Ito colours: distinguishable with colour-vision deficiencies and in greyscale print."""

STYLE: dict[str, object] = {
    "figure.figsize": (5.0, 3.2),
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "font.family": "DejaVu Sans",  # ships with matplotlib: same glyphs and metrics on every machine
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "lines.markersize": 4,
    "pdf.fonttype": 42,  # TrueType in the PDF: text stays editable and searchable
    "svg.hashsalt": "criticlab",
    "svg.fonttype": "none",
    "path.simplify": True,
}
"""The rc settings every figure is drawn and saved under; :func:`figure_style` adds the colour
cycle of :data:`PALETTE` (built there, so importing this module does not import matplotlib)."""

PDF_METADATA = {"CreationDate": None, "ModDate": None}
PNG_METADATA = {"Software": None}


@contextmanager
def figure_style() -> Iterator[None]:
    """Apply :data:`STYLE` for the duration (draw *and* save inside it for identical output)."""
    import matplotlib as mpl

    with mpl.rc_context({**STYLE, "axes.prop_cycle": mpl.cycler(color=list(PALETTE))}):
        yield


def save_figure(
    fig: Figure,
    path_stem: str | os.PathLike,
    formats: Sequence[str] = ("pdf", "png"),
    dpi: float | None = None,
) -> list[Path]:
    """Write ``path_stem.pdf`` and ``path_stem.png`` (atomically, byte-reproducibly); return the paths.

    No creation or modification date in the PDF and no software tag in the PNG, and the same style
    at save time as at draw time, so the same figure gives the same bytes. ``dpi`` sets the raster
    resolution (default: the style's ``savefig.dpi``); the PDF stays vector.
    """
    stem = Path(path_stem)
    paths = []
    with figure_style():
        for fmt in formats:
            path = stem.with_suffix(f".{fmt}")
            metadata = PDF_METADATA if fmt == "pdf" else PNG_METADATA if fmt == "png" else None
            with atomic_open(path, "wb") as handle:
                fig.savefig(handle, format=fmt, metadata=metadata, dpi=dpi)
            paths.append(path)
    return paths


# --------------------------------------------------------------------------------------------
# A stage's writer
# --------------------------------------------------------------------------------------------


class StageOutputs:
    """Everything one stage writes goes through here: its tables, its figures, its metrics record.

    ``table(frame, stem)`` writes ``tables/<stem>.{csv,md,tex}`` unless the frame is empty;
    ``figure(fig, stem)`` writes ``figures/<stem>.{pdf,png}``; ``plot(draw, frame, stem)`` draws and
    writes the figure of a table unless the frame is empty; ``watch`` is the stage's
    generation watch (or None); ``finish(record)`` writes ``<stage>/metrics.json``. Without it
    every notebook guarded its tables with ``if len(frame):``, spelled each directory, and handed
    the record and the watch's figures to :func:`criticlab.stages.write_metrics` itself; here each
    is done one way. ``written`` lists the files written, in order.
    """

    def __init__(self, paths: Paths, name: str, watch: WatchFactory | None = None) -> None:
        if name not in stages.STAGES:
            raise KeyError(f"unknown stage {name!r}; stages are {', '.join(stages.STAGES)}")
        self.paths = paths
        self.name = name
        self.watch: Watch | None = watch(paths.root, name) if watch is not None else None
        """The stage's watch (None: the stage generates nothing)."""
        self.written: list[Path] = []

    def __repr__(self) -> str:
        return f"StageOutputs({self.name!r}, root={str(self.paths.root)!r})"

    @property
    def root(self) -> Path:
        """The profile's output root (``outputs/<profile>/``)."""
        return self.paths.root

    @property
    def dir(self) -> Path:
        """The stage's own directory (``outputs/<profile>/<stage>/``), created when asked for."""
        return self.paths.stage_dir(self.name)

    def table(
        self,
        frame: pd.DataFrame,
        stem: str,
        *,
        digits: int = 4,
        validate: Callable[[pd.DataFrame], None] | None = None,
    ) -> dict[str, Path]:
        """Write ``tables/<stem>.{csv,md,tex}`` (:func:`write_table`); an empty frame writes nothing.

        A table with no rows (no critic in the run, nothing to estimate) would be a header alone,
        which reads as a result; skipping it leaves the table absent, as it was when notebooks
        guarded each call. Returns the paths written ({} for an empty frame).
        """
        if frame is None or len(frame) == 0:
            return {}
        paths = write_table(frame, self.paths.tables_dir / stem, digits=digits, validate=validate)
        self.written.extend(paths.values())
        return paths

    def figure(self, fig: Figure | None, stem: str, *, dpi: float | None = None) -> list[Path]:
        """Write ``figures/<stem>.{pdf,png}`` (:func:`save_figure`) and return the paths.

        Takes a finished figure (a :mod:`criticlab.viz.plots` helper's); None writes nothing, for
        a figure a stage draws only when it has the data.
        """
        if fig is None:
            return []
        paths = save_figure(fig, self.paths.figures_dir / stem, dpi=dpi)
        self.written.extend(paths)
        return paths

    def plot(
        self, draw: Callable[..., Figure], frame: pd.DataFrame, stem: str, **options: object
    ) -> list[Path]:
        """The figure of a table: ``draw(frame, **options)`` saved as ``figures/<stem>`` (:meth:`figure`).

        An empty frame draws nothing and writes nothing, as :meth:`table` skips it, so a table and
        its figure are there or absent together (the plot helpers need rows to draw).
        """
        if frame is None or len(frame) == 0:
            return []
        return self.figure(draw(frame, **options), stem)

    def finish(self, record: stages.StageMetrics) -> stages.StageMetrics:
        """Save the stage's record as ``<stage>/metrics.json`` (atomically) and return it.

        The record must be this stage's. A record with an empty ``throughput`` field gets the
        watch's figures (a stage whose throughput has more parts, such as 05's rollouts, fills
        the field itself with ``watch.record(extra=...)``).
        """
        if self.name != record.STAGE:
            raise TypeError(
                f"{type(record).__name__} is the record of {record.STAGE or 'no stage'}, not of {self.name}"
            )
        if self.watch is not None and getattr(record, "throughput", False) is None:
            record = dataclasses.replace(record, throughput=self.watch.record())
        self.written.append(stages.write_metrics(self.root, record))
        return record


__all__ = [
    "PALETTE",
    "PDF_METADATA",
    "PNG_METADATA",
    "STYLE",
    "Paths",
    "StageOutputs",
    "Watch",
    "WatchFactory",
    "figure_style",
    "save_figure",
    "to_latex",
    "to_markdown",
    "write_table",
]

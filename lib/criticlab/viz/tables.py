"""Table writers: CSV (full precision), Markdown and LaTeX, deterministic for a given frame.

Every notebook that reports a table writes it through :func:`write_table`, so the three formats
always agree. A stage that has an invariant to keep (evaluation's Δ identity) passes its check
as ``validate``: a table that breaks it raises before anything is written.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from criticlab.io import write_text

_LATEX_SYMBOLS = {
    "Δ↑": r"$\Delta\uparrow$",
    "Δ↓": r"$\Delta\downarrow$",
    "→": r"$\to$",
    "Δ": r"$\Delta$",
}


def _cell(value: object, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}"
    return str(value)


def to_markdown(df: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned; no ``tabulate`` dependency)."""
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

    ``validate`` runs first and raises on a table that must not be written (evaluation passes
    :func:`criticlab.evaluation.check_delta_identity`, so no table that breaks Pass@1 = Pass@1(0)
    + Δ↑ − Δ↓ reaches a paper).
    """
    if validate is not None:
        validate(df)
    stem = Path(stem)
    paths = {
        "csv": write_text(stem.with_suffix(".csv"), df.to_csv(index=False, lineterminator="\n")),
        "md": write_text(stem.with_suffix(".md"), to_markdown(df, digits)),
        "tex": write_text(stem.with_suffix(".tex"), to_latex(df, digits)),
    }
    return paths

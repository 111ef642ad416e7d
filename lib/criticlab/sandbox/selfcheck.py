"""``python -m criticlab.sandbox.selfcheck``: what the local sandbox guarantees on this machine.

Starts a :class:`~criticlab.sandbox.LocalExecutor` and prints its start-up self-test: every
guarantee, whether it held, and what it means. The per-job guarantees (IPC objects, keyrings,
files and memory left between jobs) come from jobs run back to back on each worker; here the
first job is followed by more look jobs than at start-up (``--looks``, default: one past every
spare child a worker forks ahead), so a child forked while the first job's message was in reach
would get its turn to look. ``--strict`` exits 1 when any guarantee is missing::

    python -m criticlab.sandbox.selfcheck [--workers N] [--isolation auto|root|userns|minimal]
                                          [--looks N] [--json PATH] [--strict]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from criticlab.io import write_json
from criticlab.sandbox.isolation import GUARANTEES, IsolationReport
from criticlab.sandbox.local import SPARE_ZYGOTES, LocalExecutor


def run_selfcheck(
    workers: int | None = None,
    isolation: str = "auto",
    looks: int = SPARE_ZYGOTES[1] + 2,
) -> IsolationReport:
    """Start an executor with ``looks`` look jobs per worker in its self-test; its report."""
    executor = LocalExecutor(workers=workers, isolation=isolation)
    executor._self_test_looks = max(1, int(looks))
    try:
        return executor.isolation_report()
    finally:
        executor.close()


def format_report(report: IsolationReport) -> str:
    """The report as aligned text: mode, one line per guarantee, then the set-up's notes."""
    width = max(len(name) for name in report.guarantees)
    lines = [f"mode: {report.mode} ({report.workers} workers)"]
    for name, held in report.guarantees.items():
        lines.append(f"  {'held   ' if held else 'MISSING'}  {name:<{width}}  {GUARANTEES.get(name, '')}")
    lines += [f"  note: {error}" for error in report.errors]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m criticlab.sandbox.selfcheck", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: one per usable core)"
    )
    parser.add_argument("--isolation", default="auto", choices=("auto", "root", "userns", "minimal"))
    parser.add_argument(
        "--looks", type=int, default=SPARE_ZYGOTES[1] + 2, help="look jobs after the leave job on each worker"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the report to this JSON file")
    parser.add_argument("--strict", action="store_true", help="exit 1 if any guarantee is missing")
    args = parser.parse_args(argv)
    report = run_selfcheck(args.workers, args.isolation, args.looks)
    print(format_report(report))
    if args.json is not None:
        write_json(args.json, report.to_dict())
    return 1 if args.strict and report.missing() else 0


if __name__ == "__main__":
    sys.exit(main())

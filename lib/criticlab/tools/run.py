"""Headless runner: execute the numbered notebooks of a profile through papermill.

    python -m criticlab.tools.run --profile params/cpu.yaml [--only 03 05] [--prepare-only]

The profile is loaded and validated before any notebook starts, so a typo fails in a second,
not an hour in. Each notebook is executed with ``profile`` injected as a parameter and saved,
executed, to ``outputs/<profile>/notebooks/``; the run stops at the first failure, naming the
notebook and the cell, and says so when the kernel died (out of memory, for one). Wall times go
to ``outputs/<profile>/run.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from criticlab import config, stages
from criticlab.io import read_json, write_json
from criticlab.llm import vllm_server
from criticlab.llm.base import EngineError

NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")


class RunError(RuntimeError):
    """A notebook failed; the message names the notebook, the cell and the executed copy."""


@dataclass
class NotebookRun:
    notebook: str
    status: str  # "ok" | "failed" | "prepared"
    seconds: float
    output: str
    error: str = ""
    finished: str = ""  # UTC time the notebook ended, ISO 8601
    server: dict[str, float] = field(default_factory=dict)
    """What the generator's vllm server did during this notebook: its counters' growth (prompt and
    generated tokens, prefix-cache queries and hits; :data:`SERVER_COUNTERS`)."""


SERVER_COUNTERS = ("prompt_tokens", "generation_tokens", "prefix_cache_queries", "prefix_cache_hits")


@dataclass
class RunReport:
    profile: str
    profile_path: str
    runs: list[NotebookRun] = field(default_factory=list)
    server_seconds: float = 0.0
    """Start-up of the generator's vllm server (``models.vllm_server``), before the first notebook."""
    server_metrics: dict[str, float] = field(default_factory=dict)
    """That server's counters at the end (:func:`criticlab.llm.vllm_server.server_metrics`)."""

    @property
    def ok(self) -> bool:
        return all(r.status != "failed" for r in self.runs)


def notebooks_dir() -> Path:
    return config.project_root() / stages.NOTEBOOKS_DIR


def discover(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks in order; ``only`` selects by number (``03``) or name (``03_synthesis``)."""
    found = sorted(p for p in notebooks_dir().glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name))
    if not only:
        return found
    chosen = []
    for wanted in only:
        key = wanted.zfill(2) if wanted.isdigit() else wanted.removesuffix(".ipynb")
        matches = [p for p in found if p.stem == key or p.stem.split("_", 1)[0] == key]
        if not matches:
            names = ", ".join(p.stem for p in found)
            raise RunError(f"--only {wanted}: no such notebook (have: {names})")
        chosen.extend(m for m in matches if m not in chosen)
    return sorted(chosen)


def describe_failure(err: BaseException) -> str:
    """One line saying what went wrong, in the terms a notebook user knows."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    if isinstance(err, DeadKernelError):
        return "the kernel died (killed by the system — often out of memory)"
    if isinstance(err, CellTimeoutError):
        return f"a cell timed out ({err})"
    ename = getattr(err, "ename", None)
    if ename is not None:  # papermill.exceptions.PapermillExecutionError
        cell = getattr(err, "exec_count", None) or getattr(err, "cell_index", "?")
        lines = [line for line in (getattr(err, "source", "") or "").splitlines() if line.strip()]
        code = f" (`{lines[0].strip()[:80]}`)" if lines else ""
        return f"cell In[{cell}]{code} raised {ename}: {getattr(err, 'evalue', '')}".rstrip(": ")
    return f"{type(err).__name__}: {err}"


def run_profile(
    profile: str,
    only: list[str] | None = None,
    prepare_only: bool = False,
    log_output: bool = False,
    echo=print,
) -> RunReport:
    """Execute (or with ``prepare_only`` just parameterize) the notebooks of a profile; a profile
    that serves its generator (``models.vllm_server``) gets its ``vllm serve`` around them."""
    profile_path = config.resolve_profile_path(profile)
    cfg = config.load_profile(profile_path)  # fails fast on an unknown key or a wrong type
    selected = discover(only)
    report = RunReport(profile=cfg.name, profile_path=str(profile_path))
    os.environ.setdefault("MPLBACKEND", "Agg")
    echo(f"profile {cfg.name} ({profile_path.name}): {len(selected)} notebook(s) → {cfg.paths.notebooks_dir}")
    with _generator_server(cfg, report, prepare_only, echo) as counters:
        for index, notebook in enumerate(selected, start=1):
            before = counters()
            _run_one(
                notebook, index, len(selected), profile_path, cfg, report, prepare_only, log_output, echo
            )
            after = counters()
            if after:
                report.runs[-1].server = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in SERVER_COUNTERS}
    _save_report(cfg, report)
    if not prepare_only:
        total = sum(r.seconds for r in report.runs) + report.server_seconds
        started = (
            f", the vllm server's start ({report.server_seconds:.0f} s) included"
            if report.server_seconds
            else ""
        )
        echo(f"done: {len(report.runs)} notebook(s) in {total / 60:.1f} min{started}")
    return report


@contextmanager
def _generator_server(
    cfg: config.Profile, report: RunReport, prepare_only: bool, echo
) -> Iterator[Callable[[], dict[str, float]]]:
    """Around the notebooks of a profile that serves its generator (``models.vllm_server``): one
    ``vllm serve`` on loopback for all of them, stopped at the end. Its start-up seconds (0 for one
    already running) and, at the end, its counters (prompt and generated tokens, prefix-cache
    hits) go into the report; yields what reads those counters now (empty without a server)."""
    if prepare_only or not vllm_server.serves(cfg):
        yield dict
        return
    fresh = vllm_server.running(cfg) is None
    try:
        with vllm_server.serving(cfg, echo=echo) as state:
            report.server_seconds = state.start_seconds if fresh else 0.0
            try:
                yield lambda: vllm_server.server_metrics(state.url)
            finally:
                report.server_metrics = vllm_server.server_metrics(state.url)
                rate = vllm_server.prefix_hit_rate(report.server_metrics)
                if rate is not None:
                    echo(f"vllm serve: {rate:.1%} of prompt tokens came from the prefix cache")
    except EngineError as err:
        raise RunError(f"the generator's vllm server: {err}") from err


def _run_one(
    notebook: Path,
    index: int,
    count: int,
    profile_path: Path,
    cfg: config.Profile,
    report: RunReport,
    prepare_only: bool,
    log_output: bool,
    echo,
) -> None:
    """Execute one notebook into ``report``; a failure is saved to ``run.json`` and raised."""
    import papermill as pm

    target = cfg.paths.notebooks_dir / notebook.name
    started = time.perf_counter()
    echo(f"[{index}/{count}] {notebook.stem} ...", end="", flush=True)
    try:
        pm.execute_notebook(
            str(notebook),
            str(target),
            parameters={"profile": str(profile_path)},
            cwd=str(notebook.parent),
            kernel_name="python3",
            prepare_only=prepare_only,
            progress_bar=False,
            log_output=log_output,
            request_save_on_cell_execute=True,
        )
    except Exception as err:  # papermill/nbclient raise several kinds; all stop the run
        seconds = time.perf_counter() - started
        message = describe_failure(err)
        echo(f" FAILED after {seconds:.1f} s")
        report.runs.append(NotebookRun(notebook.stem, "failed", seconds, str(target), message, _now()))
        _save_report(cfg, report)
        raise RunError(f"notebook {notebook.stem} failed: {message}\n  executed copy: {target}") from err
    seconds = time.perf_counter() - started
    status = "prepared" if prepare_only else "ok"
    echo(f" {status} in {seconds:.1f} s")
    report.runs.append(NotebookRun(notebook.stem, status, seconds, str(target), finished=_now()))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _save_report(cfg: config.Profile, report: RunReport) -> None:
    """Merge this run's timings into ``run.json`` (an ``--only`` run keeps the others' figures).

    ``runs`` holds the latest run of each notebook; ``history`` every run ever recorded, in order,
    because a re-run served by the response cache takes seconds and would otherwise hide what the
    stage cost when it really generated.
    """
    path = cfg.paths.root / stages.RUN_FILE
    previous = read_json(path) if path.is_file() else {}
    runs = {r["notebook"]: r for r in previous.get("runs", [])}
    fresh = [asdict(r) for r in report.runs]
    runs.update({r["notebook"]: r for r in fresh})
    history = previous.get("history", previous.get("runs", [])) + fresh
    server_seconds = report.server_seconds or previous.get("vllm_server_seconds")  # the last start
    write_json(
        path,
        {
            "profile": report.profile,
            "profile_path": report.profile_path,
            "runs": [runs[k] for k in sorted(runs)],
            "history": history,
            **({"vllm_server_seconds": server_seconds} if server_seconds else {}),
            **({"vllm_server_metrics": report.server_metrics} if report.server_metrics else {}),
        },
    )


VLLM_VENV = ".venv-vllm"
"""The venv of vLLM's CPU build (``make setup-vllm``), where a vLLM profile's notebooks run."""


def vllm_python(cfg: config.Profile) -> Path | None:
    """The Python to run ``cfg`` with instead of this one: the vLLM venv's, for a profile whose
    engine is vLLM when this Python has no vLLM; None when this one will do. A missing venv is a
    :class:`config.ConfigError` saying how to make it."""
    if cfg.models.engine != "vllm" or importlib.util.find_spec("vllm") is not None:
        return None
    python = config.project_root() / VLLM_VENV / "bin" / "python"
    if not python.exists():
        raise config.ConfigError(
            f"{cfg.source}: models.engine is vllm and neither this Python ({sys.executable}) nor "
            f"{python} has vLLM: run `make setup-vllm` (CPU) or `make setup-gpu` (CUDA)"
        )
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m criticlab.tools.run", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", required=True, help="a profile name (cpu) or file (params/cpu.yaml)")
    parser.add_argument("--only", nargs="+", metavar="NN", help="run only these notebooks (e.g. 03 05)")
    parser.add_argument(
        "--prepare-only", action="store_true", help="validate and parameterize, execute nothing"
    )
    parser.add_argument("--log-output", action="store_true", help="stream cell outputs to the terminal")
    args = parser.parse_args(argv)
    try:
        python = vllm_python(config.load_profile(args.profile))
        if python is not None:  # the notebooks' kernels are this Python's: run in the vLLM venv
            print(f"models.engine is vllm: running in {python.parent.parent.name}", flush=True)
            command = [str(python), "-m", "criticlab.tools.run", *(sys.argv[1:] if argv is None else argv)]
            return subprocess.call(command)
        report = run_profile(args.profile, args.only, args.prepare_only, args.log_output)
    except (config.ConfigError, RunError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

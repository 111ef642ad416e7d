"""``LocalExecutor``: the embedded default executor (no Docker, no server).

A small service inside the calling process: an asyncio loop on a background thread drives a
pool of warm worker processes (``_worker.py``, one per core by default). Each sample is planned
here (:mod:`criticlab.sandbox.judge`: inputs go out, expected values stay), run by one worker
in a freshly forked, isolated child, and judged here from the per-test records the child
reported. The same object serves synchronous callers (``run``, ``run_batch``: notebooks,
scripts) and asynchronous ones (``arun``, ``arun_batch``: an RL loop), with bounded
concurrency and backpressure.

Failure policy: a worker that dies, hangs past the sample's deadline or reports an internal
error is killed and restarted, and the sample is retried once on a fresh worker; a second
failure is a ``SandboxError`` result (an infrastructure error, never a model failure).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import itertools
import json
import os
import secrets
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from criticlab.data.types import Problem
from criticlab.machine import usable_cores
from criticlab.sandbox import cgroups
from criticlab.sandbox._sys import remove_tree
from criticlab.sandbox.base import AsyncService, Sample
from criticlab.sandbox.compare import Checker
from criticlab.sandbox.isolation import IsolationReport, self_test
from criticlab.sandbox.judge import JobPlan, Judge, Limits, plan_job
from criticlab.sandbox.options import DEFAULT_SAMPLE_TIMEOUT, FROM_OPTIONS, JudgeOptions
from criticlab.sandbox.timings import trace_hops, trace_phases
from criticlab.sandbox.types import ExecResult, tail

if TYPE_CHECKING:
    from criticlab.config import SandboxSection

WORKER_SCRIPT = Path(__file__).with_name("_worker.py")
DEADLINE_GRACE = 10.0
"""Seconds past a sample's deadline before the executor gives up on its worker."""
START_TIMEOUT = 60.0
UID_BASE = 1 << 20
"""Root mode: jobs of worker *i* run as uid ``uid_base + i``; each executor draws its own block of
256 uids at random above this (far from system and login accounts), so two executors on one
machine never share a uid, its process limit or its files."""


SPARE_ZYGOTES = (2, 6)
"""Each worker keeps this many (low, high) children forked and confined ahead of their jobs: refilled
to *high* in one burst once only *low* are left, so the worker's pages are write-protected by a fork
once per burst rather than once per job (see ``_worker.Worker.spare_zygote``)."""


SELF_TEST_LOOKS = 2
"""Look jobs after the start-up self-test's leave job on each worker (``python -m
criticlab.sandbox.selfcheck`` runs more: one past every spare child forked while the leave job ran)."""


class SandboxUnavailable(RuntimeError):
    """No isolation mode could be started (every candidate failed its start-up self-test)."""


@dataclass
class _Stats:
    jobs: int = 0
    retries: int = 0
    infra_errors: int = 0
    restarts: int = 0
    retirements: int = 0
    forks: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)


class _WorkerDied(Exception):
    """The worker process ended or broke the protocol; the message says how."""


class _Worker:
    """The executor's handle on one worker process (lives on the executor's loop)."""

    def __init__(self, executor: LocalExecutor, index: int) -> None:
        self.ex = executor
        self.index = index
        self.proc: asyncio.subprocess.Process | None = None
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.stderr_tail = b""
        self.hello: dict[str, Any] = {}
        self.groups = cgroups.WorkerGroups()
        self.tasks: list[asyncio.Task] = []
        self.alive = False
        self.retired = ""

    async def start(self, mode: str) -> dict[str, Any]:
        ex = self.ex
        name = f"{cgroups.PREFIX}{os.getpid()}-{id(ex) & 0xFFFF:x}-w{self.index}"
        self.groups = cgroups.create(
            ex._hierarchies,
            name,
            memory_bytes=ex.limits.memory_bytes + (256 << 20),
            max_pids=ex.limits.max_processes + 4,
        )
        env = {"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-s",
            "-S",
            "-B",
            str(WORKER_SCRIPT),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd="/",
            start_new_session=True,
            limit=1 << 26,
        )
        self.alive = True
        self.inbox = asyncio.Queue()
        self.tasks = [asyncio.ensure_future(self._read()), asyncio.ensure_future(self._read_stderr())]
        config = {
            "index": self.index,
            "mode": mode,
            "uid": ex.uid_base + self.index,
            "tmp_base": str(ex._tmp_base),
            "cgroups": self.groups.paths,
            "oom_files": self.groups.oom_files,
            "parent_pid": os.getpid(),
            "tmpfs_mb": ex.tmpfs_mb,
            "extra_paths": ex._extra_paths,
            "max_processes": ex.limits.max_processes,
            "limits": ex.limits.to_wire(),
            "rehearse": ex._rehearse,
            "spares": ex._spares,
        }
        self.send(config)
        try:
            hello = await asyncio.wait_for(self.inbox.get(), START_TIMEOUT)
        except asyncio.TimeoutError:
            hello = None
        if not isinstance(hello, dict) or hello.get("op") != "hello":
            await self.kill()
            raise _WorkerDied(
                f"worker {self.index} did not start: {tail(self.stderr_tail.decode(errors='replace'))}"
            )
        self.hello = hello
        if hello.get("failed"):
            await self.kill()
            raise _WorkerDied(f"worker {self.index} ({mode}): {'; '.join(hello.get('errors', []))}")
        return hello

    def send(self, msg: dict[str, Any]) -> None:
        if self.proc is None or self.proc.stdin is None or not self.alive:
            raise _WorkerDied("worker is not running")
        data = json.dumps(msg, separators=(",", ":")).encode()
        self.proc.stdin.write(len(data).to_bytes(4, "big") + data)

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        reader = self.proc.stdout
        try:
            while True:
                header = await reader.readexactly(4)
                body = await reader.readexactly(int.from_bytes(header, "big"))
                msg = json.loads(body)
                if isinstance(msg, dict) and msg.get("op") == "retired":
                    self.alive = False  # the next sample gets a fresh worker, without a retry
                    self.retired = str(msg.get("message", ""))
                self.inbox.put_nowait(msg)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, RecursionError):
            pass  # a frame the worker never writes (it bounds what it forwards): treat as its death
        finally:
            self.alive = False
            self.inbox.put_nowait(None)

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while True:
            chunk = await self.proc.stderr.read(4096)
            if not chunk:
                return
            self.stderr_tail = (self.stderr_tail + chunk)[-4000:]

    async def kill(self) -> None:
        """SIGKILL the worker and everything left in its cgroups; wait for it."""
        self.alive = False
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 10)
        self.groups.kill_all()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
        await asyncio.sleep(0)
        self.groups.remove()
        if self.proc is not None and self.ex._tmp_base is not None:
            # minimal mode keeps job directories on disk: none of a dead worker's may stay
            for leftover in self.ex._tmp_base.glob(f"job-{self.proc.pid}-*"):
                with contextlib.suppress(OSError):
                    remove_tree(str(leftover))

    async def stop(self) -> None:
        """Ask the worker to exit, then make sure it did."""
        if self.alive:
            with contextlib.suppress(Exception):
                self.send({"op": "exit"})
                assert self.proc is not None
                await asyncio.wait_for(self.proc.wait(), 2)
        await self.kill()

    async def restart(self) -> None:
        self.ex._stats.restarts += 1
        if self.retired:
            self.ex._stats.retirements += 1
            self.retired = ""
        await self.kill()
        await self.start(self.ex.mode)


class LocalExecutor(AsyncService):
    """Run untrusted Python against a problem's tests in warm, isolated worker processes (Linux).

    ``workers``: processes (default: one per usable core). ``isolation``: ``auto`` tries
    ``root`` (namespaces, jail, non-root uid, cgroups; needs root), then ``userns`` (the same
    inside a user namespace), then ``minimal`` (rlimits and sessions only); naming a mode uses
    exactly that one. ``options`` (a :class:`~criticlab.sandbox.options.JudgeOptions`, the same
    record :class:`SandboxFusionExecutor` judges by) holds the judging settings: ``time_limit``
    overrides every problem's per-test limit (seconds), and ``time_scale`` multiplies it (slow
    or shared machines). ``sample_timeout`` bounds one sample's total time (default 60 s).
    ``compare`` is the default stdout rule (``tokens``/``strict``). ``stop_on_first_failure``
    stops a sample at its first failed test (default: run all tests, critics need full
    feedback). Those keywords, when given, replace the record's fields; the result is
    ``self.options``. ``max_pending`` bounds how many samples of a batch are in
    flight at once (backpressure; default four per worker). ``cgroups_policy`` is ``auto``,
    ``nested`` or ``off`` (see :mod:`criticlab.sandbox.cgroups`). ``site_packages`` lets jobs
    import the installed third-party packages (off: standard library only, like the judges).
    ``trace`` adds per-phase timings (``trace_*``) to every result. It needs Linux (prctl,
    pidfd, /proc); elsewhere, point :class:`SandboxFusionExecutor` at a server.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        isolation: str = "auto",
        memory_mb: int = 1024,
        output_limit_mb: float = 8.0,
        file_size_mb: float = 16.0,
        open_files: int = 64,
        max_processes: int = 32,
        stack_mb: int = 64,
        options: JudgeOptions | None = None,
        time_limit: float | None = FROM_OPTIONS,
        time_scale: float = FROM_OPTIONS,
        sample_timeout: float = FROM_OPTIONS,
        compare: str = FROM_OPTIONS,
        float_tol: float = FROM_OPTIONS,
        stop_on_first_failure: bool = FROM_OPTIONS,
        max_pending: int | None = None,
        checkers: dict[str, Checker] | None = FROM_OPTIONS,
        cgroups_policy: str = "auto",
        site_packages: bool = False,
        tmpfs_mb: int = 512,
        uid_base: int | None = None,
        trace: bool = False,
    ) -> None:
        super().__init__()
        if isolation not in ("auto", "root", "userns", "minimal"):
            raise ValueError(f"isolation must be auto, root, userns or minimal, got {isolation!r}")
        self.options = JudgeOptions.build(
            options,
            sample_timeout_default=DEFAULT_SAMPLE_TIMEOUT,
            time_limit=time_limit,
            time_scale=time_scale,
            sample_timeout=sample_timeout,
            compare=compare,
            float_tol=float_tol,
            stop_on_first_failure=stop_on_first_failure,
            checkers=checkers,
        )
        if cgroups_policy not in ("auto", "nested", "off"):
            raise ValueError(f"cgroups_policy must be auto, nested or off, got {cgroups_policy!r}")
        self.workers = int(workers) if workers else usable_cores()
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        self.isolation = isolation
        self.limits = Limits(
            memory_bytes=int(memory_mb) << 20,
            output_bytes=int(output_limit_mb * (1 << 20)),
            file_bytes=int(file_size_mb * (1 << 20)),
            open_files=int(open_files),
            stack_bytes=int(stack_mb) << 20,
            max_processes=int(max_processes),
        )
        self.max_pending = int(max_pending) if max_pending else 4 * self.workers
        self.cgroups_policy = cgroups_policy
        self.site_packages = bool(site_packages)
        self.tmpfs_mb = int(tmpfs_mb)
        self.uid_base = int(uid_base) if uid_base is not None else UID_BASE + secrets.randbelow(1 << 16) * 256
        self.trace = bool(trace)
        self.mode = ""
        self.report: IsolationReport | None = None
        self._stats = _Stats()
        self._pool: list[_Worker] = []
        self._idle: asyncio.Queue | None = None
        self._ids = itertools.count(1)
        self._tmp_base: Path | None = None
        self._hierarchies: list[cgroups.Hierarchy] = []
        self._extra_paths: list[str] = []
        self._rehearse = True  # zygotes walk a job's path before theirs arrives (off: to measure its effect)
        self._spares = SPARE_ZYGOTES
        self._self_test_looks = SELF_TEST_LOOKS
        _LIVE.add(self)

    @classmethod
    def from_config(cls, cfg: SandboxSection, **overrides: Any) -> LocalExecutor:
        """Build from a :class:`criticlab.config.SandboxSection` (fields it lacks keep defaults)."""
        names = {
            "workers": "workers",
            "isolation": "isolation",
            "memory_mb": "memory_mb",
            "output_limit_mb": "output_limit_mb",
            "max_processes": "max_processes",
            "cgroups_policy": "cgroups",
            "site_packages": "site_packages",
        }
        kwargs: dict[str, Any] = {
            arg: getattr(cfg, attr) for arg, attr in names.items() if hasattr(cfg, attr)
        }
        kwargs["options"] = JudgeOptions.from_config(cfg)
        kwargs.update(overrides)
        return cls(**kwargs)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> LocalExecutor:
        """Start the workers and run the isolation self-test (also done on first use)."""
        super().start()
        return self

    def __enter__(self) -> LocalExecutor:
        return self.start()

    async def _astart(self) -> None:
        _remove_stale_temp_dirs()
        self._tmp_base = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-"))
        self._tmp_base.chmod(0o711)
        self._hierarchies = cgroups.discover(self.cgroups_policy)
        cgroups.remove_stale(self._hierarchies)
        if self.site_packages:
            import site

            self._extra_paths = [p for p in site.getsitepackages() if os.path.isdir(p)]
        await self._start_pool()

    async def _aclose(self) -> None:
        await asyncio.gather(*(w.stop() for w in self._pool), return_exceptions=True)
        self._pool.clear()
        if self._tmp_base is not None:
            with contextlib.suppress(OSError):
                remove_tree(str(self._tmp_base))

    def isolation_report(self) -> IsolationReport:
        """Which guarantees held at start-up, and the self-test's evidence."""
        self.start()
        assert self.report is not None
        return self.report

    def stats(self) -> dict[str, Any]:
        s = self._stats
        return {
            "jobs": s.jobs,
            "retries": s.retries,
            "infra_errors": s.infra_errors,
            "restarts": s.restarts,
            "retirements": s.retirements,
            "forks": s.forks,
            "verdicts": dict(s.verdicts),
            "workers": self.workers,
            "mode": self.mode,
        }

    def worker_pids(self) -> list[int]:
        """Pids of the live worker processes (for leak checks in tests)."""
        return [w.proc.pid for w in self._pool if w.proc is not None and w.proc.returncode is None]

    def _modes(self) -> list[str]:
        if self.isolation != "auto":
            return [self.isolation]
        modes = ["root"] if os.geteuid() == 0 else []
        if _userns_possible():
            modes.append("userns")
        return [*modes, "minimal"]

    async def _start_pool(self) -> None:
        self._idle = asyncio.Queue()
        errors: list[str] = []
        for mode in self._modes():
            pool = [_Worker(self, i) for i in range(self.workers)]
            outcomes = await asyncio.gather(*(w.start(mode) for w in pool), return_exceptions=True)
            failures = [o for o in outcomes if isinstance(o, BaseException)]
            if failures:
                errors.extend(f"{mode}: {f}" for f in failures)
                await asyncio.gather(*(w.kill() for w in pool), return_exceptions=True)
                continue
            self.mode = mode
            self._pool[:] = pool
            report, problem = await self._self_test(mode)
            if problem:
                errors.append(f"{mode}: {problem}")
                await asyncio.gather(*(w.stop() for w in pool), return_exceptions=True)
                self._pool.clear()
                continue
            report.errors = errors + [e for w in pool for e in w.hello.get("errors", [])]
            self.report = report
            for worker in pool:
                self._idle.put_nowait(worker)
            return
        raise SandboxUnavailable("no sandbox mode could start:\n" + "\n".join(errors))

    async def _self_test(self, mode: str) -> tuple[IsolationReport, str]:
        async def execute(worker: _Worker, plan: JobPlan) -> ExecResult:
            return await self._execute(worker, plan, stop_first=False, retry=False)

        return await self_test(mode, self._pool, execute, self.limits, looks=self._self_test_looks)

    # -- running -----------------------------------------------------------------------------

    def plan(self, problem: Problem, code: str | None) -> JobPlan:
        """The job plan for (problem, code) under this executor's settings."""
        return plan_job(problem, code, self.options)

    async def _run_sample(self, sample: Sample, stop_first: bool) -> ExecResult:
        submitted = time.perf_counter()
        plan = self.plan(sample.problem, sample.code)
        if plan.immediate is not None:
            result = plan.immediate
        else:
            assert self._idle is not None
            worker = await self._idle.get()
            queued = time.perf_counter() - submitted
            try:
                result = await self._execute(worker, plan, stop_first=stop_first, retry=True)
            finally:
                self._idle.put_nowait(worker)
            result.timings["queued"] = queued
        result.timings["wall"] = time.perf_counter() - submitted
        result.executor = "local"
        if self.report is not None:
            result.isolation = self.report.for_result()
        self._stats.jobs += 1
        self._stats.verdicts[result.verdict.value] = self._stats.verdicts.get(result.verdict.value, 0) + 1
        if result.is_infra_error:
            self._stats.infra_errors += 1
        return result

    async def _execute(self, worker: _Worker, plan: JobPlan, *, stop_first: bool, retry: bool) -> ExecResult:
        attempts = 2 if retry else 1
        problem = ""
        for attempt in range(attempts):
            if not worker.alive:
                try:
                    await worker.restart()
                except Exception as err:
                    problem = f"worker restart failed: {err}"
                    continue
            try:
                return await self._attempt(worker, plan, stop_first)
            except _WorkerDied as err:
                problem = str(err)
                if attempt + 1 < attempts:
                    self._stats.retries += 1
                try:
                    await worker.restart()
                except Exception as restart_err:
                    problem += f"; restart failed: {restart_err}"
        return ExecResult.sandbox_error(
            f"sandbox infrastructure failure: {problem}", problem_id=plan.problem.id, total=len(plan.tests)
        )

    def _apply_events(
        self, judge: Judge, worker: _Worker, job_id: int, events: list, stop_first: bool
    ) -> list:
        """Feed a batch of worker events to the judge; ask the worker to skip a failed test."""
        decided = []
        for event in events:
            if not isinstance(event, dict):
                continue
            op = event.get("op")
            if op == "probe":
                record = judge.on_probe(
                    event.get("i"), event.get("p"), event.get("v"), bool(event.get("big"))
                )
                if record is not None:
                    decided.append(record)
                    if not stop_first and worker.alive:
                        worker.send({"op": "skip", "id": job_id, "i": record.index})
            elif op == "test":
                record = judge.on_test(event)
                decided += [record] if record is not None else []
            elif op == "load":
                decided += judge.on_load(event)
        return decided

    async def _attempt(self, worker: _Worker, plan: JobPlan, stop_first: bool) -> ExecResult:
        job_id = next(self._ids)
        judge = Judge(plan)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + plan.deadline + DEADLINE_GRACE
        sent = time.perf_counter()
        worker.send(plan.wire_job(job_id, self.trace))
        aborted = False
        while True:
            try:
                msg = await asyncio.wait_for(worker.inbox.get(), max(0.0, give_up - loop.time()))
            except asyncio.TimeoutError:
                await worker.kill()
                raise _WorkerDied(
                    f"worker {worker.index} missed the sample deadline by {DEADLINE_GRACE:.0f} s"
                ) from None
            if msg is None:
                raise _WorkerDied(
                    f"worker {worker.index} died: "
                    f"{tail(worker.stderr_tail.decode(errors='replace'), 500) or 'no message'}"
                )
            received = time.perf_counter()
            if msg.get("id") != job_id:
                continue
            op = msg.get("op")
            if op in ("events", "done"):
                decided = self._apply_events(judge, worker, job_id, msg.get("events") or [], stop_first)
            else:
                decided = []
            if op == "done":
                self._stats.forks += int(msg.get("forks", 0) or 0)
                result = judge.result(
                    stdout=msg.get("stdout", ""),
                    stderr=msg.get("stderr", ""),
                    infra=msg.get("infra") or "",
                    stop_first=stop_first,
                )
                result.timings["run"] = float(msg.get("run", 0.0))
                if msg.get("trace"):
                    result.timings.update(trace_phases(msg["trace"]))
                    result.timings.update(trace_hops(msg["trace"], sent, received, time.perf_counter()))
                    usage = msg.get("usage") or {}
                    result.timings.update({f"child_{k}": float(v) for k, v in usage.items()})
                return result
            if op == "error":
                await worker.kill()
                raise _WorkerDied(
                    f"worker {worker.index} internal error: {msg.get('message')}\n"
                    f"{tail(str(msg.get('traceback', '')), 1500)}"
                )
            if stop_first and not aborted and any(not r.passed for r in decided):
                worker.send({"op": "abort", "id": job_id})
                aborted = True


TMP_PREFIX = f"{cgroups.PREFIX}sbx-"


def _remove_stale_temp_dirs() -> None:
    """Remove temp dirs of executors whose process is gone (killed before it could clean up)."""
    for entry in Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}*"):
        pid = entry.name[len(TMP_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and entry.is_dir():
            with contextlib.suppress(OSError):
                remove_tree(str(entry))


def _userns_possible() -> bool:
    try:
        if Path("/proc/sys/kernel/unprivileged_userns_clone").read_text().strip() == "0":
            return False
    except OSError:
        pass
    try:
        return int(Path("/proc/sys/user/max_user_namespaces").read_text().strip()) > 0
    except (OSError, ValueError):
        return False


_LIVE: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_live_executors() -> None:
    """Workers die with the process anyway (parent-death signal); this also removes temp dirs and cgroups."""
    for executor in list(_LIVE):
        with contextlib.suppress(Exception):
            executor.close()

"""The isolation self-test: what a job can actually do, checked at start-up, not assumed.

Each worker reports what its set-up achieved (namespaces, jail, uid, cgroups). The executor
then runs :data:`PROBE_CODE` as an ordinary untrusted job on every worker: it tries to read a
sentinel file the parent just wrote outside the sandbox, to write next to it, to connect to a
socket the parent listens on, and reports its uid, pid, session, environment and rlimits. The
parent turns both into :class:`IsolationReport`, whose ``guarantees`` are stored in every
:class:`~criticlab.sandbox.types.ExecResult` (``isolation``).
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from criticlab.data.types import Problem, Test
from criticlab.sandbox.judge import JobPlan, plan_job
from criticlab.sandbox.options import JudgeOptions
from criticlab.sandbox.types import ExecResult

Execute = Callable[[Any, JobPlan], Awaitable[ExecResult]]
"""Runs one self-test job on one worker, without retries (the executor's own ``_execute``)."""

ALLOWED_ENV = frozenset(
    {
        "PATH",
        "LANG",
        "LC_ALL",
        "PYTHONHASHSEED",
        "PYTHONIOENCODING",
        "PYTHONDONTWRITEBYTECODE",
        "HOME",
        "TMPDIR",
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
    }
)

GUARANTEES: dict[str, str] = {
    "rlimits": "address space, CPU, file size, open files and core-dump limits are in force in the job",
    "own_session": "each job runs in its own session (killed as a group)",
    "scrubbed_env": "the job sees only a fixed, minimal environment",
    "single_thread_blas": "BLAS/OpenMP thread counts are pinned to 1",
    "no_new_privs": "the job can never gain privileges (setuid binaries have no effect)",
    "network_isolated": "the job cannot reach the parent's loopback network",
    "fs_jail": "the job cannot read or write files outside its sandbox (read-only system view)",
    "non_root_uid": "the job does not run as root on the host",
    "pid_namespace": "the job is pid 1 of its own pid namespace: killing it kills everything it started",
    "ipc_namespace": "System V IPC and POSIX message queues are private to the worker",
    "process_cap": "the number of processes a job may start is capped",
    "cgroup_pids": "a per-worker cgroup caps processes",
    "cgroup_memory": "a per-worker cgroup caps memory (all processes together)",
    "job_ipc_private": "a System V IPC object one job creates is gone before the next job on the worker",
    "keyring_blocked": "the job cannot reach the kernel keyrings (a uid's, which no namespace separates)",
    "job_files_removed": "nothing a job writes (a chain deeper than a recursive remover can take) is left for the next",
    "job_memory_clean": "a job's process holds no earlier job's message: forked by a process that never held one",
}
"""Every guarantee the local executor checks, and what it means when it holds."""

PROBE_ENTRY = "probe"
PROBE_CODE = """
def probe(sentinel, port):
    import ctypes, os, resource, socket
    out = {"uid": os.getuid(), "pid": os.getpid(), "own_session": os.getsid(0) == os.getpid(),
           "env": sorted(os.environ.items())}
    try:
        with open(sentinel) as handle:
            handle.read()
        out["read_outside"] = True
    except OSError:
        out["read_outside"] = False
    try:
        with open(sentinel + ".written", "w") as handle:
            handle.write("x")
        out["write_outside"] = True
    except OSError:
        out["write_outside"] = False
    try:
        conn = socket.create_connection(("127.0.0.1", port), timeout=0.5)
        conn.close()
        out["network"] = True
    except OSError:
        out["network"] = False
    out["limits"] = {name: resource.getrlimit(getattr(resource, name))[0]
                     for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CORE",
                                  "RLIMIT_NPROC")}
    try:
        out["no_new_privs"] = ctypes.CDLL(None).prctl(39, 0, 0, 0, 0) == 1
    except Exception:
        out["no_new_privs"] = False
    try:
        import csv, xml.dom.minidom, zipfile  # not preloaded: the standard library must be reachable
        out["stdlib"] = True
    except Exception as err:
        out["stdlib"] = repr(err)
    with open("scratch.txt", "w") as handle:  # the job's own directory is writable
        handle.write("ok")
    out["cwd_writable"] = True
    return out
"""


BETWEEN_JOBS_DEPTH = 1100
"""Levels of the directory chain the self-test's first job leaves: past Python's recursion limit,
so a recursive remover (``shutil.rmtree``) would fail on it."""

LEAVE_ENTRY, LOOK_ENTRY = "leave", "look"
LEAVE_CODE = f"""
def leave(marker, key):
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    out = {{"dir": os.getcwd(), "ipc": libc.shmget(key, 4096, 0o1000 | 0o600) >= 0}}
    for _ in range({BETWEEN_JOBS_DEPTH}):
        os.mkdir("d")
        os.chdir("d")
    with open("mark", "w") as handle:
        handle.write(marker)
    out["files"] = True
    return out
"""
LOOK_CODE = """
def look(key, leave_dir):
    import ctypes, gc, os, platform, re
    libc = ctypes.CDLL(None, use_errno=True)
    out = {"ipc": libc.shmget(key, 0, 0) >= 0, "files": os.path.exists(leave_dir)}
    keyctl = {"x86_64": 250, "aarch64": 219}.get(platform.machine())
    if keyctl is None:
        out["keyring_refused"] = False
    else:
        serial = libc.syscall(keyctl, 0, ctypes.c_int(-4), 0)  # KEYCTL_GET_KEYRING_ID of the user keyring
        out["keyring_refused"] = serial == -1 and ctypes.get_errno() == 1
    pattern = re.compile("criticlab-" + "between-jobs-" + "[0-9a-f]{32}")
    found = set()
    for obj in gc.get_objects():
        values = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
        for value in values:
            if isinstance(value, str) and len(value) < 1 << 20:
                found.update(pattern.findall(value))
    out["memory"] = sorted(found)
    return out
"""
"""A pair of self-test jobs run back to back on one worker: the first leaves a System V shared
memory segment, a deep directory chain and a marker in its own message; the second looks for
each, and checks that the kernel keyrings refuse it."""


def between_jobs_marker() -> str:
    """The string the first job carries in its message (and the second must not find)."""
    return "criticlab-between-jobs-" + secrets.token_hex(16)


def between_jobs_problems(marker: str, key: int, leave_dir: str = "") -> tuple[Problem, Problem]:
    """The leave and look problems for one pair (each a single call test judged by a checker)."""

    def problem(entry: str, args: list[Any]) -> Problem:
        return Problem(
            id=f"criticlab/isolation-{entry}",
            source="criticlab",
            question="isolation self-test",
            kind="functional",
            entry_point=entry,
            time_limit=5.0,
            tests=[Test(kind="call", args=args, expected=None)],
            metadata={"checker": "criticlab.isolation_probe"},
        )

    return problem(LEAVE_ENTRY, [marker, key]), problem(LOOK_ENTRY, [key, leave_dir])


def evaluate_between_jobs(
    claims: dict[str, Any], left: dict[str, Any], looks: list[dict[str, Any]]
) -> dict[str, bool]:
    """Per-job guarantees from what the first job left and what every later job found."""

    def never(key: str) -> bool:
        return bool(looks) and all(not look.get(key) for look in looks)

    return {
        # with the user's own uid only orphaned shared memory is removed: semaphores and queues may stay
        "job_ipc_private": left.get("ipc") is True
        and never("ipc")
        and claims.get("job_ipc_cleanup", "namespace") in ("namespace", "all"),
        "keyring_blocked": bool(claims.get("keyring_blocked"))
        and bool(looks)
        and all(look.get("keyring_refused") is True for look in looks),
        "job_files_removed": left.get("files") is True and never("files"),
        "job_memory_clean": bool(claims.get("fork_server")) and never("memory"),
    }


@dataclass
class IsolationReport:
    """What held for one executor: the mode, every guarantee, and the evidence."""

    mode: str
    guarantees: dict[str, bool] = field(default_factory=dict)
    workers: int = 0
    errors: list[str] = field(default_factory=list)
    observed: dict[str, Any] = field(default_factory=dict)

    def for_result(self) -> dict[str, Any]:
        """The compact form stored in every ExecResult."""
        return {"mode": self.mode, **self.guarantees}

    def held(self) -> list[str]:
        return [name for name, ok in self.guarantees.items() if ok]

    def missing(self) -> list[str]:
        return [name for name, ok in self.guarantees.items() if not ok]

    def table(self) -> list[dict[str, Any]]:
        """Rows for a notebook table: guarantee, held, meaning."""
        return [
            {"guarantee": k, "held": v, "meaning": GUARANTEES.get(k, "")} for k, v in self.guarantees.items()
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "guarantees": dict(self.guarantees),
            "workers": self.workers,
            "errors": list(self.errors),
            "observed": dict(self.observed),
        }


class ProbeSetup:
    """The parent's side of the self-test: a sentinel file and a listening socket.

    Use as a context manager; ``problem`` is the self-test problem whose single call test
    passes the sentinel's path and the port to :data:`PROBE_CODE`.
    """

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="criticlab-probe-"))
        self.dir.chmod(0o755)
        self.sentinel = self.dir / "sentinel.txt"
        self.sentinel.write_text(secrets.token_hex(16))
        self.sentinel.chmod(0o644)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]

    def problem(self) -> Problem:
        return Problem(
            id="criticlab/isolation-probe",
            source="criticlab",
            question="isolation self-test",
            kind="functional",
            entry_point=PROBE_ENTRY,
            time_limit=5.0,
            tests=[Test(kind="call", args=[str(self.sentinel), self.port], expected=None)],
            metadata={"checker": "criticlab.isolation_probe"},
        )

    def connections(self) -> int:
        """How many connections reached the listener (must be 0 under network isolation)."""
        count = 0
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, OSError):
                return count
            conn.close()
            count += 1

    def close(self) -> None:
        self.listener.close()
        for path in self.dir.iterdir():
            path.unlink()
        self.dir.rmdir()

    def __enter__(self) -> ProbeSetup:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def evaluate(
    mode: str,
    claims: dict[str, Any],
    observed: dict[str, Any],
    *,
    connections: int,
    memory_bytes: int,
    file_bytes: int,
    open_files: int,
    host_uid_nonzero: bool,
) -> dict[str, bool]:
    """Guarantees from a worker's claims and the probe's observations (both must agree)."""
    limits = observed.get("limits", {}) if isinstance(observed.get("limits"), dict) else {}
    env = dict(observed.get("env", [])) if isinstance(observed.get("env"), list) else {}
    unlimited = -1  # resource.RLIM_INFINITY
    nproc = limits.get("RLIMIT_NPROC", unlimited)
    return {
        "rlimits": limits.get("RLIMIT_AS") == memory_bytes
        and limits.get("RLIMIT_FSIZE") == file_bytes
        and limits.get("RLIMIT_NOFILE") == open_files
        and limits.get("RLIMIT_CORE") == 0
        and limits.get("RLIMIT_CPU", unlimited) != unlimited,
        "own_session": observed.get("own_session") is True,
        "scrubbed_env": bool(env) and set(env) <= ALLOWED_ENV,
        "single_thread_blas": env.get("OMP_NUM_THREADS") == "1" and env.get("OPENBLAS_NUM_THREADS") == "1",
        "no_new_privs": observed.get("no_new_privs") is True,
        "network_isolated": observed.get("network") is False and connections == 0,
        "fs_jail": observed.get("read_outside") is False and observed.get("write_outside") is False,
        "non_root_uid": (observed.get("uid") not in (0, None)) or (mode == "userns" and host_uid_nonzero),
        "pid_namespace": observed.get("pid") == 1 and bool(claims.get("pid_namespace")),
        "ipc_namespace": bool(claims.get("ipc_namespace")),
        # RLIMIT_NPROC binds only non-root users; a pids cgroup binds everyone
        "process_cap": (nproc not in (unlimited, None) and observed.get("uid") not in (0, None))
        or bool(claims.get("cgroup_pids")),
        "cgroup_pids": bool(claims.get("cgroup_pids")),
        "cgroup_memory": bool(claims.get("cgroup_memory")),
    }


def host_uid_nonzero() -> bool:
    return os.getuid() != 0


async def self_test(
    mode: str,
    pool: Sequence[Any],
    execute: Execute,
    limits: Any,
    looks: int,
) -> tuple[IsolationReport, str]:
    """The executor's start-up self-test: :data:`PROBE_CODE` on every worker of ``pool`` (handles with
    the worker's ``hello``), then a leave job and ``looks`` look jobs on each; ``execute(worker,
    plan)`` runs one job without retries. Returns the report, or a problem that means the mode
    cannot be used."""
    observed: dict[str, Any] = {}

    def capture(_test: Any, actual: Any) -> bool:
        observed.clear()
        observed.update(actual if isinstance(actual, dict) else {"value": repr(actual)})
        return isinstance(actual, dict)

    per_worker: list[dict[str, bool]] = []
    options = JudgeOptions(checkers={"criticlab.isolation_probe": capture})
    with ProbeSetup() as probe:
        problem = probe.problem()
        for worker in pool:
            plan = plan_job(problem, PROBE_CODE, options)
            result = await execute(worker, plan)
            if not result.accepted:
                return IsolationReport(mode), f"self-test job failed: {result.summary()}"
            if observed.get("stdlib") is not True:
                return IsolationReport(
                    mode
                ), f"the standard library is unreachable in the job: {observed.get('stdlib')}"
            per_worker.append(
                evaluate(
                    mode,
                    worker.hello.get("claims", {}),
                    observed,
                    connections=probe.connections(),
                    memory_bytes=limits.memory_bytes,
                    file_bytes=limits.file_bytes,
                    open_files=limits.open_files,
                    host_uid_nonzero=host_uid_nonzero(),
                )
            )
    shown = {k: v for k, v in observed.items() if k != "env"}
    shown["env"] = sorted(k for k, _ in observed.get("env", []))
    for worker, guarantees in zip(pool, per_worker):
        between, problem = await _between_jobs(worker, execute, looks)
        if problem:
            return IsolationReport(mode), problem
        guarantees.update(between)
    guarantees = {name: all(g[name] for g in per_worker) for name in per_worker[0]}
    return IsolationReport(mode, guarantees, len(pool), [], shown), ""


async def _between_jobs(worker: Any, execute: Execute, looks: int) -> tuple[dict[str, bool], str]:
    """Run the leave job, then ``looks`` look jobs, on one worker (see :data:`LEAVE_CODE`)."""
    observed: dict[str, Any] = {}

    def capture(_test: Any, actual: Any) -> bool:
        observed.clear()
        observed.update(actual if isinstance(actual, dict) else {})
        return isinstance(actual, dict)

    options = JudgeOptions(checkers={"criticlab.isolation_probe": capture})
    marker, key = between_jobs_marker(), 0x43000000 | secrets.randbelow(1 << 24)
    leave, _ = between_jobs_problems(marker, key)
    result = await execute(worker, plan_job(leave, LEAVE_CODE, options))
    if not result.accepted:
        return {}, f"self-test job (leave) failed: {result.summary()}"
    left = dict(observed)
    seen = []
    _, look = between_jobs_problems(marker, key, str(left.get("dir", "")))
    for _ in range(looks):
        result = await execute(worker, plan_job(look, LOOK_CODE, options))
        if not result.accepted:
            return {}, f"self-test job (look) failed: {result.summary()}"
        seen.append(dict(observed))
    return evaluate_between_jobs(worker.hello.get("claims", {}), left, seen), ""

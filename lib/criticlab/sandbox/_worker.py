"""A warm sandbox worker: a pre-started Python that forks one isolated child per job.

Started by :class:`criticlab.sandbox.local.LocalExecutor` as ``python -s -S -B _worker.py`` with
a scrubbed environment; standard library only (it must not import criticlab or anything from
site-packages). Why a worker: a fresh interpreter costs ~14 ms, a fork from a warm one ~1 ms.

At start-up the worker applies the strongest isolation the executor asked for and the machine
allows, and reports what it achieved (the executor then verifies it with a self-test job):

- ``root`` mode (running as root): its own cgroups (pids, memory), private mount, network, IPC
  and UTS namespaces, a read-only chroot jail holding only the system and Python directories
  with a private tmpfs for job directories; each job runs as pid 1 of a fresh pid namespace
  under a dedicated non-root uid, so killing it kills everything it started.
- ``userns`` mode (no root, but user namespaces): the same namespaces and jail inside a user
  namespace; jobs drop all capabilities instead of switching uid.
- ``minimal`` mode: rlimits, a session per job and a child-subreaper that hunts down daemons.

Every job child gets rlimits (address space, CPU, file size, open files, processes, no core
dumps), a scrubbed environment with single-threaded BLAS, no-new-privileges, a seccomp filter
that shuts it out of the kernel keyrings (no namespace separates them), its own IPC namespace
where the mode allows (else its System V objects are removed after it), its own session and a
temp directory; its stdout/stderr/result channel are read here with caps enforced while
reading. Time limits are enforced from here, never trusted to the child. Job children are
forked by a fork server that never held a job (``_zygote.ForkServer``), and a job directory that
cannot be removed retires the worker rather than sit beside the next job.

Code layout: this file sets the worker up and serves jobs; ``_zygote.py`` makes job children
(the fork server, confinement); ``_jobs.py`` runs jobs on them (segments, watching); ``_sys.py``
wraps the system calls; ``_child.py`` is the harness inside each child. All five are loaded by
path, standard library only.

Protocol with the executor (length-prefixed JSON frames on stdin/stdout): the first frame is
the worker configuration; the worker answers ``hello``; then ``run`` jobs, each answered by
``probe``/``test``/``load`` events and one ``done``; ``skip`` and ``abort`` may arrive mid-job.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Python puts this script's directory first on sys.path; drop it before any other import, or a
# stdlib ``import types`` (and a job's) would find criticlab/sandbox/types.py instead.
sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != HERE]

import contextlib  # noqa: E402
import fcntl  # noqa: E402
import gc  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402


def _load(name, filename):
    """Load a sibling module by path (the package itself is not importable here) and register it."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, filename))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# Modules imported once here so each forked job starts warm: what the benchmarks' own harnesses
# import before every solution (APPS/TACO and LiveCodeBench preludes) and the common standard
# library. Every extra module makes each fork a little slower (more pages to map), so heavy
# rarely-used ones (hashlib/OpenSSL, socket, unicodedata) are imported by the jobs that need them.
PRELOAD = (
    "bisect",
    "collections",
    "collections.abc",
    "copy",
    "datetime",
    "decimal",
    "fractions",
    "functools",
    "heapq",
    "io",
    "itertools",
    "json",
    "math",
    "operator",
    "random",
    "re",
    "statistics",
    "string",
    "typing",
)
for _name in PRELOAD:
    with contextlib.suppress(ImportError):
        __import__(_name)

sx = _load("_criticlab_sys", "_sys.py")
child = _load("_criticlab_child", "_child.py")
zy = _load("_criticlab_zygote", "_zygote.py")
jobs = _load("_criticlab_jobs", "_jobs.py")

JOB_ENV_BASE = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "PYTHONIOENCODING": "utf-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    # numerical libraries must not spawn a thread per core inside a one-core job
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}


class Worker:
    def __init__(self, ctl_in, ctl_out, cfg):
        self.ctl_in = ctl_in
        self.ctl_out = ctl_out
        self.cfg = cfg
        self.mode = cfg["mode"]
        self.claims = {
            "mode": self.mode,
            "cgroup_memory": False,
            "cgroup_pids": False,
            "subreaper": False,
            "network_namespace": False,
            "ipc_namespace": False,
            "mount_namespace": False,
            "fs_jail": False,
            "pid_namespace": False,
            "uid": None,
            "drop_capabilities": False,
            "job_ipc_namespace": False,
            "keyring_blocked": False,
            "fork_server": False,
        }
        self.errors = []
        self.uid = None
        self.jail_tmp = None
        self.procfd = None
        self.pidns_fd = None
        self.oom_fds = []
        self.job_seq = 0
        self.pending = []  # control frames that arrived while a job was not listening
        self.limits = cfg["limits"]
        self.spares = []  # pre-forked zygotes, oldest first
        self.dying = set()  # killed children not reaped yet
        self.keyring_filter = None  # the seccomp program every job child installs
        self.fork_server = None
        self.retired = ""  # why this worker must not run another job

    # -- setup ------------------------------------------------------------------------------

    def setup(self):
        cfg = self.cfg
        for path in cfg.get("extra_paths", []):  # site-packages asked for: importable in every job
            if path not in sys.path:
                sys.path.append(path)
        for group in cfg.get("cgroups", []):
            try:
                with open(os.path.join(group["path"], "cgroup.procs"), "w") as handle:
                    handle.write(str(os.getpid()))
                for kind in group["kinds"]:
                    self.claims[f"cgroup_{kind}"] = True
            except OSError as err:
                self.errors.append(f"cgroup {group['path']}: {err}")
        for path in cfg.get("oom_files", []):
            try:
                self.oom_fds.append(sx.high(os.open(path, os.O_RDONLY)))
            except OSError as err:
                self.errors.append(f"oom counter {path}: {err}")
        if self.mode == "root":
            try:
                with open("/proc/self/oom_score_adj", "w") as handle:
                    handle.write("-1000")  # a memory-cgroup OOM must pick the job, never the worker
            except OSError as err:
                self.errors.append(f"oom_score_adj: {err}")
        try:
            sx.prctl(sx.PR_SET_CHILD_SUBREAPER, 1)
            self.claims["subreaper"] = True
        except OSError as err:
            self.errors.append(str(err))
        sx.prctl(sx.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != cfg.get("parent_pid", os.getppid()):
            os._exit(0)  # the executor died before we could tie our life to it
        if self.mode in ("root", "userns"):
            try:
                self._namespaces()
            except OSError as err:
                self.errors.append(f"namespaces: {err}")
                raise
        if self.mode == "minimal":
            self.tmp_base = cfg["tmp_base"]
            if os.geteuid() == 0 and sx.uid_can_import(int(cfg["uid"])):
                self.uid = int(cfg["uid"])  # no namespaces, but still never run jobs as root
        self.devnull = sx.high(os.open(os.devnull, os.O_RDWR))
        self._probe_pid_namespace()
        zy.probe_job_confinement(self)
        self.claims["uid"] = self.uid
        self.claims["job_ipc_cleanup"] = (
            "namespace"
            if self.claims["job_ipc_namespace"]
            else ("all" if self.uid is not None else "shared memory")
        )
        self.nproc_limit = cfg["max_processes"] if self.uid is not None else None
        if self.mode != "root" and os.getuid() != 0:
            # RLIMIT_NPROC counts every process of the user: allow what runs now plus the cap.
            self.nproc_limit = sx.count_user_processes(os.getuid()) + cfg["max_processes"] + 16

    def _namespaces(self):
        cfg = self.cfg
        self.procfd = sx.high(os.open("/proc", os.O_RDONLY | os.O_DIRECTORY))
        self.pidns_fd = sx.high(os.open("/proc/self/ns/pid", os.O_RDONLY))
        if self.mode == "userns":
            outer_uid, outer_gid = os.getuid(), os.getgid()
            sx.check(sx.libc.unshare(sx.CLONE_NEWUSER), "unshare(user)")
            with open("/proc/self/setgroups", "w") as handle:
                handle.write("deny")
            with open("/proc/self/uid_map", "w") as handle:
                handle.write(f"0 {outer_uid} 1")
            with open("/proc/self/gid_map", "w") as handle:
                handle.write(f"0 {outer_gid} 1")
            self.claims["drop_capabilities"] = True
        sx.check(
            sx.libc.unshare(sx.CLONE_NEWNS | sx.CLONE_NEWNET | sx.CLONE_NEWIPC | sx.CLONE_NEWUTS), "unshare"
        )
        self.claims.update(network_namespace=True, ipc_namespace=True, mount_namespace=True)
        if self.mode == "userns":
            self._become_pid_namespace_init()
        sx.mount(None, "/", None, sx.MS_REC | sx.MS_PRIVATE)
        self._build_jail()
        if self.mode == "root":
            self.uid = int(cfg["uid"])

    def _become_pid_namespace_init(self):
        """In a user namespace, continue as pid 1 of a pid namespace that namespace owns.

        Per-job pid namespaces need ``setns`` back to the worker's own pid namespace, which
        requires privileges over it: the host's is out of reach, this one is ours. The original
        process only waits and passes the exit status on.
        """
        sx.check(sx.libc.unshare(sx.CLONE_NEWPID), "unshare(pid)")
        pid = os.fork()
        if pid:
            for fd in (self.ctl_in, self.ctl_out):
                os.close(fd)
            while True:
                try:
                    _, status = os.waitpid(pid, 0)
                    break
                except InterruptedError:
                    continue
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        sx.prctl(sx.PR_SET_PDEATHSIG, signal.SIGKILL)
        os.close(self.pidns_fd)
        self.pidns_fd = sx.high(os.open("/proc/self/ns/pid", os.O_RDONLY))

    def _build_jail(self):
        """A tmpfs root with read-only binds of the system and Python trees; chroot into it."""
        cfg = self.cfg
        links, binds = {}, []
        for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                links[top] = os.readlink(top)
            elif os.path.isdir(top):
                binds.append(top)
        for extra in [sys.base_prefix, sys.base_exec_prefix, *cfg.get("extra_paths", [])]:
            real = os.path.realpath(extra)
            if os.path.isdir(real) and not any(real == b or real.startswith(b + "/") for b in binds):
                binds.append(real)
        # Hold each source open before the tmpfs covers /tmp: a virtualenv or checkout under /tmp
        # (site-packages of a CI clone) would otherwise be hidden by the time it is bound. The
        # descriptors are closed before any job runs.
        sources = {source: os.open(source, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for source in binds}
        try:
            sx.mount(
                "tmpfs", "/tmp", "tmpfs", sx.MS_NOSUID | sx.MS_NODEV, f"size={int(cfg['tmpfs_mb'])}m,mode=755"
            )
            root = "/tmp/jail"
            os.mkdir(root, 0o755)
            for top, link in links.items():
                os.symlink(link, root + top)
            for source, fd in sources.items():
                target = root + source
                os.makedirs(target, 0o755, exist_ok=True)
                sx.mount(f"/proc/self/fd/{fd}", target, None, sx.MS_BIND | sx.MS_REC)
                sx.mount(
                    None, target, None, sx.MS_REMOUNT | sx.MS_BIND | sx.MS_RDONLY | sx.MS_NOSUID | sx.MS_NODEV
                )
        finally:
            for fd in sources.values():
                os.close(fd)
        os.mkdir(root + "/dev", 0o755)
        for name in ("null", "zero", "full", "random", "urandom"):
            if os.path.exists("/dev/" + name):
                open(root + "/dev/" + name, "w").close()
                sx.mount("/dev/" + name, root + "/dev/" + name, None, sx.MS_BIND)
        for name in ("proc", "etc", "home", "tmp"):  # in /tmp only each job's own directory is writable
            os.makedirs(root + "/" + name, 0o755, exist_ok=True)  # a bound path may have made it already
        os.chroot(root)
        os.chdir("/")
        self.jail_tmp = "/tmp"
        self.claims["fs_jail"] = True

    def _probe_pid_namespace(self):
        if self.pidns_fd is None:
            return
        try:
            self._enter_new_pid_namespace()
            pid = os.fork()
            if pid == 0:
                os._exit(0 if os.getpid() == 1 else 1)
            _, status = os.waitpid(pid, 0)
            self.claims["pid_namespace"] = os.waitstatus_to_exitcode(status) == 0
        except OSError as err:
            self.errors.append(f"pid namespace: {err}")

    def retire(self, reason):
        """Stop serving after the current job: the executor starts a fresh worker in our place."""
        if not self.retired:
            self.retired = reason

    def job_ipc_objects(self):
        """The System V IPC objects a job may have made, where it has no IPC namespace of its own:
        every object of a dedicated job uid; with the user's own uid, only shared-memory segments
        whose creator is gone (never the user's other programs' objects)."""
        if self.uid is not None:
            return sx.ipc_objects(self.uid)
        return sx.ipc_objects(os.getuid(), orphaned_only=True)

    def own_pid_namespace(self):
        """Fork the next child into our own pid namespace (after a probe left a dead one set)."""
        if self.pidns_fd is not None:
            sx.check(sx.libc.setns(self.pidns_fd, sx.CLONE_NEWPID), "setns(pid)")

    def _enter_new_pid_namespace(self):
        # After unshare(CLONE_NEWPID) only the first child lives in the new namespace; going back
        # to our own namespace first lets every job get a fresh one.
        sx.check(sx.libc.setns(self.pidns_fd, sx.CLONE_NEWPID), "setns(pid)")
        sx.check(sx.libc.unshare(sx.CLONE_NEWPID), "unshare(pid)")

    def warm_up(self):
        """Run one representative job in-process paths once, so forked children start warm."""
        self.rehearse()
        gc.collect()
        gc.freeze()  # the forked children share these pages instead of copying them on first GC

    def rehearse(self, out_fd=None):
        """Walk a job's code path on a sample program: the harness, the JSON of a job message and
        of its records. In the worker it warms caches; in a zygote waiting for its job it also
        takes the copy-on-write faults of the pages that path writes (reference counts, allocator
        pools) while the machine is idle, instead of on the job's clock (see ``_zygote_main``).
        Leaves nothing a job could observe: its names live in a namespace that is dropped."""
        spec = {"code": _WARM_CODE, "entry": "f", "needs_entry": True, "tests": _WARM_TESTS}
        message = json.loads(json.dumps({"dir": "/", "spec": spec, "nonce": "n", "cpu": 1.0, "input": None}))
        sink = []
        child.run_functional(message["spec"], 0, len(_WARM_TESTS), sink.append)
        if out_fd is not None:
            emit = child.frame_writer(out_fd, "rehearsal")
            for record in sink:
                emit(record)
        else:
            json.dumps(sink)

    # -- serving ----------------------------------------------------------------------------

    def take_zygote(self):
        """The oldest spare (long done with its set-up), or a fresh one if none is left."""
        return self.spares.pop(0) if self.spares else self.new_zygote()

    def new_zygote(self):
        try:
            return zy.Zygote(self)
        except zy.ForkServerGone as err:
            # never fork job children from here instead: this process holds job data
            self.retire(str(err))
            raise

    def spare_zygote(self):
        """Keep zygotes forked ahead (the executor's ``spares``: low, high), refilled in a burst to
        ``high`` when at most ``low`` are left, so the next job takes one that finished its set-up
        while earlier jobs ran. Every fork write-protects all of the worker's pages again, so the worker takes a
        copy-on-write fault for each page it writes before its next fork (about 300 per job).
        Forking several zygotes back to back pays that once per burst instead of once per job
        (with a fork server, that process's pages are the ones write-protected)."""
        low, high = self.cfg["spares"]
        if len(self.spares) > low or self.retired:
            return
        poller = select.poll()
        poller.register(self.ctl_in, select.POLLIN)
        while len(self.spares) < high:
            try:
                self.spares.append(self.new_zygote())
            except zy.ForkServerGone:
                return
            if len(self.spares) > low and (self.pending or poller.poll(0)):
                return  # a job is waiting: serve it, refill after

    def spare_pids(self):
        """Children that are not a job's: the idle zygotes and the fork server."""
        pids = {z.pid for z in self.spares}
        if self.fork_server is not None:
            pids.add(self.fork_server.pid)
        return pids

    def serve(self):
        zy.start_fork_server(self)
        self.spare_zygote()
        sx.send(
            self.ctl_out, {"op": "hello", "pid": os.getpid(), "claims": self.claims, "errors": self.errors}
        )
        while not self.retired:
            self._reap_while_idle()
            msg = self.pending.pop(0) if self.pending else sx.recv(self.ctl_in)
            if msg is None or msg.get("op") == "exit":
                break
            if msg.get("op") == "run":
                job_id = msg.get("id")
                try:
                    jobs.Job(self, msg).run()
                except zy.ForkServerGone as err:
                    sx.send(self.ctl_out, {"op": "error", "id": job_id, "message": str(err), "traceback": ""})
                except Exception as err:  # a worker bug: report it as an infrastructure error
                    import traceback

                    sx.send(
                        self.ctl_out,
                        {
                            "op": "error",
                            "id": job_id,
                            "message": repr(err),
                            "traceback": traceback.format_exc()[-3000:],
                        },
                    )
                del msg  # nothing of a finished job stays referenced here
                self.spare_zygote()  # between jobs, while the executor reads the result
            # stray skip/abort frames for finished jobs are ignored
        if self.retired:
            sx.send(self.ctl_out, {"op": "retired", "message": self.retired})
        for zygote in self.spares:
            zygote.discard()
        if self.fork_server is not None:
            self.fork_server.stop()

    def _reap_while_idle(self):
        """Reap killed children until none is left or the executor sends something."""
        poller = select.poll()
        poller.register(self.ctl_in, select.POLLIN)
        while self.dying and not self.pending:
            jobs.reap_zombies(self)
            if self.dying and poller.poll(2):
                return

    def oom_count(self):
        total = 0
        for fd in self.oom_fds:
            try:
                text = os.pread(fd, 4096, 0).decode()
            except OSError:
                continue
            for line in text.splitlines():
                key, _, value = line.partition(" ")
                if key in ("oom_kill", "oom") and value.strip().isdigit():
                    total += int(value)
        return total

    def make_job_dir(self):
        self.job_seq += 1
        base = self.jail_tmp if self.jail_tmp else self.tmp_base
        path = os.path.join(base, f"job-{os.getpid()}-{self.job_seq}")
        os.mkdir(path, 0o700)
        if self.uid is not None:
            os.chown(path, self.uid, self.uid)
        return path

    def reap_orphans(self, exclude=()):
        """Kill and reap every process that got re-parented to us (daemons of a finished job)."""
        for _ in range(50):
            found = False
            for pid in sx.children_of(os.getpid()):
                if pid in exclude:
                    continue
                found = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            sx.reap_exited()
            if not found:
                return
            time.sleep(0.002)

    def kill_uid(self):
        """Without a pid namespace, kill every process of the job uid (double-forked daemons)."""
        if self.uid is None:
            return
        pid = os.fork()
        if pid == 0:
            try:
                os.setresgid(self.uid, self.uid, self.uid)
                os.setresuid(self.uid, self.uid, self.uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)


def _warm_marshal():
    import base64
    import marshal

    return base64.b64encode(marshal.dumps(compile("assert 1", "warm-up", "exec"))).decode("ascii")


_WARM_CODE = "def f(x):\n    return sorted(x)\n"
_WARM_TESTS = [
    {"k": "call", "a": "[[3, 1, 2]]"},
    {"k": "assert", "c": "assert f([2, 1]) == [1, 2]"},
    {"k": "assert", "m": _warm_marshal(), "d": ""},
]


def _job_stdio():
    """Stdio objects on fds 0-2 as a job will see them, made once in the worker.

    The worker's own fds 0/1 are /dev/null and its buffers are flushed before every fork, so a
    job starts with empty buffers; in the child, fds 0-2 are the job's pipes.
    """
    import io

    sys.stdin = sys.__stdin__ = io.TextIOWrapper(
        io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8", errors="surrogateescape"
    )
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(1, "w", closefd=False), 1 << 16),
        encoding="utf-8",
        errors="surrogateescape",
    )
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False), 1 << 12),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )


def main():
    ctl_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 100)
    ctl_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 100)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.close(null)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a notebook goes to the executor, not here
    os.environ.clear()
    os.environ.update(JOB_ENV_BASE)  # jobs inherit it; each child only adds HOME and TMPDIR
    _job_stdio()
    cfg = sx.recv(ctl_in)
    if cfg is None:
        return
    worker = Worker(ctl_in, ctl_out, cfg)
    try:
        worker.setup()
    except Exception as err:
        sx.send(
            ctl_out,
            {
                "op": "hello",
                "pid": os.getpid(),
                "claims": worker.claims,
                "errors": [*worker.errors, f"setup failed: {err!r}"],
                "failed": True,
            },
        )
        return
    worker.warm_up()
    worker.serve()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        pass
    except Exception as exc:  # the executor reads stderr to explain the crash
        print(f"criticlab sandbox worker crashed: {exc!r}", file=sys.stderr)
        raise
    os._exit(0)

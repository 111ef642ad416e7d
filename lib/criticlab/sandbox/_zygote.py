"""Job children made ahead of their jobs: forked, confined, and waiting for a segment to run.

Loaded by path inside the worker process (standard library only; ``_worker.py`` registers
``_criticlab_sys`` and ``_criticlab_child`` first). A *zygote* is a child forked and confined
before its job arrives, so fork and set-up are off the job's clock; it blocks on its ``go``
pipe until the worker hands it a segment (``_jobs.py``).

Zygotes are made by the worker's *fork server* (:class:`ForkServer`), a process forked once at
start-up, before any job: it never holds a job message, so no zygote can find an earlier job's
code, tests or nonce in the memory it inherits; ``CLONE_PARENT`` makes each zygote the worker's
own child all the same. Confinement (:func:`_zygote_main`): its own IPC namespace where the mode
allows, rlimits, the job uid or dropped capabilities, no-new-privileges and the keyring filter.
"""

import contextlib
import fcntl
import os
import resource
import signal
import socket
import sys

import _criticlab_child as child
import _criticlab_sys as sx

GO_FD = 4


class ForkServerGone(Exception):
    """The fork server died (only a job of the worker's own uid can kill it: minimal mode)."""


def _spawn_zygote(worker, fork):
    """Pipes, then ``fork()`` into :func:`_zygote_main`; returns (pid, out_r, err_r, chan_r, go_w)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    chan_r, chan_w = os.pipe()
    go_r, go_w = os.pipe()
    if worker.claims["pid_namespace"]:
        worker._enter_new_pid_namespace()
    flush_std()
    pid = fork()
    if pid == 0:  # ---- the zygote: never returns
        try:
            _zygote_main(worker, {0: worker.devnull, 1: out_w, 2: err_w, 3: chan_w, GO_FD: go_r})
        finally:
            os._exit(70)
    for fd in (out_w, err_w, chan_w, go_r):
        os.close(fd)
    return pid, out_r, err_r, chan_r, go_w


class ForkServer:
    """The process that forks the worker's zygotes; it never receives anything but a request.

    Forked right after the worker's warm-up, before its first job, it answers each one-byte
    request with a new zygote: made with ``CLONE_PARENT`` (so the zygote is the worker's child:
    the worker reaps it and reads its resource use as before) and returned as its pid and the
    worker's ends of its pipes, passed over a Unix socket. A zygote forked by the worker itself
    would inherit whatever the worker held at that moment: the running job's message (code, test
    arguments, nonce) and the freed memory of earlier ones.
    """

    def __init__(self, worker):
        self.w = worker
        here, there = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        parent = os.getpid()
        worker.own_pid_namespace()
        flush_std()
        pid = os.fork()
        if pid == 0:  # ---- the fork server: never returns
            try:
                here.close()
                _fork_server_main(worker, there, parent)
            finally:
                os._exit(0)
        there.close()
        self.pid = pid
        self.sock = here

    def spawn(self):
        """A new zygote from the fork server: (pid, out_r, err_r, chan_r, go_w)."""
        try:
            self.sock.sendall(b"z")
            data, fds, _, _ = socket.recv_fds(self.sock, 16, 4, socket.MSG_CMSG_CLOEXEC)
        except OSError as err:
            raise ForkServerGone(f"the fork server is gone ({err})") from None
        if len(data) != 4 or len(fds) != 4:
            for fd in fds:
                os.close(fd)
            raise ForkServerGone("the fork server is gone (short answer)")
        return (int.from_bytes(data, "big"), *fds)

    def stop(self):
        with contextlib.suppress(OSError):
            self.sock.close()
        sx.kill_quietly(self.pid)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _fork_server_main(worker, sock, parent):
    """Serve zygote requests until the worker closes the socket. Runs in the fork server only."""
    sx.prctl(sx.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(0)  # the worker died before we could tie our life to it
    sx.set_name(sx.FORK_SERVER_NAME)
    while True:
        try:
            request = sock.recv(16)
        except InterruptedError:
            continue
        if not request:
            os._exit(0)
        pid, *fds = _spawn_zygote(worker, sx.clone_sibling)
        try:
            socket.send_fds(sock, [pid.to_bytes(4, "big")], fds)
        finally:
            for fd in fds:
                os.close(fd)


class Zygote:
    """A child forked and confined *before* its job arrives (fork and set-up are off the
    critical path); it blocks on its ``go`` pipe until the worker hands it a job segment."""

    def __init__(self, worker):
        self.w = worker
        if worker.fork_server is not None:
            pid, out_r, err_r, chan_r, go_w = worker.fork_server.spawn()
        else:  # no fork server on this machine: fork here (the self-test reports it)
            pid, out_r, err_r, chan_r, go_w = _spawn_zygote(worker, os.fork)
        self.pid = pid
        self.go_w = go_w
        self.fds = {out_r: "out", err_r: "err", chan_r: "chan"}
        try:
            self.pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.pidfd = None

    def go(self, message):
        """Hand the job segment over; False if the zygote is gone (then make another)."""
        try:
            sx.send(self.go_w, message)
            return True
        except OSError:
            return False
        finally:
            os.close(self.go_w)
            self.go_w = None

    def discard(self):
        if self.go_w is not None:
            os.close(self.go_w)
            self.go_w = None
        sx.kill_quietly(self.pid)
        self.reap(block=True)
        self.close_fds()

    def reap(self, block):
        """Wait for the zygote's end; returns (status, rusage) or None if it still runs."""
        try:
            pid, status, usage = os.wait4(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return 0, None
        if not pid:
            return None
        return status, usage

    def close_fds(self):
        for fd in list(self.fds):
            os.close(fd)
        self.fds.clear()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def _zygote_main(worker, targets):
    """Confine this freshly forked child, wait for a job, run it. Runs in the child only."""
    w = worker
    limits = w.limits
    try:
        sx.set_name(sx.JOB_NAME)
        if w.claims["job_ipc_namespace"]:
            # System V IPC objects and POSIX message queues of the job die with its namespace
            sx.check(sx.libc.unshare(sx.CLONE_NEWIPC), "unshare(ipc)")
        os.setsid()
        moved = {target: fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for target, fd in targets.items()}
        for target, fd in moved.items():
            os.dup2(fd, target)
        if w.procfd is not None and w.mode == "root":
            me = os.readlink("self", dir_fd=w.procfd)
            fd = os.open(f"{me}/oom_score_adj", os.O_WRONLY, dir_fd=w.procfd)
            os.write(fd, b"1000")  # a memory-cgroup OOM picks the job first
            os.close(fd)
        os.closerange(GO_FD + 1, min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1 << 20))
        settings = [
            (resource.RLIMIT_AS, int(limits["memory_bytes"])),
            (resource.RLIMIT_NOFILE, int(limits["open_files"])),
            (resource.RLIMIT_CORE, 0),
            (resource.RLIMIT_STACK, int(limits["stack_bytes"])),
        ]
        if w.nproc_limit is not None:
            settings.append((resource.RLIMIT_NPROC, int(w.nproc_limit)))
        for which, value in settings:
            resource.setrlimit(which, (value, value))
        if w.uid is not None:
            os.setgroups([])
            os.setresgid(w.uid, w.uid, w.uid)
            os.setresuid(w.uid, w.uid, w.uid)
        elif w.mode == "userns":
            sx.drop_capabilities()
        sx.prctl(sx.PR_SET_PDEATHSIG, signal.SIGKILL)
        sx.prctl(sx.PR_SET_NO_NEW_PRIVS, 1)
        if w.keyring_filter is not None:
            sx.deny_keyrings(w.keyring_filter)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except BaseException as err:
        os.write(2, f"sandbox set-up failed: {err!r}\n".encode())
        os._exit(71)
    if w.cfg["rehearse"]:
        with contextlib.suppress(Exception):
            w.rehearse(out_fd=0)  # fd 0 is /dev/null until a stdin test's input replaces it
    job = sx.recv(GO_FD)  # ---- blocks until the worker hands over a job (EOF: discarded)
    if job is None:
        os._exit(0)
    try:
        if job.get("input") is not None:
            data = job["input"].encode("utf-8", "surrogateescape")
            fd = os.memfd_create("stdin", 0)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.lseek(fd, 0, os.SEEK_SET)
            os.dup2(fd, 0)
            os.close(fd)
        os.close(GO_FD)
        os.chdir(job["dir"])
        os.environ["HOME"] = os.environ["TMPDIR"] = job["dir"]
        cpu = max(1, int(job["cpu"]) + 1)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        file_bytes = int(limits["file_bytes"])
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
        emit = child.frame_writer(3, job["nonce"])
        emit({"ph": "ready"})
    except BaseException as err:
        os.write(2, f"sandbox job set-up failed: {err!r}\n".encode())
        os._exit(71)
    spec = job["spec"]
    del job  # the harness needs nothing else from the worker
    if spec.get("stdio"):
        child.run_stdio(spec, spec["first"], emit)
    else:
        child.run_functional(spec, spec["first"], spec["last"], emit)
    flush_std()
    os._exit(0)


def probe_job_confinement(worker):
    """Which per-job confinement this machine allows: a fresh IPC namespace for each job
    (needs privileges: root, or a user namespace) and the keyring filter (seccomp)."""
    program = sx.keyring_filter()
    worker.own_pid_namespace()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            if worker.mode in ("root", "userns"):
                with contextlib.suppress(OSError):
                    sx.check(sx.libc.unshare(sx.CLONE_NEWIPC), "unshare(ipc)")
                    code |= 1
            if program is not None:
                with contextlib.suppress(OSError):
                    sx.prctl(sx.PR_SET_NO_NEW_PRIVS, 1)
                    sx.deny_keyrings(program)
                    code |= 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    worker.claims["job_ipc_namespace"] = bool(code & 1)
    if code & 2:
        worker.claims["keyring_blocked"] = True
        worker.keyring_filter = program
    else:
        worker.errors.append("the keyring filter (seccomp) is unavailable: jobs share the uid's keyrings")


def start_fork_server(worker):
    """Fork the zygote factory now, before the first job, so it never holds one."""
    try:
        worker.fork_server = ForkServer(worker)
        zygote = Zygote(worker)  # one round trip proves it works here
    except (OSError, ForkServerGone) as err:
        if worker.fork_server is not None:
            worker.fork_server.stop()
            worker.fork_server = None
        worker.errors.append(f"fork server: {err}; job children are forked by the worker")
        return
    worker.spares.append(zygote)
    worker.claims["fork_server"] = True


def flush_std():
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()

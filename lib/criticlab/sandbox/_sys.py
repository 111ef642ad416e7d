"""Linux plumbing shared by the sandbox worker and its children (standard library only).

Loaded by path inside the worker process (see ``_worker.py``), never imported by criticlab
itself: ``ctypes`` wrappers for the system calls Python lacks (``unshare``, ``setns``, ``mount``,
``prctl``, ``capset``), the length-prefixed JSON framing of the executor-worker protocol, and
``/proc`` helpers for finding and killing stray processes.
"""

import contextlib
import ctypes
import fcntl
import json
import os
import platform
import signal
import stat
import struct

libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
CLONE_PARENT = 0x00008000
SIGCHLD = 17
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 36, 38
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
PR_SET_NAME = 15
FORK_SERVER_NAME, JOB_NAME = b"criticlab-forks", b"criticlab-job"
"""Process names (``/proc/PID/comm``) of a worker's fork server and of its job children."""


def set_name(name):
    libc.prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)


def high(fd):
    """Move a worker-private fd above the numbers a child's stdio and channels use (0-4)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100)
    os.close(fd)
    return moved


def check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def prctl(option, value):
    check(libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl({option})")


def mount(source, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    check(
        libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}"
    )


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_capabilities():
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    check(libc.capset(ctypes.byref(header), data), "capset")


def kill_quietly(pid):
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)


def kill_group(pid):
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


def reap_exited():
    """Reap every child that has exited, without waiting; their pids."""
    pids = []
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return pids
        if pid == 0:
            return pids
        pids.append(pid)


def read_exact(fd, size):
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv(fd):
    header = read_exact(fd, 4)
    if header is None:
        return None
    body = read_exact(fd, int.from_bytes(header, "big"))
    return None if body is None else json.loads(body)


def send(fd, obj):
    data = json.dumps(obj, separators=(",", ":")).encode()
    view = memoryview(len(data).to_bytes(4, "big") + data)
    while view:
        view = view[os.write(fd, view) :]


def children_of(parent):
    """Pids whose parent is ``parent``: one read of /proc/<pid>/task/<pid>/children when the
    kernel offers it (the worker is single-threaded), else a scan of /proc."""
    try:
        with open(f"/proc/{parent}/task/{parent}/children", "rb") as handle:
            return [int(pid) for pid in handle.read().split()]
    except OSError:
        pass
    out = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return out
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        fields = data[data.rfind(b")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == parent:
            out.append(int(entry))
    return out


def uid_can_import(uid):
    """Can a process running as ``uid`` still import standard-library modules from disk?"""
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            with open(os.path.join(os.path.dirname(os.__file__), "csv.py"), "rb"):
                ok = True
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def count_user_processes(uid):
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


# ------------------------------------------------------------------------------------------
# a fork whose child belongs to our parent
# ------------------------------------------------------------------------------------------

_SYS_CLONE = {"x86_64": 56, "aarch64": 220}.get(platform.machine())


def clone_sibling():
    """``fork()``, except that the child's parent is our parent (``CLONE_PARENT``).

    The worker's fork server uses it: job children are made by a process that never held a job,
    yet they are the worker's own children, so the worker reaps them (exit status, rusage) and
    their parent-death signal follows the worker. Returns 0 in the child, its pid here. Raises
    OSError where the system call is unknown (then the worker does not start a fork server).
    """
    if _SYS_CLONE is None:
        raise OSError(38, f"clone with CLONE_PARENT is not wired for {platform.machine()}")
    api = ctypes.pythonapi
    api.PyOS_BeforeFork()
    # x86_64 and aarch64 take (flags, stack, parent_tid, child_tid, tls); stack 0 shares a copy
    pid = libc.syscall(
        _SYS_CLONE, ctypes.c_ulong(CLONE_PARENT | SIGCHLD), None, None, None, ctypes.c_ulong(0)
    )
    if pid == 0:
        api.PyOS_AfterFork_Child()
        return 0
    api.PyOS_AfterFork_Parent()
    if pid < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"clone: {os.strerror(err)}")
    return pid


# ------------------------------------------------------------------------------------------
# the kernel keyring: not namespaced, so a job may not touch it at all
# ------------------------------------------------------------------------------------------

# (audit arch, add_key, request_key, keyctl); foreign-ABI system calls are refused as well
_KEYRING_CALLS = {
    "x86_64": (0xC000003E, (248, 249, 250)),
    "aarch64": (0xC00000B7, (217, 218, 219)),
}
_X32_BIT = 0x40000000
_EPERM = 1


def _bpf(code, jt, jf, k):
    return struct.pack("HBBI", code, jt, jf, k)


def keyring_filter():
    """The seccomp program that makes ``add_key``, ``request_key`` and ``keyctl`` fail with EPERM.

    Kernel keyrings belong to a uid, not to a namespace: a key one job adds to its user keyring
    would be readable by every later job of the same uid, and would outlive the executor. Container
    runtimes refuse these calls for the same reason; no judged program needs them. None on an
    architecture without a table here (the self-test then reports the keyring as shared).
    """
    entry = _KEYRING_CALLS.get(platform.machine())
    if entry is None:
        return None
    arch, calls = entry
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | _EPERM
    n = len(calls)
    prog = [_bpf(ld, 0, 0, 4)]  # seccomp_data.arch
    prog.append(_bpf(jeq, 1, 0, arch))
    prog.append(_bpf(ret, 0, 0, deny))  # another ABI (i386, x32 via int 0x80): refused
    prog.append(_bpf(ld, 0, 0, 0))  # seccomp_data.nr
    prog.append(_bpf(jge, n + 1, 0, _X32_BIT))  # x32 numbers on x86_64: to deny
    for i, nr in enumerate(calls):
        prog.append(_bpf(jeq, n - i, 0, nr))  # to deny
    prog.append(_bpf(ret, 0, 0, allow))
    prog.append(_bpf(ret, 0, 0, deny))
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def deny_keyrings(program):
    """Install :func:`keyring_filter`'s program in this process (needs no-new-privs first)."""
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    check(
        libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog), 0, 0), "seccomp"
    )


# ------------------------------------------------------------------------------------------
# System V IPC objects, where a job cannot have a namespace of its own
# ------------------------------------------------------------------------------------------

_IPC_RMID = 0
_IPC_TABLES = (("shm", "shmctl"), ("sem", "semctl"), ("msg", "msgctl"))
_IPC_ID_COLUMN = {"shm": "shmid", "sem": "semid", "msg": "msqid"}


def ipc_objects(uid, orphaned_only=False):
    """``{(kind, id)}`` of the System V IPC objects owned by ``uid`` (from /proc/sysvipc).

    ``orphaned_only``: only shared-memory segments whose creating process is gone (for jobs that
    share the uid with the user's other programs: their semaphores and queues name no creator,
    so they are never taken for a job's)."""
    found = set()
    for kind, _ in _IPC_TABLES:
        try:
            with open(f"/proc/sysvipc/{kind}") as handle:
                header = handle.readline().split()
                rows = [line.split() for line in handle]
        except OSError:
            continue
        column = _IPC_ID_COLUMN[kind]
        if column not in header or "uid" not in header:
            continue
        at_id, at_uid = header.index(column), header.index("uid")
        at_cpid = header.index("cpid") if "cpid" in header else None
        if orphaned_only and at_cpid is None:
            continue
        for row in rows:
            if len(row) <= max(at_id, at_uid) or row[at_uid] != str(uid):
                continue
            if orphaned_only and os.path.exists(f"/proc/{row[at_cpid]}"):
                continue
            found.add((kind, int(row[at_id])))
    return found


def remove_ipc(objects):
    """Remove System V IPC objects by ``(kind, id)``; the ones already gone are skipped."""
    calls = dict(_IPC_TABLES)
    for kind, ident in objects:
        func = getattr(libc, calls[kind])
        if kind == "sem":
            func(ident, 0, _IPC_RMID, None)
        else:
            func(ident, _IPC_RMID, None)


# ------------------------------------------------------------------------------------------
# removing a directory tree the program built
# ------------------------------------------------------------------------------------------


class TreeRemains(OSError):
    """A job directory could not be removed completely."""


def remove_tree(path, attempts=4):
    """Remove ``path`` and everything under it, whatever shape the program gave it.

    No recursion and no path longer than one name: every subdirectory found is first renamed into
    the top directory, so the walk is always one level deep, however deep the chain a program
    built (``shutil.rmtree`` recurses, and a chain a few thousand deep makes it raise
    RecursionError and leave the tree behind). Permissions a program removed are restored before
    each step. Raises :class:`TreeRemains` if anything is left, so the caller can refuse to run
    another job next to it.
    """
    try:
        top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        os.unlink(path)
        return
    except PermissionError:
        os.chmod(path, 0o700)
        top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    hoisted = [0, os.urandom(6).hex()]
    try:
        for _ in range(attempts):
            with contextlib.suppress(OSError):
                os.chmod(top, 0o700)
            while True:
                names = _entries(top)
                if not names:
                    break
                for name in names:
                    _empty_entry(top, name, hoisted)
            try:
                os.rmdir(path)
                return
            except FileNotFoundError:
                return
            except OSError:
                continue  # a process still writing (being killed): go round again
    finally:
        os.close(top)
    raise TreeRemains(39, f"could not remove {path}")


def _entries(dir_fd):
    with os.scandir(dir_fd) as entries:
        return [entry.name for entry in entries]


def _empty_entry(top, name, hoisted):
    """Remove ``name`` from ``top``: a file at once; a directory after its files are removed and its
    subdirectories hoisted into ``top`` under fresh names (``hoisted``: [count, random tag])."""
    try:
        info = os.stat(name, dir_fd=top, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(name, dir_fd=top)
        return
    if stat.S_IMODE(info.st_mode) & 0o700 != 0o700:
        os.chmod(name, 0o700, dir_fd=top)
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top)
    try:
        for child in _entries(fd):
            try:
                child_info = os.stat(child, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISDIR(child_info.st_mode):
                hoisted[0] += 1
                os.rename(child, f".hoisted-{hoisted[1]}-{hoisted[0]}", src_dir_fd=fd, dst_dir_fd=top)
            else:
                os.unlink(child, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=top)

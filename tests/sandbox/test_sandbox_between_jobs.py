"""Hostile programs against what jobs share: nothing one job leaves may reach the next, and no
program can make the judge fail or pass its failure off as an infrastructure error.

In RL the samples of a group run back to back on the same warm workers: a program that could
read what an earlier one left (its code, its tests, its nonce, a file, an IPC object, a key)
could copy a sibling's passing answer. Each test runs a *leave* job and then *look* jobs on
the same single worker; the leave job must really have left its mark (its own result says so),
and every look job must find nothing. Each class is exercised by several mechanisms.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from criticlab.data.types import Problem, Test
from criticlab.sandbox import LocalExecutor, Verdict
from criticlab.sandbox.local import SPARE_ZYGOTES

LIMIT = 2.0
LOOKS = SPARE_ZYGOTES[1] + 2
"""Look jobs after each leave job: more than the spare children a worker keeps forked ahead, so
every child that was forked while the leave job's data was in reach gets its turn."""


def call(expected: object, args: list | None = None, **kw: object) -> Problem:
    return Problem(
        id="between-jobs",
        source="test",
        question="q",
        kind="functional",
        entry_point="f",
        tests=[Test(kind="call", args=args if args is not None else [0], expected=expected)],
        time_limit=LIMIT,
        **kw,
    )  # type: ignore[arg-type]


def stdio(output: str = "ok", **kw: object) -> Problem:
    return Problem(
        id="between-jobs-io",
        source="test",
        question="q",
        kind="stdio",
        tests=[Test(kind="stdio", input="", output=output)],
        time_limit=LIMIT,
        **kw,
    )  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def one_worker() -> Iterator[LocalExecutor]:
    """One worker, so the look jobs run where the leave job ran."""
    with LocalExecutor(workers=1, memory_mb=512) as ex:
        yield ex
        stats = ex.stats()
        assert stats["restarts"] == 0, f"a program took the worker down or retired it: {stats}"


@pytest.fixture(scope="module")
def minimal_worker() -> Iterator[LocalExecutor]:
    """The fallback without namespaces: objects must be removed explicitly there."""
    with LocalExecutor(workers=1, memory_mb=512, isolation="minimal") as ex:
        yield ex


def leave_then_look(ex: LocalExecutor, leave: str, look: str, *, args: list | None = None) -> list[object]:
    """Run ``leave`` (must return "left"), then ``look`` LOOKS times; return what the looks saw."""
    left = ex.run(call("left", args), leave)
    assert left.accepted, f"the leave job did not leave its mark: {left.summary()} {left.tests[0].actual}"
    seen = []
    for _ in range(LOOKS):
        result = ex.run(call([], args=[0]), look)
        assert not result.is_infra_error, result.summary()
        seen.append(result.tests[0].actual)
    return seen


NOTHING = "[]"


# ------------------------------------------------------------------------------------------
# System V IPC objects
# ------------------------------------------------------------------------------------------

LIBC = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nIPC_CREAT = 0o1000\n"


def _ipc_key() -> int:
    return 0x4C000000 | secrets.randbelow(1 << 24)


@pytest.mark.parametrize("kind", ["shm", "sem", "msg"])
def test_an_ipc_object_is_gone_for_the_next_job(one_worker: LocalExecutor, kind: str) -> None:
    key = _ipc_key()
    create = {
        "shm": f"ident = libc.shmget({key}, 1 << 20, IPC_CREAT | 0o666)\n"
        "if ident >= 0:\n"
        "    libc.shmat.restype = ctypes.c_void_p\n"
        "    addr = libc.shmat(ident, None, 0)\n"
        "    ctypes.memmove(addr, b'the answer is 42', 16)\n",
        "sem": f"ident = libc.semget({key}, 4, IPC_CREAT | 0o666)\n",
        "msg": f"ident = libc.msgget({key}, IPC_CREAT | 0o666)\n"
        "if ident >= 0:\n"
        "    buf = ctypes.create_string_buffer(8 + 16)\n"
        "    ctypes.memmove(ctypes.addressof(buf), (1).to_bytes(8, 'little') + b'the answer is 42', 24)\n"
        "    libc.msgsnd(ident, buf, 16, 0)\n",
    }[kind]
    leave = (
        LIBC
        + "def f(x):\n"
        + "".join(f"    {line}\n" for line in create.splitlines())
        + "    return 'left' if ident >= 0 else ctypes.get_errno()\n"
    )
    get = {
        "shm": f"libc.shmget({key}, 0, 0)",
        "sem": f"libc.semget({key}, 0, 0)",
        "msg": f"libc.msgget({key}, 0, 0)",
    }
    look = LIBC + f"def f(x):\n    ident = {get[kind]}\n    return [ident] if ident >= 0 else []\n"
    assert set(leave_then_look(one_worker, leave, look)) == {NOTHING}


def test_a_private_segment_id_cannot_be_attached_by_the_next_job(one_worker: LocalExecutor) -> None:
    """IPC_PRIVATE segments have no key, but their ids are small and guessable."""
    leave = LIBC + (
        "def f(x):\n"
        "    for _ in range(8):\n"
        "        ident = libc.shmget(0, 65536, IPC_CREAT | 0o666)\n"
        "    return 'left' if ident >= 0 else ctypes.get_errno()\n"
    )
    look = LIBC + (
        "def f(x):\n"
        "    libc.shmat.restype = ctypes.c_void_p\n"
        "    found = []\n"
        "    for ident in range(0, 4096):\n"
        "        addr = libc.shmat(ident, None, 0o10000)\n"  # SHM_RDONLY
        "        if addr not in (None, ctypes.c_void_p(-1).value):\n"
        "            found.append(ident)\n"
        "    return found\n"
    )
    assert set(leave_then_look(one_worker, leave, look)) == {NOTHING}


def test_ipc_objects_are_removed_in_minimal_mode(minimal_worker: LocalExecutor) -> None:
    key = _ipc_key()
    leave = (
        LIBC + f"def f(x):\n    ident = libc.shmget({key}, 4096, IPC_CREAT | 0o600)\n"
        "    return 'left' if ident >= 0 else ctypes.get_errno()\n"
    )
    look = (
        LIBC + f"def f(x):\n    ident = libc.shmget({key}, 0, 0)\n    return [ident] if ident >= 0 else []\n"
    )
    assert set(leave_then_look(minimal_worker, leave, look)) == {NOTHING}
    table = Path("/proc/sysvipc/shm")
    if table.exists():  # nothing pins host memory after the job either
        assert f"{key:>10}" not in {line.split()[0].rjust(10) for line in table.read_text().splitlines()[1:]}


# ------------------------------------------------------------------------------------------
# kernel keyrings (a uid's, not a namespace's)
# ------------------------------------------------------------------------------------------

KEYS = (
    "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "import platform\n"
    "NR = {'x86_64': (248, 249, 250), 'aarch64': (217, 218, 219)}[platform.machine()]\n"
    "def add_key(desc, payload, ring):\n"
    "    return libc.syscall(NR[0], b'user', desc, payload, len(payload), ctypes.c_int(ring))\n"
    "def keyctl(op, *args):\n"
    "    return libc.syscall(NR[2], op, *args)\n"
)


@pytest.mark.parametrize("ring", [-4, -5, -3], ids=["user", "user-session", "session"])
def test_a_key_is_not_there_for_the_next_job(one_worker: LocalExecutor, ring: int) -> None:
    desc = f"criticlab-test-{secrets.token_hex(6)}"
    leave = KEYS + (
        "def f(x):\n"
        f"    serial = add_key({desc.encode()!r}, b'the answer is 42', {ring})\n"
        "    return 'left' if serial == -1 and ctypes.get_errno() == 1 else ['added', serial]\n"
    )
    # refused with EPERM is the only way to leave nothing: a key added to a uid's keyring outlives
    # the job, the worker and the executor
    look = KEYS + (
        "def f(x):\n"
        f"    serial = libc.syscall(NR[1], b'user', {desc.encode()!r}, None, 0)\n"  # request_key
        "    return [serial] if serial >= 0 else []\n"
    )
    assert set(leave_then_look(one_worker, leave, look)) == {NOTHING}


@pytest.mark.parametrize(
    "op",
    [
        (22, -1, -4),  # KEYCTL_GET_PERSISTENT: the uid's persistent keyring (kept for days)
        (1, 0),  # KEYCTL_JOIN_SESSION_KEYRING: a new anonymous session keyring
        (0, -4, 0),  # KEYCTL_GET_KEYRING_ID of the user keyring
    ],
)
def test_no_keyring_operation_is_allowed(one_worker: LocalExecutor, op: tuple[int, ...]) -> None:
    code = KEYS + f"def f(x):\n    r = keyctl({op[0]}, *{op[1:]!r})\n    return [r, ctypes.get_errno()]\n"
    result = one_worker.run(call([-1, 1]), code)
    assert result.accepted, result.tests[0].actual


# ------------------------------------------------------------------------------------------
# files: cleanup the program cannot defeat
# ------------------------------------------------------------------------------------------

LOOK_FILES = (
    "import os\n"
    "def f(x):\n"
    "    here = os.path.basename(os.getcwd())\n"
    "    return sorted(n for n in os.listdir('..') if n != here and n.startswith('job-'))\n"
)


@pytest.mark.parametrize("depth", [1200, 6000])
def test_a_deep_directory_chain_is_removed(one_worker: LocalExecutor, depth: int) -> None:
    leave = (
        "import os\n"
        "def f(x):\n"
        f"    for _ in range({depth}):\n"
        "        os.mkdir('d')\n"
        "        os.chdir('d')\n"
        "    with open('the-answer', 'w') as handle:\n"
        "        handle.write('42')\n"
        "    return 'left'\n"
    )
    assert set(leave_then_look(one_worker, leave, LOOK_FILES)) == {NOTHING}
    assert one_worker.stats()["retirements"] == 0


def test_unwritable_and_unreadable_directories_are_removed(one_worker: LocalExecutor) -> None:
    leave = (
        "import os\n"
        "def f(x):\n"
        "    os.makedirs('a/b/c')\n"
        "    open('a/b/c/secret', 'w').write('42')\n"
        "    os.mkfifo('a/b/pipe')\n"
        "    os.symlink('/', 'a/root')\n"
        "    os.chmod('a/b/c', 0)\n"
        "    os.chmod('a/b', 0o500)\n"
        "    os.chmod('a', 0o100)\n"
        "    os.chmod('.', 0o500)\n"
        "    return 'left'\n"
    )
    assert set(leave_then_look(one_worker, leave, LOOK_FILES)) == {NOTHING}


def test_long_names_past_path_max_are_removed(one_worker: LocalExecutor) -> None:
    leave = (
        "import os\n"
        "def f(x):\n"
        "    for _ in range(40):\n"  # 40 x 255 characters: far past PATH_MAX
        "        os.mkdir('n' * 255)\n"
        "        os.chdir('n' * 255)\n"
        "    open('secret', 'w').write('42')\n"
        "    return 'left'\n"
    )
    assert set(leave_then_look(one_worker, leave, LOOK_FILES)) == {NOTHING}


def test_cleanup_follows_no_symlink_out_of_the_job(minimal_worker: LocalExecutor, tmp_path: Path) -> None:
    """Minimal mode has no jail: a link to a directory outside must be removed, not followed."""
    outside = tmp_path / "keep"
    outside.mkdir()
    (outside / "precious").write_text("x")
    tmp_path.chmod(0o755)
    leave = (
        f"import os\ndef f(x):\n    os.symlink({str(outside)!r}, 'link')\n    os.mkdir('d')\n"
        f"    os.symlink({str(outside)!r}, 'd/link')\n    return 'left'\n"
    )
    assert set(leave_then_look(minimal_worker, leave, LOOK_FILES)) == {NOTHING}
    assert (outside / "precious").read_text() == "x"


def test_a_deep_chain_is_removed_in_minimal_mode(minimal_worker: LocalExecutor) -> None:
    leave = (
        "import os\ndef f(x):\n    for _ in range(1500):\n        os.mkdir('d')\n        os.chdir('d')\n"
        "    os.chmod('.', 0)\n    return 'left'\n"
    )
    assert set(leave_then_look(minimal_worker, leave, LOOK_FILES)) == {NOTHING}


# ------------------------------------------------------------------------------------------
# memory: no forked job child holds another job's message
# ------------------------------------------------------------------------------------------


def _marker() -> str:
    return "LEFTBEHIND" + secrets.token_hex(8)


SCAN_OBJECTS = (
    "import gc, re, sys\n"
    "PATTERN = re.compile('LEFT' + 'BEHIND' + '[0-9a-f]{16}')\n"
    "def strings(obj):\n"
    "    if isinstance(obj, str):\n"
    "        yield obj\n"
    "    elif isinstance(obj, (bytes, bytearray)):\n"
    "        yield bytes(obj).decode('latin-1')\n"
    "    elif isinstance(obj, dict):\n"
    "        for k, v in list(obj.items()):\n"
    "            yield from strings(k)\n"
    "            yield from strings(v)\n"
    "    elif isinstance(obj, (list, tuple)):\n"
    "        for v in obj:\n"
    "            yield from strings(v)\n"
    "def f(x):\n"
    "    found = set()\n"
    "    for obj in gc.get_objects():\n"
    "        try:\n"
    "            for text in strings(obj):\n"
    "                found.update(PATTERN.findall(text))\n"
    "        except RecursionError:\n"
    "            pass\n"
    "    frame = sys._getframe()\n"
    "    while frame is not None:\n"
    "        for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):\n"
    "            try:\n"
    "                for text in strings(value):\n"
    "                    found.update(PATTERN.findall(text))\n"
    "            except RecursionError:\n"
    "                pass\n"
    "        frame = frame.f_back\n"
    "    return sorted(found)\n"
)


def test_no_object_of_an_earlier_job_is_reachable(one_worker: LocalExecutor) -> None:
    marker = _marker()
    leave = f"SECRET = {marker!r}\ndef f(x):\n    return 'left' if x == {marker!r} else x\n"
    assert set(leave_then_look(one_worker, leave, SCAN_OBJECTS, args=[marker])) == {NOTHING}


def test_no_earlier_job_is_in_the_memory_a_job_inherits(minimal_worker: LocalExecutor) -> None:
    """Freed memory keeps its bytes: a child forked by a process that once held a job message
    could find its code and tests by reading its own memory. Minimal mode (no jail) lets the job
    read /proc/self/mem, the bluntest way to look."""
    marker = _marker()
    leave = f"def f(x):\n    return 'left' if x == {marker!r} else x\n"
    look = (
        "import re\n"
        "PATTERN = re.compile(b'LEFT' + b'BEHIND' + b'[0-9a-f]{16}')\n"
        "def f(x):\n"
        "    found = set()\n"
        "    with open('/proc/self/maps') as maps, open('/proc/self/mem', 'rb', 0) as mem:\n"
        "        for line in maps:\n"
        "            fields = line.split()\n"
        "            if 'r' not in fields[1] or (len(fields) > 5 and fields[5].startswith('/')):\n"
        "                continue\n"
        "            lo, hi = (int(v, 16) for v in fields[0].split('-'))\n"
        "            if hi - lo > 1 << 28:\n"
        "                continue\n"
        "            try:\n"
        "                mem.seek(lo)\n"
        "                data = mem.read(hi - lo)\n"
        "            except (OSError, ValueError, OverflowError):\n"
        "                continue\n"
        "            found.update(m.decode() for m in PATTERN.findall(data))\n"
        "    return sorted(found)\n"
    )
    for _ in range(3):  # several jobs in a row: the leave job's message passes through the worker
        assert set(leave_then_look(minimal_worker, leave, look, args=[marker])) == {NOTHING}


# ------------------------------------------------------------------------------------------
# forged records: a failure can never pass for an infrastructure error
# ------------------------------------------------------------------------------------------

FIND_EMIT_BY_FRAME = (
    "import sys\n"
    "def find_emit():\n"
    "    frame = sys._getframe()\n"
    "    while frame is not None:\n"
    "        if 'emit' in frame.f_locals and callable(frame.f_locals['emit']):\n"
    "            return frame.f_locals['emit']\n"
    "        frame = frame.f_back\n"
)
FIND_EMIT_BY_GC = (
    "import gc\n"
    "def find_emit():\n"
    "    for obj in gc.get_objects():\n"
    "        if getattr(obj, '__name__', '') == 'emit' and getattr(obj, '__closure__', None):\n"
    "            return obj\n"
)
PRELUDE_FAILURE = "{'ph': 'load', 's': 'prelude', 'e': 'ImportError', 'm': 'numpy is missing', 'tb': ''}"


@pytest.mark.parametrize("finder", [FIND_EMIT_BY_FRAME, FIND_EMIT_BY_GC], ids=["frames", "gc"])
@pytest.mark.parametrize("where", ["top-level", "in-the-call"])
def test_a_forged_prelude_failure_is_the_programs_failure(
    one_worker: LocalExecutor, finder: str, where: str
) -> None:
    forge = f"find_emit()({PRELUDE_FAILURE})\nimport os\nos._exit(0)\n"
    if where == "top-level":
        code = finder + forge + "def f(x):\n    return 1\n"
    else:
        code = finder + "def f(x):\n" + "".join(f"    {line}\n" for line in forge.splitlines())
    result = one_worker.run(call(2), code)
    assert not result.is_infra_error and not result.accepted, result.summary()


@pytest.mark.parametrize("finder", [FIND_EMIT_BY_FRAME, FIND_EMIT_BY_GC], ids=["frames", "gc"])
def test_a_forged_prelude_failure_on_stdio_is_the_programs_failure(
    one_worker: LocalExecutor, finder: str
) -> None:
    code = (
        finder + "find_emit()({'i': 0, 's': 'prelude', 't': 0.0, 'e': 'ImportError', 'm': 'x', 'tb': ''})\n"
        "import os\nos._exit(0)\n"
    )
    result = one_worker.run(stdio(), code)
    assert not result.is_infra_error and not result.accepted, result.summary()


def test_a_problem_with_a_prelude_still_trusts_only_the_harness(one_worker: LocalExecutor) -> None:
    """With a prelude, a failure reported after the program started is still forged; a prelude
    that really fails is still the data's problem."""
    problem = call(2, prelude="import math\n")
    forged = one_worker.run(
        problem,
        FIND_EMIT_BY_FRAME + f"find_emit()({PRELUDE_FAILURE})\nimport os\nos._exit(0)\n"
        "def f(x):\n    return 1\n",
    )
    assert not forged.is_infra_error and not forged.accepted, forged.summary()
    broken = call(2, prelude="import module_that_does_not_exist\n")
    real = one_worker.run(broken, "def f(x):\n    return x + 2\n")
    assert real.verdict is Verdict.SANDBOX_ERROR, real.summary()


# ------------------------------------------------------------------------------------------
# records nested to break an encoder or decoder
# ------------------------------------------------------------------------------------------


def _nested(kind: str, depth: int) -> str:
    return {"list": f"'[' * {depth} + ']' * {depth}", "dict": f"'{{\"a\":' * {depth} + '1' + '}}' * {depth}"}[
        kind
    ]


@pytest.mark.parametrize("depth", [400, 978, 981, 983, 984, 985, 987])
@pytest.mark.parametrize("kind", ["list", "dict"])
def test_a_deeply_nested_forged_record_is_the_programs_failure(
    one_worker: LocalExecutor, kind: str, depth: int
) -> None:
    code = FIND_EMIT_BY_FRAME + (
        "import json, os\n"
        "def f(x):\n"
        f"    value = json.loads({_nested(kind, depth)})\n"
        "    find_emit()({'i': 0, 's': 'ok', 't': 0.0, 'v': value})\n"
        "    os._exit(0)\n"
    )
    result = one_worker.run(call(2), code)
    assert not result.is_infra_error and not result.accepted, result.summary()


def test_a_deeply_nested_forged_probe_is_the_programs_failure(one_worker: LocalExecutor) -> None:
    problem = Problem(
        id="nested-probe",
        source="test",
        question="q",
        kind="functional",
        entry_point="f",
        tests=[Test(kind="assert", code="assert f(1) == 2")],
        time_limit=LIMIT,
    )
    code = FIND_EMIT_BY_FRAME + (
        "import json, os\n"
        "def f(x):\n"
        f"    find_emit()({{'i': 0, 'p': 0, 'v': json.loads({_nested('list', 990)})}})\n"
        "    os._exit(0)\n"
    )
    result = one_worker.run(problem, code)
    assert not result.is_infra_error and not result.accepted, result.summary()


def test_a_deeply_nested_return_value_is_a_wrong_answer(one_worker: LocalExecutor) -> None:
    code = "def f(x):\n    v = []\n    for _ in range(990):\n        v = [v]\n    return v\n"
    result = one_worker.run(call(2), code)
    assert result.verdict is Verdict.WRONG_ANSWER, result.summary()


# ------------------------------------------------------------------------------------------
# values whose comparison or description raises
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "code", "type_name"),
    [
        (1.5, "from decimal import Decimal\ndef f(x):\n    return Decimal('sNaN')\n", "Decimal"),
        ([1.5], "from decimal import Decimal\ndef f(x):\n    return [Decimal('sNaN')]\n", "list"),
        ({"1": 1}, "def f(x):\n    return {10 ** 5000: 1}\n", ""),  # the key's text cannot be made: no match
        (1.5, "from decimal import Decimal\ndef f(x):\n    return Decimal('-sNaN123')\n", "Decimal"),
    ],
)
def test_a_value_that_raises_when_compared_is_a_wrong_answer(
    one_worker: LocalExecutor, expected: object, code: str, type_name: str
) -> None:
    result = one_worker.run(call(expected), code)
    assert result.verdict is Verdict.WRONG_ANSWER, result.summary()
    if type_name:  # the comparison raised: the note names the returned value's type
        assert f"comparing the returned {type_name} raised" in result.tests[0].note, result.tests[0].note


def test_a_huge_integer_is_described_without_raising(one_worker: LocalExecutor) -> None:
    result = one_worker.run(call(3), "def f(x):\n    return 7 ** 20000\n")
    assert result.verdict is Verdict.WRONG_ANSWER and result.tests[0].actual, result.summary()


# ------------------------------------------------------------------------------------------
# integer answers get no float tolerance
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "returned", "verdict"),
    [
        (1_000_000_000, "1000008000.0", Verdict.WRONG_ANSWER),  # within 1e-5 relative, still wrong
        (1_000_000_000, "1000000000.0", Verdict.ACCEPTED),  # a float exactly equal to the int
        (1_000_000_000, "1000000000", Verdict.ACCEPTED),
        ([10, 1_000_000_000], "[10, 1000000001.0]", Verdict.WRONG_ANSWER),
        (0.3, "0.1 + 0.2", Verdict.ACCEPTED),  # a float expectation keeps its tolerance
        (1_000_000.5, "1000000.5000001", Verdict.ACCEPTED),
        (True, "1.0", Verdict.WRONG_ANSWER),
    ],
)
def test_an_int_expectation_needs_an_exact_answer(
    one_worker: LocalExecutor, expected: object, returned: str, verdict: Verdict
) -> None:
    result = one_worker.run(call(expected), f"def f(x):\n    return {returned}\n")
    assert result.verdict is verdict, result.summary()


# ------------------------------------------------------------------------------------------
# the pieces, without a worker
# ------------------------------------------------------------------------------------------


def test_remove_tree_takes_what_shutil_cannot(tmp_path: Path) -> None:
    import os
    import shutil

    from criticlab.sandbox._sys import remove_tree

    def build(root: Path) -> None:
        root.mkdir()
        fd = os.open(root, os.O_RDONLY)
        for level in range(1500):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
            if level % 300 == 0:
                os.close(os.open("f", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=fd))
        os.chmod(f"/proc/self/fd/{fd}", 0)
        os.close(fd)

    build(tmp_path / "a")
    with pytest.raises(RecursionError):
        shutil.rmtree(tmp_path / "a")
    remove_tree(str(tmp_path / "a"))
    assert not (tmp_path / "a").exists()
    build(tmp_path / "b")
    remove_tree(str(tmp_path / "b"))
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    remove_tree(str(tmp_path / "missing"))  # nothing to do is not an error


def test_an_int_expectation_in_the_comparator() -> None:
    from decimal import Decimal

    from criticlab.sandbox.compare import compare_values

    assert not compare_values(10**9, 1_000_008_000.0).ok
    assert compare_values(10**9, 1e9).ok and compare_values(10**9, 1e9).rule == "exact"
    assert compare_values(0.3, 0.1 + 0.2).rule.startswith("float-tol")
    assert not compare_values({"a": [1, 2]}, {"a": [1, 2.000001]}).ok
    raised = compare_values(1.5, Decimal("sNaN"))
    assert not raised.ok and "Decimal" in raised.detail and "InvalidOperation" in raised.detail
    assert not compare_values({"7": 1}, {7**6000: 1}).ok


def test_the_judge_believes_a_prelude_failure_only_for_a_problem_with_a_prelude() -> None:
    from criticlab.sandbox.judge import FORGED_PRELUDE, Judge, plan_job

    fail = {"s": "prelude", "e": "ImportError", "m": "no numpy", "tb": ""}
    without = Judge(plan_job(call(2), "def f(x):\n    return 2\n"))
    [record] = without.on_load({"first": 0, "last": 1, "fail": fail})
    assert record.verdict is Verdict.NO_RESULT and record.note == FORGED_PRELUDE
    assert not without.result().is_infra_error
    with_prelude = Judge(plan_job(call(2, prelude="import numpy\n"), "def f(x):\n    return 2\n"))
    with_prelude.on_load({"first": 0, "last": 1, "fail": fail})
    assert with_prelude.result().verdict is Verdict.SANDBOX_ERROR
    io_judge = Judge(plan_job(stdio(), "print('ok')\n"))
    record = io_judge.on_test({"i": 0, "rec": {"i": 0, "s": "prelude", **fail}, "stdout": ""})
    assert record is not None and record.verdict is Verdict.NO_RESULT


def test_the_between_jobs_evaluation_needs_evidence() -> None:
    from criticlab.sandbox.isolation import evaluate_between_jobs

    claims = {"keyring_blocked": True, "fork_server": True}
    left = {"ipc": True, "files": True}
    clean = {"ipc": False, "files": False, "keyring_refused": True, "memory": []}
    assert all(evaluate_between_jobs(claims, left, [clean, clean]).values())
    leaky = dict(clean, ipc=True, files=True, memory=["criticlab-between-jobs-" + "0" * 32])
    held = evaluate_between_jobs(claims, left, [clean, leaky])
    assert not held["job_ipc_private"] and not held["job_files_removed"] and not held["job_memory_clean"]
    assert not any(evaluate_between_jobs(claims, left, []).values())  # no look job: nothing shown
    assert not evaluate_between_jobs(claims, {"ipc": False, "files": True}, [clean])["job_ipc_private"]
    assert not evaluate_between_jobs({"fork_server": True}, left, [clean])["keyring_blocked"]
    shared_uid = dict(claims, job_ipc_cleanup="shared memory")  # semaphores and queues may stay
    assert not evaluate_between_jobs(shared_uid, left, [clean])["job_ipc_private"]


def test_selfcheck_prints_every_guarantee(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import json

    from criticlab.sandbox.isolation import GUARANTEES
    from criticlab.sandbox.selfcheck import main

    code = main(["--workers", "1", "--looks", "2", "--json", str(tmp_path / "report.json")])
    out = capsys.readouterr().out
    assert code == 0
    for name in ("job_ipc_private", "keyring_blocked", "job_files_removed", "job_memory_clean"):
        assert name in out and GUARANTEES[name] in out
    saved = json.loads((tmp_path / "report.json").read_text())
    assert set(saved["guarantees"]) == set(GUARANTEES)
    strict = main(["--workers", "1", "--looks", "1", "--strict"])
    assert strict == (1 if saved["guarantees"] and not all(saved["guarantees"].values()) else 0)


# ------------------------------------------------------------------------------------------
# controls: correct programs that do unusual things are still accepted
# ------------------------------------------------------------------------------------------

CONTROLS = {
    "deep-recursion": "import sys\nsys.setrecursionlimit(100000)\n"
    "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
    "def f(x):\n    return depth(20000) // 10000\n",
    "daemon-thread": "import threading, time\n"
    "def spin():\n    while True:\n        time.sleep(0.01)\n"
    "def f(x):\n    threading.Thread(target=spin, daemon=True).start()\n    return x + 1\n",
    "own-fork-and-pipe": "import os\n"
    "def f(x):\n    r, w = os.pipe()\n    pid = os.fork()\n    if pid == 0:\n"
    "        os.write(w, str(x + 1).encode())\n        os._exit(0)\n"
    "    os.close(w)\n    value = int(os.read(r, 16))\n    os.waitpid(pid, 0)\n    return value\n",
    "own-timer-handler": "import signal\n"
    "def f(x):\n    hits = []\n    signal.signal(signal.SIGALRM, lambda *_: hits.append(1))\n"
    "    signal.setitimer(signal.ITIMER_REAL, 0.01)\n"
    "    while not hits:\n        pass\n    return x + len(hits)\n",
    "600-MiB-touched": "def f(x):\n    block = bytearray(600 << 20)\n"
    "    for i in range(0, len(block), 4096):\n        block[i] = 1\n"
    "    return x + block[4096]\n",
    "ipc-inside-the-job": LIBC + "def f(x):\n    ident = libc.shmget(0, 4096, IPC_CREAT | 0o600)\n"
    "    libc.shmctl(ident, 0, None)\n    return x + 1 if ident >= 0 else -1\n",
}


@pytest.mark.parametrize("name", sorted(CONTROLS))
def test_correct_unusual_programs_are_accepted(executor: LocalExecutor, name: str) -> None:
    result = executor.run(call(2, args=[1]), CONTROLS[name])
    assert result.accepted, result.summary()


def test_six_mebibytes_of_legal_output_are_accepted(executor: LocalExecutor) -> None:
    line = "x" * 1023 + "\n"
    result = executor.run(stdio(output=line * 6144), f"import sys\nsys.stdout.write({line!r} * 6144)\n")
    assert result.accepted, result.summary()

"""Hostile and broken programs: contained, given the right verdict, and leaving nothing behind.

Every test here runs in the strongest isolation the machine allows (``auto``); a few also run in
``minimal`` mode, the fallback without namespaces. Limits are small so the suite stays fast.
"""

from __future__ import annotations

import os
import secrets
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from criticlab.data.types import Problem, Test
from criticlab.sandbox import LocalExecutor, Verdict
from criticlab.sandbox._sys import FORK_SERVER_NAME as _FORK_SERVER_NAME
from criticlab.sandbox.local import SPARE_ZYGOTES

FORK_SERVER_NAME = _FORK_SERVER_NAME.decode()

LIMIT = 0.5
"""Idle children each worker forks ahead of its next job (``_worker.SPARE_ZYGOTES``)."""


def functional(tests: list[Test] | None = None, **kw: object) -> Problem:
    return Problem(
        id="hostile",
        source="test",
        question="q",
        kind="functional",
        entry_point="f",
        tests=tests if tests is not None else [Test(kind="call", args=[1], expected=2)],
        time_limit=LIMIT,
        **kw,
    )  # type: ignore[arg-type]


def stdio(inp: str = "", out: str = "ok") -> Problem:
    return Problem(
        id="hostile-io",
        source="test",
        question="q",
        kind="stdio",
        tests=[Test(kind="stdio", input=inp, output=out)],
        time_limit=LIMIT,
    )


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                data = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            parents[int(entry)] = int(data[data.rfind(b")") + 2 :].split()[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _uid_processes(low: int, high: int) -> set[int]:
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if low <= os.stat(f"/proc/{entry}").st_uid < high:
                    out.add(int(entry))
            except OSError:
                pass
    return out


def _describe(strays: dict[int, set[int]]) -> dict[int, list[str]]:
    out = {}
    for worker, pids in strays.items():
        rows = []
        for pid in sorted(pids):
            try:
                stat = Path(f"/proc/{pid}/stat").read_bytes()
                state, ppid = stat[stat.rfind(b")") + 2 :].split()[:2]
                rows.append(
                    f"{pid} state={state.decode()} ppid={ppid.decode()} uid={os.stat(f'/proc/{pid}').st_uid}"
                )
            except OSError:
                rows.append(f"{pid} (gone)")
        out[worker] = rows
    return out


def _not_idle_zygotes(worker: int, kids: set[int]) -> set[int]:
    """Descendants that are not the worker's idle pre-forked children nor its fork server (one
    child, named so): any grandchild, any child that entered a job directory (an idle one still
    shares the worker's working directory), and every child when there are more than the worker keeps."""
    home = _cwd(worker)
    servers = {pid for pid in kids if _parent(pid) == worker and _comm(pid) == FORK_SERVER_NAME}
    kids = kids - set(sorted(servers)[:1])
    idle = {pid for pid in kids if _parent(pid) == worker and _cwd(pid) == home}
    return (kids - idle) | (idle if len(idle) > SPARE_ZYGOTES[1] else set())


def _cwd(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def _comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _parent(pid: int) -> int | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return int(data[data.rfind(b")") + 2 :].split()[1])


def assert_nothing_left(ex: LocalExecutor) -> None:
    """Each worker keeps only its idle pre-forked children; nothing else of a job survives.

    A worker tidies up right after sending a verdict, so the check polls briefly.
    """
    deadline = time.monotonic() + 5
    while True:
        trees = {pid: _descendants(pid) for pid in ex.worker_pids()}
        strays = {pid: _not_idle_zygotes(pid, kids) for pid, kids in trees.items()}
        strays = {pid: kids for pid, kids in strays.items() if kids}
        if ex.mode == "root":  # a process of a job uid outside the workers' trees escaped them
            inside = set().union(*trees.values()) if trees else set()
            escaped = _uid_processes(ex.uid_base, ex.uid_base + ex.workers) - inside
            if escaped:
                strays[-1] = escaped
        if not strays or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not strays, f"processes left behind: {_describe(strays)}"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[LocalExecutor]:
    with LocalExecutor(workers=2, memory_mb=512, output_limit_mb=1) as ex:
        yield ex
        pids = ex.worker_pids()
        assert ex.stats()["restarts"] == 0, "a hostile program took a worker down"
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)


@pytest.fixture
def contained(sandbox: LocalExecutor) -> Iterator[LocalExecutor]:
    """The sandbox, checked after the test: no leftovers, and it still accepts a good program."""
    yield sandbox
    assert_nothing_left(sandbox)
    assert sandbox.run(functional(), "def f(x):\n    return x + 1\n").accepted


def _need(ex: LocalExecutor, *guarantees: str) -> None:
    missing = [g for g in guarantees if not ex.isolation_report().guarantees[g]]
    if missing:
        pytest.skip(f"this machine's sandbox lacks {missing}")


def test_the_leftover_check_sees_a_running_job(sandbox: LocalExecutor) -> None:
    """The check above tells idle pre-forked children from a job's: a job in flight is a stray."""
    import threading

    code = "import time\ndef f(x):\n    time.sleep(1.5)\n    return x + 1\n"
    job = threading.Thread(target=sandbox.run, args=(functional(), code))
    job.start()
    try:
        deadline, seen = time.monotonic() + 1.2, set()
        while not seen and time.monotonic() < deadline:
            for worker in sandbox.worker_pids():
                seen |= _not_idle_zygotes(worker, _descendants(worker))
            time.sleep(0.05)
        assert seen, "a running job was taken for an idle spare"
    finally:
        job.join()


# ------------------------------------------------------------------------------------------
# resource abuse
# ------------------------------------------------------------------------------------------


def test_fork_bomb(contained: LocalExecutor) -> None:
    _need(contained, "process_cap")  # never run a fork bomb without a process cap
    code = "import os\ndef f(x):\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n"
    result = contained.run(functional(), code)
    assert result.verdict in (Verdict.TIME_LIMIT_EXCEEDED, Verdict.RUNTIME_ERROR)


def test_memory_hog_single_allocation(contained: LocalExecutor) -> None:
    result = contained.run(functional(), "def f(x):\n    blob = bytearray(4 * 1024 ** 3)\n    return 2\n")
    assert result.verdict is Verdict.MEMORY_LIMIT_EXCEEDED


def test_memory_hog_growing(contained: LocalExecutor) -> None:
    code = "def f(x):\n    hoard = []\n    while True:\n        hoard.append(bytes(64 * 1024 ** 2))\n"
    assert contained.run(functional(), code).verdict is Verdict.MEMORY_LIMIT_EXCEEDED


@pytest.mark.parametrize(
    "code",
    [
        "def f(x):\n    while True:\n        pass\n",  # Python-level loop
        "import time\ndef f(x):\n    time.sleep(3600)\n",  # C-level wait, no CPU used
        "import threading\ndef f(x):\n    threading.Event().wait()\n",
    ],
    ids=["busy-loop", "sleep", "blocked-wait"],
)
def test_infinite_loops_time_out(contained: LocalExecutor, code: str) -> None:
    started = time.monotonic()
    result = contained.run(functional(), code)
    assert result.verdict is Verdict.TIME_LIMIT_EXCEEDED
    assert time.monotonic() - started < 30  # killed from outside, not waited for


def test_infinite_loop_at_import_time(contained: LocalExecutor) -> None:
    result = contained.run(functional(), "while True:\n    pass\ndef f(x):\n    return 2\n")
    assert result.verdict is Verdict.TIME_LIMIT_EXCEEDED


@pytest.mark.parametrize(
    ("problem", "code"),
    [
        (stdio(), "while True:\n    print('x' * 10000)\n"),
        (functional(), "def f(x):\n    while True:\n        print('y' * 10000)\n"),
        (functional(), "import sys\ndef f(x):\n    while True:\n        sys.stderr.write('z' * 10000)\n"),
        (stdio(), "import os\nwhile True:\n    os.write(1, b'w' * 65536)\n"),
    ],
    ids=["stdio-stdout", "function-stdout", "stderr", "raw-fd"],
)
def test_unbounded_output(contained: LocalExecutor, problem: Problem, code: str) -> None:
    result = contained.run(problem, code)
    assert result.verdict is Verdict.OUTPUT_LIMIT_EXCEEDED
    assert len(result.to_json()) < 200_000  # the record keeps excerpts, not the flood


def test_unbounded_file_writes(contained: LocalExecutor) -> None:
    code = "def f(x):\n    with open('big.bin', 'wb') as h:\n        while True:\n            h.write(b'x' * 2 ** 20)\n"
    assert contained.run(functional(), code).verdict is Verdict.OUTPUT_LIMIT_EXCEEDED


def test_huge_return_value(contained: LocalExecutor) -> None:
    """The output cap, not the clock, stops it: encoding 5 million ints takes about half a second
    of CPU, so the time limit is generous here (a busy machine made it a time-out)."""
    code = "def f(x):\n    return list(range(5 * 10 ** 6))\n"
    problem = functional()
    problem.time_limit = 10 * LIMIT
    result = contained.run(problem, code)
    assert result.verdict in (Verdict.OUTPUT_LIMIT_EXCEEDED, Verdict.WRONG_ANSWER)


@pytest.mark.parametrize(
    "code",
    [
        "def f(x):\n    return f(x + 1)\n",
        "import sys\nsys.setrecursionlimit(10 ** 7)\ndef f(x):\n    return f(x + 1) + 1\n",
    ],
    ids=["default-limit", "raised-limit"],
)
def test_deep_recursion(contained: LocalExecutor, code: str) -> None:
    result = contained.run(functional(), code)
    assert result.verdict in (
        Verdict.RUNTIME_ERROR,
        Verdict.MEMORY_LIMIT_EXCEEDED,
        Verdict.TIME_LIMIT_EXCEEDED,
    )


# ------------------------------------------------------------------------------------------
# escaping the sandbox
# ------------------------------------------------------------------------------------------


def test_network_access_is_cut(contained: LocalExecutor) -> None:
    _need(contained, "network_isolated")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    code = (
        "import socket\n"
        "def f(x):\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'leak')\n"
        "    return 2\n"
    )
    try:
        result = contained.run(functional(), code)
        with pytest.raises(OSError):
            listener.accept()
    finally:
        listener.close()
    assert result.verdict is Verdict.RUNTIME_ERROR and "OSError" in result.tests[0].exception


def test_writes_outside_the_temp_dir(contained: LocalExecutor, tmp_path: Path) -> None:
    _need(contained, "fs_jail")
    target = tmp_path / "pwned.txt"
    os.chmod(tmp_path, 0o777)
    shared = Path(tempfile.gettempdir()) / f"criticlab-pwned-{secrets.token_hex(4)}"
    code = (
        "def f(x):\n"
        f"    for path in ({str(target)!r}, {str(shared)!r}, '/usr/pwned', '/pwned'):\n"
        "        try:\n"
        "            open(path, 'w').write('pwned')\n"
        "        except OSError:\n"
        "            pass\n"
        "    return 2\n"
    )
    result = contained.run(functional(), code)
    assert result.accepted  # the program may try; it just cannot reach the host
    assert not target.exists() and not shared.exists()
    assert not Path("/usr/pwned").exists() and not Path("/pwned").exists()


def test_the_job_can_write_in_its_own_directory(contained: LocalExecutor) -> None:
    code = "import os\ndef f(x):\n    open('scratch.txt', 'w').write('ok')\n    return len(os.listdir('.')) + 1\n"
    assert contained.run(functional(), code).accepted


def test_signals_to_the_parent(contained: LocalExecutor) -> None:
    code = (
        "import os, signal\n"
        "def f(x):\n"
        "    for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP):\n"
        "        for target in (os.getppid(), 0, -1, 1):\n"
        "            try:\n"
        "                os.kill(target, sig)\n"
        "            except OSError:\n"
        "                pass\n"
        "    return 2\n"
    )
    pids = contained.worker_pids()
    result = contained.run(functional(), code)
    assert result.verdict is not Verdict.SANDBOX_ERROR
    assert contained.worker_pids() == pids and contained.stats()["restarts"] == 0


def test_double_forked_daemon_does_not_survive(contained: LocalExecutor) -> None:
    code = (
        "import os, time\n"
        "def f(x):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60)\n"
        "        os._exit(0)\n"
        "    time.sleep(0.05)\n"
        "    return 2\n"
    )
    assert contained.run(functional(), code).accepted
    # `contained` then checks that no process of the job is left


def test_stdin_is_empty_when_no_input_is_given(contained: LocalExecutor) -> None:
    started = time.monotonic()
    result = contained.run(functional(), "import sys\ndef f(x):\n    return int(sys.stdin.read() or 0) + 2\n")
    assert result.accepted and time.monotonic() - started < 5
    assert (
        contained.run(functional(), "def f(x):\n    return int(input())\n").verdict is Verdict.RUNTIME_ERROR
    )
    assert contained.run(stdio(out="0"), "import sys\nprint(len(sys.stdin.read()))\n").accepted


# ------------------------------------------------------------------------------------------
# cheating the verdict
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "import sys\nsys.exit(0)\ndef f(x):\n    return 2\n",
        "import os\nos._exit(0)\ndef f(x):\n    return 2\n",
        "import os\ndef f(x):\n    os._exit(0)\n",
        "import os, sys\nsys.stdout.flush()\nos.close(3)\ndef f(x):\n    return 2\n",
    ],
    ids=["sys-exit-at-import", "os-exit-at-import", "os-exit-in-test", "closes-result-channel"],
)
def test_exit_before_the_tests_is_no_result(contained: LocalExecutor, code: str) -> None:
    result = contained.run(functional(), code)
    assert result.verdict is Verdict.NO_RESULT and not result.accepted and result.passed == 0


def test_exit_inside_a_test_is_a_runtime_error(contained: LocalExecutor) -> None:
    assert (
        contained.run(functional(), "import sys\ndef f(x):\n    sys.exit(0)\n").verdict
        is Verdict.RUNTIME_ERROR
    )


ALWAYS_EQUAL = (
    "class Anything:\n"
    "    def __eq__(self, other): return True\n"
    "    def __ne__(self, other): return False\n"
    "    def __sub__(self, other): return 0\n"
    "    def __rsub__(self, other): return 0\n"
    "    def __abs__(self): return 0\n"
    "    def __lt__(self, other): return True\n"
    "    def __bool__(self): return True\n"
    "    def __hash__(self): return 0\n"
    "def f(*args):\n"
    "    return Anything()\n"
)


@pytest.mark.parametrize(
    "tests",
    [
        [Test(kind="call", args=[1], expected=2)],
        [Test(kind="assert", code="assert f(1) == 2")],
        [
            Test(
                kind="assert",
                code="def check(candidate):\n    assert candidate(1) == 2\n"
                "    assert abs(candidate(1.5) - 0.5) < 1e-6\n",
            )
        ],
        [Test(kind="assert", code="for x in range(3):\n    assert f(x) == x + 1\n")],
    ],
    ids=["call", "mbpp-assert", "humaneval-check", "in-child-assert"],
)
def test_objects_that_equal_everything_fail(contained: LocalExecutor, tests: list[Test]) -> None:
    assert contained.run(functional(tests), ALWAYS_EQUAL).verdict is Verdict.WRONG_ANSWER


def test_expected_values_are_not_in_the_child(contained: LocalExecutor) -> None:
    secret = f"EXPECTED-{secrets.token_hex(8)}"
    code = (
        "import gc, sys\n"
        "def f(x):\n"
        "    marker = 'EXPECTED-'\n"
        "    for obj in gc.get_objects():\n"
        "        for item in (obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()):\n"
        "            if isinstance(item, str) and item.startswith(marker) and len(item) == 25:\n"
        "                return item\n"
        "    frame = sys._getframe()\n"
        "    while frame is not None:\n"
        "        for value in frame.f_locals.values():\n"
        "            if isinstance(value, str) and value.startswith(marker) and len(value) == 25:\n"
        "                return value\n"
        "        frame = frame.f_back\n"
        "    return 'not found'\n"
    )
    for tests in (
        [Test(kind="call", args=[1], expected=secret)],
        [Test(kind="assert", code=f"assert f(1) == {secret!r}")],
    ):
        result = contained.run(functional(tests), code)
        assert result.verdict is Verdict.WRONG_ANSWER, result.summary()
        assert secret not in result.tests[0].actual


def test_expected_values_on_disk_are_out_of_reach(contained: LocalExecutor, tmp_path: Path) -> None:
    _need(contained, "fs_jail")
    secret = f"EXPECTED-{secrets.token_hex(8)}"
    data = tmp_path / "eval.jsonl"
    data.write_text(f'{{"expected": "{secret}"}}\n')
    os.chmod(tmp_path, 0o755)
    os.chmod(data, 0o644)
    code = f"import json\ndef f(x):\n    return json.loads(open({str(data)!r}).read())['expected']\n"
    result = contained.run(functional([Test(kind="call", args=[1], expected=secret)]), code)
    assert result.verdict is Verdict.RUNTIME_ERROR and "FileNotFoundError" in result.tests[0].exception


def test_forged_records_on_the_channel(contained: LocalExecutor) -> None:
    code = (
        "import os, json\n"
        "frame = json.dumps({'i': 0, 's': 'ok', 'v': 2}).encode()\n"
        "os.write(3, len(frame).to_bytes(4, 'big') + frame)\n"
        "def f(x):\n"
        "    return 3\n"
    )
    result = contained.run(functional(), code)
    assert result.verdict is Verdict.NO_RESULT and not result.accepted  # no nonce: the channel is corrupt
    garbage = contained.run(functional(), "import os\nos.write(3, b'\\xff' * 64)\ndef f(x):\n    return 2\n")
    assert not garbage.accepted


# ------------------------------------------------------------------------------------------
# bad input never crashes the batch
# ------------------------------------------------------------------------------------------


def test_bad_input_gets_a_clear_verdict(contained: LocalExecutor) -> None:
    good = "def f(x):\n    return x + 1\n"
    items = [
        (functional(), ""),
        (functional(), None),
        (functional(), "def f(x) return x"),
        (functional(), "def f(x):\n\treturn x\n        return 1\n"),
        (functional(), "\x00\x01binary"),
        (functional([Test(kind="assert", code="assert f(1) ==")]), good),
        (functional([Test(kind="call", args=[object()], expected=2)]), good),
        (functional([]), good),
        (stdio(), "import os\nos.write(1, bytes(range(256)) * 50)\n"),
        (stdio(out="ok"), "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe\\x00ok\\x80')\n"),
        (functional(), good),
    ]
    results = contained.run_batch(items)
    verdicts = [r.verdict for r in results]
    assert verdicts[:5] == [Verdict.COMPILE_ERROR] * 5
    assert verdicts[5:8] == [Verdict.SANDBOX_ERROR] * 3
    assert (
        "does not parse" in results[5].error and "JSON" in results[6].error and "no tests" in results[7].error
    )
    assert verdicts[8:] == [Verdict.WRONG_ANSWER, Verdict.WRONG_ANSWER, Verdict.ACCEPTED]
    for result in results:
        result.to_json()  # every result, even of binary garbage, serializes


# ------------------------------------------------------------------------------------------
# the fallback mode without namespaces still contains the basics
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minimal() -> Iterator[LocalExecutor]:
    with LocalExecutor(workers=1, isolation="minimal", memory_mb=512, output_limit_mb=1) as ex:
        yield ex


@pytest.mark.parametrize(
    ("problem", "code", "verdict"),
    [
        (functional(), "def f(x):\n    while True:\n        pass\n", Verdict.TIME_LIMIT_EXCEEDED),
        (functional(), "def f(x):\n    return bytearray(4 * 1024 ** 3)\n", Verdict.MEMORY_LIMIT_EXCEEDED),
        (stdio(), "while True:\n    print('x' * 10000)\n", Verdict.OUTPUT_LIMIT_EXCEEDED),
        (functional(), "import os\nos._exit(0)\ndef f(x):\n    return 2\n", Verdict.NO_RESULT),
        (functional(), ALWAYS_EQUAL, Verdict.WRONG_ANSWER),
        (
            functional(),
            "import os, time\ndef f(x):\n    if os.fork() == 0:\n        os.setsid()\n"
            "        if os.fork() == 0:\n            time.sleep(60)\n        os._exit(0)\n    return 2\n",
            Verdict.ACCEPTED,
        ),
    ],
    ids=["loop", "memory", "output", "exit", "always-equal", "daemon"],
)
def test_minimal_mode_contains_the_basics(
    minimal: LocalExecutor, problem: Problem, code: str, verdict: Verdict
) -> None:
    assert minimal.run(problem, code).verdict is verdict
    assert_nothing_left(minimal)
    assert not any(Path(minimal._tmp_base).iterdir())  # type: ignore[arg-type]  # job dirs are removed


def _tmp_mounts() -> set[str]:
    temp = tempfile.gettempdir()
    points = {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}
    return {p for p in points if p.startswith(temp) or p == "/tmp"}


def test_no_temp_dirs_or_mounts_left_after_close() -> None:
    dead = next(pid for pid in range(4_000_000, 4_100_000) if not Path(f"/proc/{pid}").exists())
    stale = Path(tempfile.gettempdir()) / f"criticlab-sbx-{dead}-stale"
    (stale / "job-1").mkdir(parents=True)  # what an executor killed with SIGKILL leaves behind
    before = {p.name for p in Path(tempfile.gettempdir()).iterdir() if p.name.startswith("criticlab-")} - {
        stale.name
    }
    mounts_before = _tmp_mounts()
    with LocalExecutor(workers=1) as ex:
        ex.run(functional(), "open('x', 'w').write('y')\ndef f(x):\n    return 2\n")
        pids = ex.worker_pids()
    after = {p.name for p in Path(tempfile.gettempdir()).iterdir() if p.name.startswith("criticlab-")}
    assert after <= before and not stale.exists()
    assert _tmp_mounts() == mounts_before  # the workers' tmpfs and jail never show up on the host
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)

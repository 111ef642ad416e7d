"""The test harness that runs *inside* the sandboxed child, next to the untrusted program.

Standard library only, and no criticlab import: the warm worker loads this file by path and
forks; the SandboxFusion client embeds its source in the program it sends. The harness never
sees an expected value. It loads the program, runs the tests it was given (call arguments,
assertion code whose literal expectations were replaced by probes, or a stdin program) and
reports raw observations, one framed record per test, through ``emit``. The parent decides.

Records (dicts, JSON-encoded by ``emit``):

- ``{"ph": "load", "s": "compile"|"exc"|"exit"|"noentry"|"prelude", ...}``: the program could not
  be loaded (``prelude``: the problem's own prelude failed, which is not the program's fault).
- ``{"ph": "run"}``: the harness hands control to the program's code. The program can reach
  ``emit`` and so write any record, but only after this one: a prelude failure reported later
  is forged, and the parent treats it so.
- ``{"ph": "loaded"}``: the program is loaded; tests follow.
- ``{"i": k, "p": probe_id, "v": value}``: a probed expression's value inside assert test ``k``.
- ``{"i": k, "s": "ok"|"exc"|"exit"|"compile", "t": seconds, "v": value, "e", "m", "tb"}``:
  test ``k`` finished (``v`` is the encoded return value of a call test).

Values are encoded by :func:`encode` using exact built-in types only, so an object whose
``__eq__`` always returns True reaches the parent as an opaque type name, never as a match.
"""

import base64
import builtins
import contextlib
import json
import linecache
import marshal
import math
import os
import sys
import time
import traceback

SOLUTION_FILE = "solution.py"
TEST_FILE = "test.py"
MAX_DEPTH = 100
MAX_NODES = 1_000_000
BIG_INT_BITS = 12_000  # beyond ~3600 digits str(int) is refused by Python 3.11+; send hex instead
MAX_MESSAGE = 2000
MAX_TRACEBACK = 4000


class TooLarge(Exception):
    """A value has more nodes than the channel may carry."""


# ------------------------------------------------------------------------------------------
# value encoding (exact types only; the parent's codec decodes)
# ------------------------------------------------------------------------------------------


def encode(value):
    """Encode ``value`` as JSON-safe data; tags (``{"$t": ...}``) keep tuples, sets, bytes..."""
    return _enc(value, 0, [MAX_NODES])


def _float(x):
    if math.isfinite(x):
        return x
    return {"$f": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}


def _int(x):
    if x.bit_length() > BIG_INT_BITS:
        return {"$ih": hex(x)}
    return x


def _enc(v, depth, budget):
    budget[0] -= 1
    if budget[0] < 0:
        raise TooLarge()
    t = type(v)
    if v is None or t is bool or t is str:
        return v
    if t is int:
        return _int(v)
    if t is float:
        return _float(v)
    if depth > MAX_DEPTH:
        return {"$o": "<nested too deep>", "r": ""}
    d = depth + 1
    if t in _CONTAINERS or isinstance(v, (list, tuple, dict)):
        size = len(v) if t in _CONTAINERS else 0
        if size > budget[0]:
            raise TooLarge()
        if t is list and _flat(v):
            budget[0] -= size
            return list(v)
    if t is list:
        return [_enc(x, d, budget) for x in v]
    if t is tuple:
        return {"$t": [_enc(x, d, budget) for x in v]}
    if t is dict:
        return {"$d": [[_enc(k, d, budget), _enc(x, d, budget)] for k, x in v.items()]}
    if t is set:
        return {"$s": [_enc(x, d, budget) for x in v]}
    if t is frozenset:
        return {"$fs": [_enc(x, d, budget) for x in v]}
    if t is bytes:
        return {"$b": base64.b64encode(v).decode("ascii")}
    if t is bytearray:
        return {"$ba": base64.b64encode(bytes(v)).decode("ascii")}
    if t is complex:
        return {"$c": [_float(v.real), _float(v.imag)]}
    if t is range:
        return {"$r": [_int(v.start), _int(v.stop), _int(v.step)]}
    module = getattr(t, "__module__", "")
    if module == "decimal" and t.__name__ == "Decimal":
        return {"$dec": v.__class__.__str__(v)}
    if module == "fractions" and t.__name__ == "Fraction":
        return {"$fr": [_int(v.numerator), _int(v.denominator)]}
    # Subclasses of built-in types (IntEnum, namedtuple, OrderedDict, Counter...) are encoded
    # through the base type's own methods, so an overridden __eq__/__iter__ has no say.
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int):
        return _int(int.__int__(v))
    if isinstance(v, float):
        return _float(float.__float__(v))
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, tuple):
        return {"$t": [_enc(x, d, budget) for x in tuple.__iter__(v)]}
    if isinstance(v, list):
        return [_enc(x, d, budget) for x in list.__iter__(v)]
    if isinstance(v, dict):
        return {"$d": [[_enc(k, d, budget), _enc(x, d, budget)] for k, x in dict.items(v)]}
    if module.split(".")[0] == "numpy" and hasattr(v, "tolist"):
        return _enc(v.tolist(), d, budget)
    return {"$o": getattr(t, "__qualname__", "?"), "r": _safe_repr(v)}


_CONTAINERS = (list, tuple, dict, set, frozenset)
_SMALL = 1 << 62


def _flat(items):
    """A list of plain strings and moderate ints encodes as itself (the common large case)."""
    for x in items:
        t = type(x)
        if t is str or (t is int and -_SMALL < x < _SMALL) or x is None:
            continue
        return False
    return True


def _safe_repr(v, limit=200):
    try:
        text = repr(v)
    except BaseException:
        return "<unrepresentable>"
    if not isinstance(text, str):
        return "<unrepresentable>"
    return text[:limit]


def is_plain(v, depth=0):
    """True for values built only from exact built-in data types (what ``__cl_eq__`` trusts)."""
    t = type(v)
    if v is None or t in (bool, int, float, str, bytes, complex, range):
        return True
    if depth > MAX_DEPTH:
        return False
    if t in (list, tuple, set, frozenset):
        return all(is_plain(x, depth + 1) for x in v)
    if t is dict:
        return all(is_plain(k, depth + 1) and is_plain(x, depth + 1) for k, x in v.items())
    module = getattr(t, "__module__", "")
    return (module, t.__name__) in (("decimal", "Decimal"), ("fractions", "Fraction"))


def checked_eq(left, right):
    """``left == right`` for plain data only; anything else fails the assertion it replaces."""
    if not is_plain(left) or not is_plain(right):
        kinds = f"{type(left).__name__} == {type(right).__name__}"
        raise AssertionError(f"comparison of an unsupported value type ({kinds}) is not trusted")
    return left == right


# ------------------------------------------------------------------------------------------
# exceptions and tracebacks
# ------------------------------------------------------------------------------------------

_HARNESS_FILES = {os.path.abspath(__file__) if "__file__" in globals() else "<harness>"}


def _text(value):
    try:
        text = str(value)
    except BaseException:
        text = "<unprintable>"
    return text[:MAX_MESSAGE] if isinstance(text, str) else "<unprintable>"


def exc_info(err, strip=()):
    """Type, message and the traceback of the program's own frames (paths normalized)."""
    etype = type(err)
    name = etype.__name__ if etype.__module__ == "builtins" else f"{etype.__module__}.{etype.__qualname__}"
    try:
        frames = traceback.extract_tb(err.__traceback__)
        keep = [
            f
            for f in frames
            if os.path.abspath(f.filename) not in _HARNESS_FILES and f.filename != "<harness>"
        ]
        lines = ["Traceback (most recent call last):\n"] if keep else []
        lines += traceback.format_list(keep[-20:])
        lines += traceback.format_exception_only(etype, err)
        text = "".join(lines)
    except BaseException:
        text = f"{name}: {_text(err)}\n"
    cwd = _cwd()
    for path in (*strip, cwd):
        if path and len(path) > 1:
            text = text.replace(path, "<tmp>")
    return {"e": name, "m": _text(err), "tb": text[-MAX_TRACEBACK:]}


def _cwd():
    try:
        return os.getcwd()
    except OSError:
        return ""


def _register_source(filename, source):
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)


def _flush_stdio():
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()


# ------------------------------------------------------------------------------------------
# loading the program and running tests
# ------------------------------------------------------------------------------------------


def _compile(source, filename):
    _register_source(filename, source)
    return compile(source, filename, "exec", dont_inherit=True)


def resolve_entry(ns, entry):
    """The callable named by ``entry`` (``f`` or ``Class.method``); a bound method of a fresh
    instance for ``Class.method``. Returns ``(factory, error)``: ``factory()`` gives the callable."""
    if not entry:
        return None, "the problem names no entry point"
    head, _, method = entry.partition(".")
    obj = ns.get(head)
    if obj is None:
        return None, f"the program does not define {head!r} (the entry point)"
    if not method:
        if not callable(obj):
            return None, f"{head!r} is not callable"
        return (lambda: obj), None
    if not isinstance(obj, type):
        return None, f"{head!r} is not a class (entry point {entry!r})"
    if not hasattr(obj, method):
        return None, f"class {head!r} has no method {method!r}"
    return (lambda: getattr(obj(), method)), None


def _prelude(spec, ns, report):
    """Run the benchmark's prelude (its harness's imports) in ``ns``; False if it failed."""
    if not spec.get("prelude"):
        return True
    try:
        exec(_compile(spec["prelude"], "prelude.py"), ns)
    except BaseException as err:
        report(exc_info(err))
        return False
    return True


def run_functional(spec, first, last, emit):
    """Load the program once, then run call/assert tests ``first..last-1`` in order."""
    code = spec["code"]
    try:
        compiled = _compile(code, SOLUTION_FILE)
    except BaseException as err:  # SyntaxError, ValueError (NUL bytes), MemoryError, RecursionError
        emit({"ph": "load", "s": "compile", **exc_info(err)})
        return
    ns = {"__name__": spec.get("name") or "solution", "__builtins__": builtins}
    if not _prelude(spec, ns, lambda info: emit({"ph": "load", "s": "prelude", **info})):
        return
    emit({"ph": "run"})
    try:
        exec(compiled, ns)
        if spec.get("setup"):
            exec(_compile(spec["setup"], "setup.py"), ns)
    except SystemExit as err:
        emit({"ph": "load", "s": "exit", "code": _text(err.code)})
        return
    except BaseException as err:
        emit({"ph": "load", "s": "exc", **exc_info(err)})
        return
    factory = None
    if spec.get("needs_entry"):
        factory, problem = resolve_entry(ns, spec.get("entry", ""))
        if problem:
            emit({"ph": "load", "s": "noentry", "m": problem})
            return
    _flush_stdio()
    emit({"ph": "loaded"})
    tests = spec["tests"]
    for index in range(first, last):
        emit(_run_one(tests[index], index, ns, factory, emit))


def _run_one(test, index, ns, factory, emit):
    kind = test["k"]
    started = time.perf_counter()
    try:
        if kind == "call":
            args = json.loads(test["a"])
            fn = factory()
            value = fn(*args)
            elapsed = time.perf_counter() - started
            try:
                return {"i": index, "s": "ok", "t": elapsed, "v": encode(value)}
            except TooLarge:
                return {"i": index, "s": "big", "t": elapsed}
        tns = dict(ns)
        tns["__cl_probe__"] = _prober(index, emit)
        tns["__cl_eq__"] = checked_eq
        if "m" in test:  # compiled by the parent (same interpreter): trusted test code, no re-parse
            _register_source(TEST_FILE, test.get("d", ""))
            code = marshal.loads(base64.b64decode(test["m"]))
        else:
            code = _compile(test["c"], TEST_FILE)
        exec(code, tns)
        if test.get("check"):
            tns["check"](factory())
        elapsed = time.perf_counter() - started
        return {"i": index, "s": "ok", "t": elapsed}
    except SystemExit as err:
        return {"i": index, "s": "exit", "t": time.perf_counter() - started, "code": _text(err.code)}
    except BaseException as err:
        return {"i": index, "s": "exc", "t": time.perf_counter() - started, **exc_info(err)}
    finally:
        _flush_stdio()


def _prober(index, emit):
    def probe(probe_id, value):
        try:
            encoded = encode(value)
        except TooLarge:
            emit({"i": index, "p": probe_id, "big": True})
        else:
            emit({"i": index, "p": probe_id, "v": encoded})
        return value

    return probe


def run_stdio(spec, index, emit):
    """Run the whole program once as test ``index`` (stdin is already in place)."""
    try:
        compiled = _compile(spec["code"], SOLUTION_FILE)
    except BaseException as err:
        emit({"i": index, "s": "compile", "t": 0.0, **exc_info(err)})
        return
    ns = {"__name__": "__main__", "__builtins__": builtins}
    if not _prelude(spec, ns, lambda info: emit({"i": index, "s": "prelude", "t": 0.0, **info})):
        return
    emit({"ph": "run"})
    started = time.perf_counter()
    record = {"i": index, "s": "ok"}
    try:
        exec(compiled, ns)
    except SystemExit as err:
        if err.code not in (None, 0):
            record = {"i": index, "s": "exit", "code": _text(err.code)}
            if not isinstance(err.code, int):
                with contextlib.suppress(BaseException):
                    print(err.code, file=sys.stderr)
    except BaseException as err:
        record = {"i": index, "s": "exc", **exc_info(err)}
    record["t"] = time.perf_counter() - started
    try:
        sys.stdout.flush()
    except BaseException as err:  # e.g. the file-size limit, or a closed stdout
        if record["s"] == "ok":
            record = {"i": index, "s": "exc", "t": record["t"], **exc_info(err)}
    emit(record)


# ------------------------------------------------------------------------------------------
# channels
# ------------------------------------------------------------------------------------------


def frame_writer(fd, nonce):
    """``emit(record)`` writing length-prefixed JSON frames to ``fd``, one write per record.

    Each record is sent at once, so a test that fails an assertion and then hangs is still
    judged by its first failure. A process forked by the program (a fork bomb, a daemon) carries
    a copy of this harness; it must never report, so a write from any other pid ends that
    process silently.
    """
    owner = os.getpid()
    dumps = json.dumps
    write = os.write
    exit_now = os._exit

    def emit(record):
        if os.getpid() != owner:
            exit_now(0)
        record["n"] = nonce
        data = dumps(record, separators=(",", ":"), allow_nan=False).encode("utf-8", "surrogatepass")
        view = memoryview(len(data).to_bytes(4, "big") + data)
        while view:
            written = write(fd, view)
            view = view[written:]

    return emit


MARKER = "@@criticlab-record@@"


def marker_writer(nonce, stream=None):
    """``emit(record)`` writing one marker line per record (for servers with only stdout)."""
    owner = os.getpid()

    def emit(record):
        if os.getpid() != owner:
            os._exit(0)
        record["n"] = nonce
        data = json.dumps(record, separators=(",", ":"), allow_nan=False)
        out = stream or sys.__stdout__
        out.write(f"\n{MARKER}{base64.b64encode(data.encode('utf-8', 'surrogatepass')).decode('ascii')}\n")
        out.flush()

    return emit


def standalone(spec, nonce):
    """Entry point of a self-contained program (SandboxFusion): run ``spec`` reporting on stdout."""
    emit = marker_writer(nonce, sys.stdout)
    run_functional(spec, spec.get("first", 0), spec.get("last", len(spec["tests"])), emit)
    _flush_stdio()
    os._exit(0)

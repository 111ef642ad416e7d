"""Comparators, value codec and assertion rewriting: the parent's side of every verdict."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest

from criticlab.sandbox import _child
from criticlab.sandbox.asserts import MalformedTest, judge_probe, rewrite_assert_test
from criticlab.sandbox.codec import Opaque, decode
from criticlab.sandbox.compare import (
    compare_stdout,
    compare_strict,
    compare_tokens,
    compare_values,
    floats_close,
    get_checker,
    register_checker,
    run_checker,
)

# ------------------------------------------------------------------------------------------
# stdout
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        ("1 2 3\n", "1  2\n3", True),  # whitespace-insensitive
        ("YES", "YES\n\n", True),
        ("YES", "yes", False),  # case matters
        ("10", "10.0", False),  # an integer token must match exactly
        ("10", "010", True),  # ... as a number
        ("0.333333", "0.3333331", True),  # floats within 1e-5
        ("0.3333", "0.3334", False),
        ("1000000.0", "1000005.0", True),  # relative tolerance
        ("1e-9", "2e-9", True),  # absolute tolerance
        ("nan", "nan", True),
        ("inf", "1e308", False),
        ("1 2", "1 2 3", False),
        ("", "", True),
        ("abc", "abd", False),
    ],
)
def test_token_comparison(expected: str, actual: str, ok: bool) -> None:
    assert compare_tokens(expected, actual).ok is ok


def test_token_rule_says_when_float_tolerance_was_used() -> None:
    assert compare_tokens("1 2", "1 2").rule == "tokens"
    assert compare_tokens("0.5", "0.5000001").rule.startswith("tokens+float-tol")


def test_token_failure_names_the_position() -> None:
    outcome = compare_tokens("1 2 3", "1 5 3")
    assert not outcome.ok and "token 1" in outcome.detail


def test_strict_mode_compares_lines() -> None:
    assert compare_strict("a b\nc\n", "a b  \r\nc\n\n").ok  # trailing spaces and blank lines only
    assert not compare_strict("a b\nc", "a  b\nc").ok
    assert not compare_strict("0.5", "0.50").ok
    assert compare_stdout("a", "a", mode="strict").rule == "strict-lines"
    with pytest.raises(ValueError, match="unknown stdout comparison"):
        compare_stdout("a", "a", mode="fuzzy")


def test_floats_close_handles_specials() -> None:
    assert floats_close(math.nan, math.nan)
    assert not floats_close(math.nan, 1.0)
    assert floats_close(math.inf, math.inf) and not floats_close(math.inf, -math.inf)


# ------------------------------------------------------------------------------------------
# values
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        ([1, 2], (1, 2), True),  # JSON has no tuples
        ([1, 2], [1, 2, 3], False),
        (0.1 + 0.2, 0.3, True),
        (1.0, 1.1, False),
        (True, 1, False),  # bool is not an int here
        (1, 1.0, True),
        ({"a": [1.0]}, {"a": [1.000001]}, True),
        ({"1": 2}, {1: 2}, True),  # JSON keys are strings
        ({"a": 1}, {"b": 1}, False),
        ("x", "x", True),
        (None, None, True),
        (None, 0, False),
    ],
)
def test_value_comparison(expected: object, actual: object, ok: bool) -> None:
    assert compare_values(expected, actual).ok is ok


def test_value_rule_records_tolerance() -> None:
    assert compare_values(3, 3).rule == "exact"
    assert compare_values(0.3, 0.1 + 0.2).rule.startswith("float-tol")
    assert not compare_values(1.0, 1.01, tol=1e-3).ok
    assert compare_values(1.0, 1.01, tol=0.1).ok


def test_opaque_values_never_compare_equal() -> None:
    opaque = Opaque("Sneaky")
    assert not compare_values(1, opaque).ok
    assert not compare_values([1], [opaque]).ok
    with pytest.raises(TypeError):
        _ = opaque == 1
    with pytest.raises(TypeError):
        bool(opaque)


def test_checker_registry_and_errors() -> None:
    register_checker("test-any-order", lambda test, actual: sorted(actual.split()) == sorted(test.split()))
    checker = get_checker("test-any-order")
    assert run_checker("test-any-order", checker, "1 2 3", "3 1 2").ok
    assert run_checker("test-any-order", checker, "1 2 3", "3 1 1").rule == "checker:test-any-order"
    broken = run_checker("broken", lambda t, a: 1 / 0, "x", "y")
    assert not broken.ok and "ZeroDivisionError" in broken.detail
    with pytest.raises(KeyError, match="no checker named"):
        get_checker("does-not-exist")


# ------------------------------------------------------------------------------------------
# codec: the child's encoder and the parent's decoder
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -5,
        2**200,
        1.5,
        "txt",
        "",
        [1, [2, [3]]],
        (1, "a"),
        {"k": (1, 2)},
        {(1, 2): "tuple key"},
        {1, 2},
        frozenset({3}),
        b"\x00\xff",
        bytearray(b"ab"),
        3 + 4j,
        range(1, 10, 2),
        Decimal("1.10"),
        Fraction(1, 3),
        [],
        {},
        (),
        float("inf"),
        10**5000,
    ],
    ids=lambda v: type(v).__name__,
)
def test_codec_round_trip(value: object) -> None:
    decoded = decode(_child.encode(value))
    assert decoded == value and type(decoded) is type(value)


def test_codec_nan_and_subclasses() -> None:
    assert math.isnan(decode(_child.encode(float("nan"))))
    from collections import Counter, OrderedDict, namedtuple
    from enum import IntEnum

    Point = namedtuple("Point", "x y")

    class Color(IntEnum):
        RED = 1

    assert decode(_child.encode(Point(1, 2))) == (1, 2)
    assert type(decode(_child.encode(Color.RED))) is int
    assert decode(_child.encode(OrderedDict(a=1))) == {"a": 1}
    assert decode(_child.encode(Counter("aab"))) == {"a": 2, "b": 1}


def test_codec_lying_objects_become_opaque() -> None:
    class AlwaysEqual:
        def __eq__(self, other: object) -> bool:
            return True

    class LyingList(list):
        def __iter__(self):  # type: ignore[override]
            return iter([42])

    decoded = decode(_child.encode(AlwaysEqual()))
    assert isinstance(decoded, Opaque) and decoded.type_name.endswith("AlwaysEqual")
    assert decode(_child.encode(LyingList([1, 2]))) == [1, 2]  # the base type's items, not the lie


@pytest.mark.parametrize(
    "forged",
    [{"$s": [[1]]}, {"$zz": 1}, {"a": 1, "b": 2, "c": 3}, {"$c": [1]}, {"$b": "%%%"}, {"$fr": [1, 0]}],
)
def test_decoding_forged_data_never_raises(forged: object) -> None:
    assert isinstance(decode(forged), Opaque)


def test_encoder_bounds_depth_and_size() -> None:
    nested: list = []
    for _ in range(500):
        nested = [nested]
    assert "nested too deep" in str(_child.encode(nested))
    with pytest.raises(_child.TooLarge):
        _child._enc(list(range(100)), 0, [10])


# ------------------------------------------------------------------------------------------
# assert rewriting
# ------------------------------------------------------------------------------------------


def test_literal_expectations_leave_the_code() -> None:
    code = (
        "def check(candidate):\n"
        "    assert candidate(3.5) == 0.5\n"
        "    assert abs(candidate(1.33) - 0.33) < 1e-6\n"
        "    assert candidate('SECRET-EXPECTED') != 'SECRET-NOT-WANTED'\n"
        "    assert math.isclose(candidate(2), 2.25, rel_tol=1e-3)\n"
        "    assert candidate(0) is None\n"
        "    assert not candidate(-1)\n"
        "    assert True\n"
    )
    rewritten = rewrite_assert_test(code)
    assert rewritten.call_check
    assert "0.5" not in rewritten.code and "0.33" not in rewritten.code and "2.25" not in rewritten.code
    assert "SECRET-NOT-WANTED" not in rewritten.code and "SECRET-EXPECTED" in rewritten.code
    kinds = [p.kind for p in rewritten.probes.values()]
    assert kinds == ["compare", "abs_tol", "compare", "isclose", "compare", "falsy"]
    assert all(p.required for p in rewritten.probes.values())
    assert rewritten.in_child == 1  # assert True


def test_non_literal_equality_is_checked_in_the_child() -> None:
    rewritten = rewrite_assert_test("for x in range(3):\n    assert f(x) == g(x)\n")
    assert "__cl_eq__(f(x), g(x))" in rewritten.code
    assert not rewritten.probes and rewritten.in_child == 1


def test_probes_in_loops_are_not_required() -> None:
    rewritten = rewrite_assert_test("assert f(1) == 1\nfor x in []:\n    assert f(x) == 2\n")
    assert [p.required for p in rewritten.probes.values()] == [True, False]


def test_check_called_by_the_test_itself_is_not_called_twice() -> None:
    assert not rewrite_assert_test("def check(c):\n    assert c(1) == 1\ncheck(f)\n").call_check
    assert rewrite_assert_test("def check(c):\n    assert c(1) == 1\n").call_check


def test_unparsable_test_is_malformed() -> None:
    with pytest.raises(MalformedTest):
        rewrite_assert_test("assert f(1) ==")


@pytest.mark.parametrize(
    ("code", "value", "ok"),
    [
        ("assert f() == 2", 2, True),
        ("assert f() == 2", 3, False),
        ("assert f() == [1, 2]", (1, 2), False),  # Python semantics: a tuple is not a list
        ("assert f() in (1, 2)", 2, True),
        ("assert abs(f() - 0.5) < 1e-6", 0.5000001, True),
        ("assert abs(f() - 0.5) < 1e-6", 0.6, False),
        ("assert abs(f() - 0.5) < 1e-6", "0.5", False),
        ("assert math.isclose(f(), 2.5, rel_tol=0.01)", 2.51, True),
        ("assert f()", [0], True),
        ("assert f()", [], False),
        ("assert not f()", 0, True),
        ("assert f() is True", 1, False),
        ("assert f() == 2", Opaque("Liar"), False),
        ("assert f()", Opaque("Liar"), False),
    ],
)
def test_probe_judgement(code: str, value: object, ok: bool) -> None:
    probe = rewrite_assert_test(code).probes[0]
    assert judge_probe(probe, value)[0] is ok

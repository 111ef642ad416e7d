"""The record codec shared by profiles and metrics files: what it accepts, converts and names."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from criticlab import records, stages
from criticlab.config import Profile


@dataclass
class Inner:
    rate: float
    label: str = ""


@dataclass
class Outer:
    count: int
    inner: Inner
    maybe: Inner | None = None
    ratios: list[float] = field(default_factory=list)
    sizes: dict[str, float] = field(default_factory=dict)
    mode: Literal["a", "b"] = "a"
    cap: int | None = None
    flag: bool = False
    anything: Any = None
    origin: str = field(default="", metadata={"internal": True})


def test_decode_builds_nested_records_and_widens_ints_everywhere_a_float_is_declared() -> None:
    raw = {
        "count": 2,
        "inner": {"rate": 1},
        "maybe": {"rate": 3, "label": "x"},
        "ratios": [0, 0.5],
        "sizes": {"m": 4},
        "mode": "b",
        "cap": None,
        "anything": [1, "two"],
    }
    out = records.decode(Outer, raw)
    assert out == Outer(2, Inner(1.0), Inner(3.0, "x"), [0.0, 0.5], {"m": 4.0}, "b", None, False, [1, "two"])
    assert all(
        isinstance(v, float) for v in (out.inner.rate, out.maybe.rate, *out.ratios, *out.sizes.values())
    )


@pytest.mark.parametrize(
    ("raw", "at", "expected"),
    [
        ({"count": True, "inner": {"rate": 1}}, "count", int),  # a bool is not an integer
        ({"count": 1, "inner": {"rate": False}}, "inner.rate", float),
        ({"count": 1, "inner": 3}, "inner", Inner),
        ({"count": 1, "inner": {"rate": 1}, "ratios": [0.1, "x"]}, "ratios[1]", float),
        ({"count": 1, "inner": {"rate": 1}, "mode": "c"}, "mode", Literal["a", "b"]),
        ({"count": 1, "inner": {"rate": 1}, "cap": 1.5}, "cap", int | None),
        ({"count": 1, "inner": {"rate": 1}, "flag": 1}, "flag", bool),
    ],
)
def test_a_wrong_type_names_the_field_the_type_and_the_value(raw: dict, at: str, expected: Any) -> None:
    with pytest.raises(records.RecordError) as err:
        records.decode(Outer, raw)
    assert (err.value.kind, err.value.at, err.value.expected) == ("type", at, expected)
    with pytest.raises(records.RecordError):
        records.check(Outer, raw)  # the partial check applies the same rules


def test_an_optional_record_that_is_wrong_inside_says_where_not_just_that_the_union_failed() -> None:
    with pytest.raises(records.RecordError) as err:
        records.decode(Outer, {"count": 1, "inner": {"rate": 1}, "maybe": {"rate": "fast"}})
    assert (err.value.kind, err.value.at) == ("type", "maybe.rate")
    with pytest.raises(records.RecordError) as err:
        records.decode(Outer, {"count": 1, "inner": {"rate": 1}, "maybe": {"rate": 1, "colour": "red"}})
    assert (err.value.kind, err.value.at, err.value.names) == ("unknown", "maybe", ("colour",))


def test_unknown_keys_come_in_their_order_with_the_declared_ones() -> None:
    with pytest.raises(records.RecordError) as err:
        records.check(Outer, {"zeta": 1, "count": 1, "alpha": 2})
    assert err.value.kind == "unknown" and err.value.at == ""
    assert err.value.names == ("zeta", "alpha")
    assert "origin" not in err.value.known and err.value.known == tuple(sorted(err.value.known))


def test_check_accepts_a_partial_layer_and_decode_needs_every_required_field() -> None:
    records.check(Outer, {"inner": {"label": "only this"}})
    with pytest.raises(records.RecordError) as err:
        records.decode(Outer, {"inner": {"rate": 1.0}})
    assert (err.value.kind, err.value.at) == ("missing", "count")
    with pytest.raises(records.RecordError) as err:
        records.decode(Outer, {"count": 1, "inner": {"label": "x"}})
    assert (err.value.kind, err.value.at) == ("missing", "inner.rate")


def test_internal_fields_are_set_by_code_not_by_a_file() -> None:
    with pytest.raises(records.RecordError) as err:
        records.check(Outer, {"origin": "a.yaml"})
    assert err.value.names == ("origin",)
    assert records.decode(Outer, {"count": 1, "inner": {"rate": 1}, "origin": "a.yaml"}).origin == "a.yaml"
    assert "origin" not in records.fields(Outer) and "origin" in records.fields(Outer, internal=True)


def test_an_annotation_the_codec_does_not_know_is_a_schema_bug() -> None:
    @dataclass
    class Odd:
        when: tuple[int, int]

    with pytest.raises(TypeError, match="unsupported type"):
        records.decode(Odd, {"when": [1, 2]})


def test_describe_words_the_annotations_of_the_schema() -> None:
    assert records.describe(int | None) == "an integer or null"
    assert records.describe(list[str]) == "a list of a string"
    assert records.describe(dict[str, float]) == "a mapping of a string to a number"
    assert records.describe(Literal["x", "y"]) == "one of 'x', 'y'"
    assert records.describe(Inner) == "a mapping of keys"
    assert records.describe(bool) == "true or false"


def test_the_profile_and_every_stage_record_round_trip_through_the_codec() -> None:
    profile = Profile()
    assert records.decode(Profile, dataclasses.asdict(profile)) == profile
    records.check(Profile, {k: v for k, v in dataclasses.asdict(profile).items() if k != "source"})
    for cls in stages.RECORDS.values():  # every annotation of every record is one the codec reads
        hints = records.fields(cls)
        assert hints, cls
        for name, typ in hints.items():
            assert records.describe(typ) != str(typ) or typ is Any, (cls.__name__, name, typ)

"""One codec between plain mappings (YAML, JSON) and typed records (dataclasses).

A profile layer is checked against :class:`criticlab.config.Profile` before the layers merge, and
a ``metrics.json`` is read back into its stage's record (:mod:`criticlab.stages`). Both walk the
same type annotations with the same rules, so they share this one walk instead of keeping two
that drift apart:

- a key the record does not declare is an error (the caller adds a suggestion if it wants one);
- ``bool`` is never an ``int`` or a ``float``; an ``int`` is a ``float`` and becomes one;
- ``X | None``, ``Literal[...]``, ``list[X]``, ``dict[K, V]``, nested records and ``Any`` are
  understood; any other annotation is a bug in the schema and raises :class:`TypeError`.

:func:`check` accepts a partial mapping (a profile layer sets only some keys); :func:`decode`
builds the record and needs every field without a default. Errors are :class:`RecordError`,
which says what went wrong where; the caller words it for its own reader (a profile key and its
file, a metrics field and its file).

:func:`parse_scalar` turns one value given as text on a command line into the value a record field
takes, so the tools that override profile keys read them as the profile loader would.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, Union

T = TypeVar("T")


@dataclass(eq=False)
class RecordError(ValueError):
    """What does not match a record, and where (``at``: the dotted field, ``""`` for the whole).

    ``kind`` is ``unknown`` (``names``: the undeclared keys in their order, ``known``: the declared
    ones), ``missing`` (a field without a default is absent) or ``type`` (``expected``: the
    annotation, ``value``: what was found).
    """

    kind: Literal["unknown", "missing", "type"]
    at: str
    expected: Any = None
    value: Any = None
    names: tuple[str, ...] = ()
    known: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.kind == "unknown":
            return f"unknown field(s) {list(self.names)} in {self.at or 'the record'}"
        if self.kind == "missing":
            return f"field {self.at!r} is missing"
        return f"{self.at or 'the record'} must be {describe(self.expected)}, got {self.value!r}"


def fields(cls: type, *, internal: bool = False) -> dict[str, Any]:
    """The declared fields of a record class and their resolved annotations.

    Fields marked ``metadata={"internal": True}`` are set by code, never by a file: they are left
    out unless ``internal`` is true (building a record may set them; a file may not).
    """
    hints = typing.get_type_hints(cls)
    return {
        f.name: hints[f.name] for f in dataclasses.fields(cls) if internal or not f.metadata.get("internal")
    }


def check(cls: type, raw: Any, *, at: str = "") -> None:
    """Raise :class:`RecordError` unless ``raw`` is a mapping of some of ``cls``'s public fields,
    each of its declared type (fields may be missing: a profile layer sets only what it changes)."""
    _record(cls, raw, at, partial=True)


def decode(cls: type[T], raw: Any, *, at: str = "") -> T:
    """Build a ``cls`` from ``raw``: every field without a default present, every value of its
    declared type, ints widened to float where a float is declared; :class:`RecordError` otherwise."""
    return _record(cls, raw, at, partial=False)


def _record(cls: type, raw: Any, at: str, *, partial: bool) -> Any:
    if not isinstance(raw, dict):
        raise RecordError("type", at, cls, raw)
    declared = fields(cls, internal=not partial)
    unknown = tuple(str(key) for key in raw if key not in declared)
    if unknown:
        raise RecordError("unknown", at, names=unknown, known=tuple(sorted(declared)))
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in declared:
            continue
        dotted = f"{at}.{f.name}" if at else f.name
        if f.name not in raw:
            if not partial and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordError("missing", dotted)
            continue
        values[f.name] = _value(declared[f.name], raw[f.name], dotted, partial=partial)
    return None if partial else cls(**values)


def _value(typ: Any, value: Any, at: str, *, partial: bool) -> Any:
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if typ is Any:
        return value
    if dataclasses.is_dataclass(typ):
        return _record(typ, value, at, partial=partial)  # type: ignore[arg-type]
    if origin in (Union, types.UnionType):
        for option in args:
            try:
                return _value(option, value, at, partial=partial)
            except RecordError as err:
                if err.kind != "type" or err.at != at:
                    raise  # the value is of this option's kind but wrong inside: say where
        raise RecordError("type", at, typ, value)
    if origin is Literal:
        if value in args:
            return value
        raise RecordError("type", at, typ, value)
    if origin is list:
        if not isinstance(value, list):
            raise RecordError("type", at, typ, value)
        (item,) = args or (Any,)
        return [_value(item, v, f"{at}[{i}]", partial=partial) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise RecordError("type", at, typ, value)
        key, item = args or (Any, Any)
        out = {}
        for k, v in value.items():
            _value(key, k, f"{at}.{k}", partial=partial)
            out[k] = _value(item, v, f"{at}.{k}", partial=partial)
        return out
    if typ is type(None):
        if value is None:
            return None
        raise RecordError("type", at, typ, value)
    if typ is bool or typ is str:
        if isinstance(value, typ):
            return value
        raise RecordError("type", at, typ, value)
    if typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise RecordError("type", at, typ, value)
    if typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise RecordError("type", at, typ, value)
    raise TypeError(f"unsupported type in a record schema: {typ!r}")


def describe(typ: Any) -> str:
    """An annotation in words, for error messages (``int | None`` → ``an integer or null``)."""
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if dataclasses.is_dataclass(typ):
        return "a mapping of keys"
    if typ is type(None):
        return "null"
    if origin is list:
        return f"a list of {describe(args[0])}" if args else "a list"
    if origin is dict:
        return f"a mapping of {describe(args[0])} to {describe(args[1])}" if args else "a mapping"
    if typ is Any:
        return "anything"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(typ, str(typ))


def parse_scalar(text: str) -> Any:
    """A value given on a command line (``--grid``, ``--sft``): an int or a float where it reads as
    one (``1e-5`` too, which YAML 1.1 leaves a string), otherwise a YAML scalar (``true``, ``constant``)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    import yaml

    return yaml.safe_load(text)

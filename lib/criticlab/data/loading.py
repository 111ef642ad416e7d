"""Shared plumbing for every loader: where rows come from, and what a load reports.

A loader's argument is either a local path (a ``.jsonl``/``.jsonl.gz``/``.json``/``.parquet``
file, or a directory of them) or a Hugging Face dataset id (``owner/name``). The two are told
apart by :func:`is_hub_id`. Rows are converted one by one; a row that cannot be converted raises
:class:`SkipRow` with a short reason, which is counted in :attr:`LoadResult.skipped` (with the
first few row locations in :attr:`LoadResult.skip_examples`) instead of crashing the load. A
source that yields no record at all is a :class:`DataSourceError` naming the file or dataset id.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")

LOCAL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".parquet")
"""File types a local source may use; a directory is read file by file in name order."""

MAX_SKIP_EXAMPLES = 3
"""How many row locations are kept per skip reason (enough to find the rows, small enough to print)."""

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


class DataSourceError(RuntimeError):
    """A source cannot be read at all: missing file, unreachable hub, or no valid row."""


class SkipRow(Exception):
    """Raised by a row converter: the row is unusable for ``reason`` (a short, countable phrase)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class LoadResult(Generic[T]):
    """What a loader returns: the records plus an account of every row it did not keep.

    ``location`` is the local path or ``hub:<id>@<revision>`` that was read, so a notebook can say
    exactly where its data came from. ``records`` are :class:`~criticlab.data.types.Problem` for
    every loader except JudgeBench (:class:`~criticlab.data.judgebench.JudgePair`).
    """

    source: str
    location: str
    records: list[T] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    skip_examples: dict[str, list[str]] = field(default_factory=dict)
    rows_read: int = 0

    @property
    def problems(self) -> list[T]:
        """Alias of ``records`` for the problem loaders."""
        return self.records

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] += 1
        examples = self.skip_examples.setdefault(reason, [])
        if len(examples) < MAX_SKIP_EXAMPLES:
            examples.append(where)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready account for ``metrics.json``."""
        return {
            "source": self.source,
            "location": self.location,
            "rows_read": self.rows_read,
            "loaded": len(self.records),
            "skipped": dict(sorted(self.skipped.items())),
            "skip_examples": {k: list(v) for k, v in sorted(self.skip_examples.items())},
        }

    def __repr__(self) -> str:
        skipped = sum(self.skipped.values())
        return (
            f"LoadResult(source={self.source!r}, location={self.location!r}, loaded={len(self.records)}, "
            f"skipped={skipped}{' ' + dict(self.skipped).__repr__() if skipped else ''})"
        )


# --------------------------------------------------------------------------------------------
# Local path or hub id
# --------------------------------------------------------------------------------------------


def is_hub_id(spec: str | Path) -> bool:
    """True when ``spec`` names a Hugging Face dataset rather than a local file or directory.

    A hub id has exactly one slash, no known file suffix, does not start with ``.``, ``/`` or
    ``~``, and is not an existing path. Anything else is a local path (so ``data/x.jsonl`` and
    ``./owner/name`` are paths, ``BAAI/TACO`` is an id).
    """
    if isinstance(spec, Path):
        return False
    text = str(spec)
    if text.startswith((".", "/", "~")) or text.lower().endswith(LOCAL_SUFFIXES):
        return False
    if Path(text).exists():
        return False
    return bool(_HUB_ID.match(text))


def local_files(path: str | Path, split: str | None = None) -> list[Path]:
    """The data files behind a local source: the file itself, or a directory's data files.

    For a directory, files whose name contains ``split`` are preferred when there are any (so a
    downloaded hub snapshot with ``train-*.parquet`` and ``test-*.parquet`` reads the right split).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataSourceError(f"{path}: no such file or directory")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(LOCAL_SUFFIXES))
    if split:
        chosen = [p for p in files if split in p.name]
        files = chosen or files
    if not files:
        raise DataSourceError(f"{path}: directory holds no {'/'.join(LOCAL_SUFFIXES)} files")
    return files


def iter_local_rows(path: str | Path, split: str | None = None) -> Iterator[tuple[str, Any]]:
    """Yield ``(location, row)`` pairs from a local source, ``location`` being ``file:line``.

    A JSONL line that is not valid JSON is yielded as a :class:`SkipRow` instead of a row so the
    loader counts it rather than aborting the whole file.
    """
    for file in local_files(path, split):
        name = file.name.lower()
        if name.endswith(".parquet"):
            yield from _iter_parquet(file)
        elif name.endswith((".jsonl", ".jsonl.gz")):
            yield from _iter_jsonl_tolerant(file)
        else:
            yield from _iter_json(file, split)


def _open_text(file: Path):
    if file.name.lower().endswith(".gz"):
        return gzip.open(file, "rt", encoding="utf-8")
    return file.open(encoding="utf-8")


def _iter_jsonl_tolerant(file: Path) -> Iterator[tuple[str, Any]]:
    with _open_text(file) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{file}:{number}"
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as err:
                yield where, SkipRow("invalid JSON line", err.msg)


def _iter_json(file: Path, split: str | None) -> Iterator[tuple[str, Any]]:
    """A ``.json`` file: a list of rows, or a mapping holding one (``{"train": [...]}`` or ``{"data": [...]}``)."""
    try:
        with _open_text(file) as handle:
            data = json.load(handle)
    except json.JSONDecodeError as err:
        raise DataSourceError(f"{file}: not valid JSON ({err})") from err
    if isinstance(data, dict):
        for key in (split, "data", "rows", "train", "test"):
            if key and isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            raise DataSourceError(f"{file}: a JSON file must hold a list of rows (or a mapping with one)")
    if not isinstance(data, list):
        raise DataSourceError(f"{file}: a JSON file must hold a list of rows, got {type(data).__name__}")
    for index, row in enumerate(data):
        yield f"{file}[{index}]", row


def _iter_parquet(file: Path) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(file)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise DataSourceError(f"{file}: not a readable parquet file ({err})") from err
    for index, row in enumerate(table.to_pylist()):
        yield f"{file}[{index}]", row


# --------------------------------------------------------------------------------------------
# Hugging Face hub
# --------------------------------------------------------------------------------------------


def hub_error(
    dataset_id: str, err: BaseException, *, revision: str | None, what: str = ""
) -> DataSourceError:
    """The one error every hub failure becomes: it names the dataset and says what to do offline."""
    detail = f" ({what})" if what else ""
    local = Path(dataset_id).expanduser().resolve()
    return DataSourceError(
        f"cannot load Hugging Face dataset {dataset_id!r}{detail} at revision {revision or 'main'}: "
        f"the hub is unreachable or the dataset is not cached ({type(err).__name__}: {err}). "
        f"Offline, download it elsewhere and pass a local path instead (a .jsonl/.json/.parquet file "
        f"or a directory of them) via the profile's data.paths. (Read as a hub id because no local "
        f"file or directory {local} exists.)"
    )


def iter_hub_rows(
    dataset_id: str,
    *,
    split: str,
    revision: str | None = None,
    config_name: str | None = None,
) -> Iterator[tuple[str, Any]]:
    """Yield ``(location, row)`` from ``datasets.load_dataset(dataset_id, config_name, split=...)``."""
    try:
        import datasets

        dataset = datasets.load_dataset(dataset_id, config_name, split=split, revision=revision)
    except Exception as err:  # offline: ConnectionError, OSError, DatasetNotFoundError, ...
        raise hub_error(dataset_id, err, revision=revision, what=f"split {split!r}") from err
    for index, row in enumerate(dataset):
        yield f"{dataset_id}[{split}][{index}]", row


def hub_location(dataset_id: str, revision: str | None, split: str | None = None) -> str:
    suffix = f"[{split}]" if split else ""
    return f"hub:{dataset_id}@{revision or 'main'}{suffix}"


def iter_rows(
    spec: str | Path,
    *,
    split: str | None,
    revision: str | None = None,
    config_name: str | None = None,
) -> tuple[str, Iterator[tuple[str, Any]]]:
    """``(location, rows)`` for a local path or a hub id (see :func:`is_hub_id`)."""
    if is_hub_id(spec):
        text = str(spec)
        return hub_location(text, revision, split), iter_hub_rows(
            text, split=split or "train", revision=revision, config_name=config_name
        )
    path = Path(spec).expanduser()
    local_files(path, split)  # fail now, naming the path, rather than on first iteration
    return str(path), iter_local_rows(path, split)


# --------------------------------------------------------------------------------------------
# Converting rows
# --------------------------------------------------------------------------------------------


def collect(
    source: str,
    location: str,
    rows: Iterable[tuple[str, Any]],
    convert: Callable[[dict[str, Any], int], T | None],
    *,
    limit: int | None = None,
) -> LoadResult[T]:
    """Run ``convert(row, index)`` over every row, counting :class:`SkipRow` reasons.

    ``convert`` may return ``None`` for a row it leaves out on purpose after raising nothing (not
    used by the built-in loaders). ``limit`` stops after that many records. Raises
    :class:`DataSourceError` naming ``location`` when not a single record was produced.
    """
    result: LoadResult[T] = LoadResult(source=source, location=location)
    for index, (where, row) in enumerate(rows):
        result.rows_read += 1
        if isinstance(row, SkipRow):
            result.skip(row.reason, f"{where}: {row.detail}" if row.detail else where)
            continue
        if not isinstance(row, dict):
            result.skip("row is not an object", f"{where}: got {type(row).__name__}")
            continue
        try:
            record = convert(row, index)
        except SkipRow as skip:
            result.skip(skip.reason, f"{where}: {skip.detail}" if skip.detail else where)
            continue
        if record is not None:
            result.records.append(record)
            if limit is not None and len(result.records) >= limit:
                break
    if not result.records:
        reasons = ", ".join(f"{k} ({v})" for k, v in result.skipped.most_common()) or "the source is empty"
        raise DataSourceError(
            f"{location}: no valid {source} row among {result.rows_read} read; skipped: {reasons}"
        )
    return result


# --------------------------------------------------------------------------------------------
# Field helpers shared by the converters
# --------------------------------------------------------------------------------------------


def require(row: dict[str, Any], name: str, types: type | tuple[type, ...] = str) -> Any:
    """The value of a required field, or :class:`SkipRow` naming the field."""
    if name not in row or row[name] is None:
        raise SkipRow(f"missing field {name!r}")
    value = row[name]
    if not isinstance(value, types):
        raise SkipRow(f"field {name!r} has the wrong type", f"got {type(value).__name__}")
    return value


def optional(
    row: dict[str, Any], name: str, default: Any, types: type | tuple[type, ...] | None = None
) -> Any:
    """An optional field: ``default`` when absent or null; :class:`SkipRow` when of the wrong type."""
    value = row.get(name)
    if value is None:
        return default
    if types is not None and not isinstance(value, types):
        raise SkipRow(f"field {name!r} has the wrong type", f"got {type(value).__name__}")
    return value


def json_field(row: dict[str, Any], name: str, default: Any = None, *, required: bool = False) -> Any:
    """A field that may hold JSON text (TACO, LiveCodeBench) or the already-parsed value (APPS)."""
    value = row.get(name)
    if value is None or value == "":
        if required:
            raise SkipRow(f"missing field {name!r}")
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as err:
            raise SkipRow(f"field {name!r} is not valid JSON", err.msg) from err
    return value


def to_json_value(value: Any) -> Any:
    """``value`` as it will read back from JSON (tuples become lists), or ``TypeError``.

    Loaders normalise test values with this so a problem compares equal after a JSONL round trip.
    Non-finite floats are kept (Python's json writes and reads ``Infinity``/``NaN``).
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("a mapping with non-string keys does not survive JSON")
        return {k: to_json_value(v) for k, v in value.items()}
    raise TypeError(f"{type(value).__name__} does not survive JSON")

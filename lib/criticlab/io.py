"""Small file helpers shared by every stage: atomic writes and JSONL.

Every artifact is written to a temporary file beside its destination and renamed into place,
so a crash or an interrupt never leaves a half-written file where a later stage would read it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any


class JsonlError(ValueError):
    """A JSONL file has a line that is not a JSON object; names the file and line."""


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    On an exception the temporary file is removed and ``path`` keeps its old content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary directory beside ``path`` to fill; on success it replaces ``path`` whole.

    On an exception it is removed and ``path`` keeps what it had (saved models, tokenizers).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomically write ``text`` to ``path``."""
    with atomic_open(path) as handle:
        handle.write(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented, key-sorted JSON (stable diffs between runs)."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a parse error names the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise JsonlError(f"{path}: not valid JSON ({err})") from err


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> Path:
    """Atomically write one JSON object per line."""
    with atomic_open(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return Path(path)


def iter_jsonl(path: str | os.PathLike, *, skip_truncated_tail: bool = False) -> Iterator[dict]:
    """Yield the objects of a JSONL file.

    ``skip_truncated_tail`` tolerates a last line cut short by a crash during an append (the
    resumable writers use it); any other bad line raises :class:`JsonlError` naming file and line.
    """
    path = Path(path)
    with path.open(encoding="utf-8") as handle:
        lines = handle.readlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            if skip_truncated_tail and number == len(lines) and not line.endswith("\n"):
                return
            raise JsonlError(f"{path}:{number}: not valid JSON ({err.msg})") from err
        if not isinstance(obj, dict):
            raise JsonlError(f"{path}:{number}: expected a JSON object, got {type(obj).__name__}")
        yield obj


def read_jsonl(path: str | os.PathLike, **kwargs: Any) -> list[dict]:
    """Read a whole JSONL file (see :func:`iter_jsonl`)."""
    return list(iter_jsonl(path, **kwargs))


def append_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """Append rows and flush, for resumable stages that write as they go.

    A crash can at worst leave one truncated last line, which ``iter_jsonl(...,
    skip_truncated_tail=True)`` ignores and the next append completes past.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _drop_truncated_tail(path)
    with path.open("a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _drop_truncated_tail(path: Path) -> None:
    """Cut a last line that a crash left without its newline, so appends stay valid JSONL."""
    if not path.exists():
        return
    with path.open("r+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        block = min(size, 1 << 20)
        while True:
            handle.seek(size - block)
            tail = handle.read(block)
            cut = tail.rfind(b"\n")
            if cut >= 0 or block == size:
                handle.truncate(size - block + cut + 1 if cut >= 0 else 0)
                return
            block = min(size, block * 2)

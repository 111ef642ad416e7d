"""On-disk response cache in front of any engine.

Generation is the expensive part of every stage: a re-run of a notebook must reuse finished
samples, and a crash must lose nothing that was already generated. Each sample is stored under
its :func:`~criticlab.llm.base.request_key` in SQLite (one row per sample, committed as soon as
its batch returns; WAL mode, so readers and a writer in another process don't block each other).
Errors are not cached: a failed sample is generated again on the next run.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from criticlab.llm.base import Completion, Conversation, Engine, SamplingParams, request_key


class ResponseCache:
    """A key → :class:`Completion` store in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS samples (key TEXT PRIMARY KEY, completion TEXT NOT NULL)"
        )
        self._db.commit()

    def get_many(self, keys: list[str]) -> dict[str, Completion]:
        found: dict[str, Completion] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT key, completion FROM samples WHERE key IN ({marks})", chunk)
                for key, blob in rows:
                    completion = Completion.from_dict(json.loads(blob))
                    completion.cached = True
                    found[key] = completion
        return found

    def put_many(self, items: dict[str, Completion]) -> None:
        rows = [(k, json.dumps(c.to_dict(), ensure_ascii=False)) for k, c in items.items() if c.ok]
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO samples (key, completion) VALUES (?, ?)", rows)
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def check_engine(engine: Engine) -> None:
    """Raise :class:`~criticlab.llm.base.EngineError` (naming what to fix) when ``engine`` cannot
    answer — a server engine that is unreachable; in-process engines loaded their model already."""
    check = getattr(engine, "check", None)
    if callable(check):
        check()


class CachedEngine:
    """Wraps an engine: cached samples are returned at once, only the missing ones are generated.

    ``calls`` counts the samples actually sent to the wrapped engine (tests use it to prove that
    a re-run issues none).
    """

    def __init__(self, engine: Engine, cache: ResponseCache | str | Path) -> None:
        self.engine = engine
        self.cache = cache if isinstance(cache, ResponseCache) else ResponseCache(cache)
        self.backend = engine.backend
        self.model_id = engine.model_id
        self.calls = 0

    def check(self) -> None:
        """Check the wrapped engine can answer (a server is reachable); see :func:`check_engine`."""
        check_engine(self.engine)

    def generate(
        self, conversations: list[Conversation], sampling: SamplingParams, n: int = 1
    ) -> list[list[Completion]]:
        keys = [[request_key(self.engine, conv, sampling, i) for i in range(n)] for conv in conversations]
        found = self.cache.get_many([k for row in keys for k in row])
        # conversations with any missing sample are generated whole-row only for the missing indices,
        # grouped by the set of missing indices so each backend call keeps per-sample seeding.
        missing: dict[tuple[int, ...], list[int]] = {}
        for c, row in enumerate(keys):
            gap = tuple(i for i, k in enumerate(row) if k not in found)
            if gap:
                missing.setdefault(gap, []).append(c)
        for gap, conv_ids in missing.items():
            fresh = self._generate_indices([conversations[c] for c in conv_ids], sampling, gap)
            new = {}
            for c, completions in zip(conv_ids, fresh):
                for i, completion in zip(gap, completions):
                    found[keys[c][i]] = completion
                    new[keys[c][i]] = completion
            self.cache.put_many(new)
        return [[found[k] for k in row] for row in keys]

    def _generate_indices(
        self, conversations: list[Conversation], sampling: SamplingParams, indices: tuple[int, ...]
    ) -> list[list[Completion]]:
        """Generate samples ``indices`` of each conversation, keeping sample i's seed at seed + i."""
        self.calls += len(conversations) * len(indices)
        if indices == tuple(range(len(indices))):
            return self.engine.generate(conversations, sampling, n=len(indices))
        out: list[list[Completion]] = [[] for _ in conversations]
        for i in indices:
            batch = self.engine.generate(conversations, sampling.with_(seed=sampling.seed + i), n=1)
            for row, completions in zip(out, batch):
                row.append(completions[0])
        return out

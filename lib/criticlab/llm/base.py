"""The one interface every model backend speaks: chat conversations in, n completions each out.

Backends (llama.cpp, transformers, an OpenAI-compatible server, vLLM) differ in how they batch
and where they run, not in what they return. A failed generation is a :class:`Completion` with
``finish_reason="error"`` and the reason in ``error``, so a malformed or missing answer flows
through a batch as a recorded outcome instead of aborting it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol, TypeVar, runtime_checkable

Message = dict[str, str]
"""``{"role": "system" | "user" | "assistant", "content": str}``."""
Conversation = list[Message]


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings. ``temperature == 0`` means greedy. ``seed`` plus the sample index seed each sample."""

    temperature: float = 0.7
    top_p: float = 0.8
    max_tokens: int = 1024
    seed: int = 0
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def with_(self, **changes: Any) -> SamplingParams:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["stop"] = list(self.stop)
        return out


@dataclass
class Completion:
    """One generated answer."""

    text: str
    finish_reason: str = "stop"
    """``stop`` (end of turn or stop string), ``length`` (hit max_tokens) or ``error``."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    error: str = ""
    cached: bool = field(default=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.finish_reason != "error"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("cached")
        return out

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Completion:
        return cls(**row)


class EngineError(RuntimeError):
    """The engine cannot run at all (model missing, server unreachable); names what to fix."""


@runtime_checkable
class Engine(Protocol):
    """A chat model. ``generate`` returns, for each conversation, ``n`` completions in order.

    Sample ``i`` of a conversation is seeded with ``sampling.seed + i`` where the backend allows,
    so the same request gives the same answer whatever else is in the batch.
    """

    backend: str
    model_id: str

    def generate(
        self, conversations: list[Conversation], sampling: SamplingParams, n: int = 1
    ) -> list[list[Completion]]: ...


_E = TypeVar("_E", bound="ClosingEngine")


class ClosingEngine:
    """What every backend shares of its lifecycle: ``with engine:`` closes it on the way out."""

    def close(self) -> None:  # a backend that holds nothing has nothing to release
        return None

    def __enter__(self: _E) -> _E:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def request_key(engine: Engine, messages: Conversation, sampling: SamplingParams, sample_index: int) -> str:
    """Cache key of one sample: engine, model, messages, sampling (with seed) and sample index."""
    payload = {
        "backend": engine.backend,
        "model": engine.model_id,
        "messages": messages,
        "sampling": sampling.to_dict(),
        "sample": sample_index,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def stop_index(text: str, stops: tuple[str, ...]) -> int | None:
    """Where the earliest stop string starts in ``text`` (every backend cuts there), or None."""
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(hits) if hits else None


def error_completion(message: str) -> Completion:
    return Completion(text="", finish_reason="error", error=message)

"""The one interface every model backend speaks: chat conversations in, n completions each out.

Backends (llama.cpp, transformers, an OpenAI-compatible server, vLLM) differ in how they batch
and where they run, not in what they return. A failed generation is a :class:`Completion` with
``finish_reason="error"`` and the reason in ``error``, so a malformed or missing answer flows
through a batch as a recorded outcome instead of aborting it.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
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
    stop_after_code: bool = False
    """End the answer after its first complete Python code block (:func:`code_block_span`): what a
    solution or revision is read for. llama.cpp stops generating there; other backends cut the text."""
    repetition_penalty: float = 1.0
    """vLLM's (and transformers') repetition penalty: the logit of every token already in the prompt
    or the answer is divided by it when positive, multiplied when negative; 1.0 is none."""

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0

    def with_(self, **changes: Any) -> SamplingParams:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["stop"] = list(self.stop)
        if not self.stop_after_code:
            del out["stop_after_code"]  # so cache keys of requests without it stay as they were
        if self.repetition_penalty == 1.0:
            del out["repetition_penalty"]
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


@dataclass
class GenerationMeter:
    """Tokens generated and the seconds the ``generate`` calls took, summed over calls.

    Tokens are the completions' ``completion_tokens`` of sequences actually decoded: a greedy
    request decodes one sequence for all its ``n`` samples, so only that one counts, and answers
    served by the response cache never reach a backend. Seconds are wall time inside the calls.
    """

    tokens: int = 0
    sequences: int = 0
    seconds: float = 0.0
    calls: int = 0

    def add(self, tokens: int, sequences: int, seconds: float) -> None:
        self.tokens += tokens
        self.sequences += sequences
        self.seconds += seconds
        self.calls += 1

    def since(self, earlier: GenerationMeter) -> GenerationMeter:
        """What was counted after ``earlier`` (a copy taken then)."""
        return GenerationMeter(
            self.tokens - earlier.tokens,
            self.sequences - earlier.sequences,
            self.seconds - earlier.seconds,
            self.calls - earlier.calls,
        )

    def copy(self) -> GenerationMeter:
        return replace(self)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


GENERATED = GenerationMeter()
"""Every backend's generation in this process; a stage reads what it generated as the difference
between two copies (:class:`criticlab.llm.throughput.StageWatch`). Engines that generate at the
same time in threads add up their seconds."""


_E = TypeVar("_E", bound="ClosingEngine")


class ClosingEngine:
    """What every backend shares: ``with engine:`` closes it on the way out, and :attr:`meter`
    counts what it generated (each backend's ``generate`` reports to :meth:`_count`)."""

    @property
    def meter(self) -> GenerationMeter:
        """This engine's tokens generated and seconds spent generating, since it was built."""
        meter = self.__dict__.get("_meter")
        if meter is None:
            meter = self.__dict__["_meter"] = GenerationMeter()
        return meter

    def _count(
        self, results: list[list[Completion]], sampling: SamplingParams, started: float
    ) -> list[list[Completion]]:
        """Add a finished call (begun at ``time.perf_counter() == started``) to this engine's meter
        and to :data:`GENERATED`; returns ``results``."""
        decoded = [c for row in results for c in (row[:1] if sampling.greedy else row) if c.ok]
        tokens, seconds = sum(c.completion_tokens for c in decoded), time.perf_counter() - started
        self.meter.add(tokens, len(decoded), seconds)
        GENERATED.add(tokens, len(decoded), seconds)
        return results

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


_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n", re.MULTILINE)
_CLOSE = re.compile(r"^[ \t]*```[ \t]*$", re.MULTILINE)
CODE_LANGS = frozenset({"", "python", "python3", "py", "py3"})
"""Fence labels read as Python code (an unlabelled fence counts too)."""


@dataclass(frozen=True)
class CodeBlock:
    """Where the first Python code block of an answer lies: its body ``text[start:end]`` and the end
    of its closing fence, ``close`` (None while the block is unterminated: the body runs to the end)."""

    start: int
    end: int
    close: int | None


def code_block_span(text: str) -> CodeBlock | None:
    """The first fenced Python (or unlabelled) block of ``text``; blocks in other languages are
    skipped. None when there is no such block (an unterminated fence of another language ends the
    search). Shared by the code parser and the engines' ``stop_after_code``."""
    position = 0
    while opening := _FENCE.search(text, position):
        closing = _CLOSE.search(text, opening.end())
        if opening.group(1).lower() in CODE_LANGS:
            if closing is None:
                return CodeBlock(opening.end(), len(text), None)
            return CodeBlock(opening.end(), closing.start(), closing.end())
        if closing is None:
            return None
        position = closing.end()
    return None


def code_stop_index(text: str, complete: bool = True) -> int | None:
    """Where an answer ends under ``stop_after_code``: after the first Python block's closing fence.

    ``complete=False`` (text still being generated) also needs the line break after the fence, so a
    fence line that might go on (```` ```python ````) is not taken for a closing one.
    """
    block = code_block_span(text)
    if block is None or block.close is None:
        return None
    if not complete and not text.startswith("\n", block.close):
        return None
    return block.close


def finish_text(completion: Completion, sampling: SamplingParams) -> Completion:
    """Apply ``stop_after_code`` to a finished answer (backends that cannot stop there themselves)."""
    if not sampling.stop_after_code or not completion.ok:
        return completion
    cut = code_stop_index(completion.text)
    if cut is None or cut == len(completion.text):
        return completion
    return replace(completion, text=completion.text[:cut], finish_reason="stop")


def error_completion(message: str) -> Completion:
    return Completion(text="", finish_reason="error", error=message)

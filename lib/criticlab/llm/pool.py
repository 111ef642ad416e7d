"""The engines one process holds: one per key, each in a slot of the one-GPU memory plan.

Loading a model costs seconds on a CPU and a share of the card on a GPU, so a notebook asks for
its generator and critic through a pool that hands back the engine it already holds. Engines of
a backend held one per model (vLLM) also take a plan slot: the plan holds the generator and one
critic, so starting a critic or policy engine first closes the previous critic and policy
engines (:func:`to_release`), and :meth:`EnginePool.release` frees them before TRL's own vLLM
starts. A pool is an object, so a test (or a tool) can use its own instead of the process's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from criticlab.llm.base import Engine

Slot = Literal["generator", "critic", "policy"]


def to_release(live: Mapping[tuple, str], new_slot: str) -> list[tuple]:
    """The live engines (key → slot) to close before an engine of ``new_slot`` starts: the plan
    holds the generator and one critic, so a new critic or policy engine replaces the previous
    critic and policy engines."""
    if new_slot == "generator":
        return []
    return [key for key, slot in live.items() if slot in ("critic", "policy")]


class EnginePool:
    """Engines by key; those started with a slot follow the memory plan (see the module)."""

    def __init__(self) -> None:
        self._engines: dict[tuple, Engine] = {}
        self._slots: dict[tuple, Slot] = {}

    def get(self, key: tuple, start: Callable[[], Engine], slot: Slot | None = None) -> Engine:
        """The engine held under ``key``, else ``start()``'s, held from now on. With a ``slot``,
        what the plan says to close goes first, before the new engine takes its memory."""
        engine = self._engines.get(key)
        if engine is None:
            if slot is not None:
                self.close(to_release(self._slots, slot))
            engine = start()
            self._engines[key] = engine
            if slot is not None:
                self._slots[key] = slot
        return engine

    def release(self, slots: tuple[str, ...] = ("critic", "policy")) -> list[str]:
        """Close the held engines of these plan slots; returns the model ids closed."""
        keys = [key for key, slot in self._slots.items() if slot in slots]
        closed = [self._engines[key].model_id for key in keys]
        self.close(keys)
        return closed

    def close(self, keys: Iterable[tuple] | None = None) -> None:
        """Stop holding these engines (None: all) and close those that can be closed."""
        for key in list(self._engines) if keys is None else list(keys):
            engine = self._engines.pop(key, None)
            self._slots.pop(key, None)
            close = getattr(engine, "close", None)
            if callable(close):
                close()

    def slots(self) -> dict[tuple, Slot]:
        """The held engines that take a plan slot, key → slot."""
        return dict(self._slots)

    def __contains__(self, key: object) -> bool:
        return key in self._engines

    def __len__(self) -> int:
        return len(self._engines)

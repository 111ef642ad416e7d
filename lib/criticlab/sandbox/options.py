"""How samples are judged: the settings the local and SandboxFusion executors share.

One record, :class:`JudgeOptions`, so that both executors judge by the same rules; both build it
the same way and hand it unchanged to :func:`criticlab.sandbox.judge.plan_job`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from criticlab.sandbox.compare import DEFAULT_FLOAT_TOL, Checker

if TYPE_CHECKING:
    from criticlab.config import SandboxSection

DEFAULT_SAMPLE_TIMEOUT = 60.0
"""Seconds one sample (all its tests) may take when neither the options nor the executor say otherwise."""
COMPARE_MODES = ("tokens", "strict")


class _FromOptions:
    """The default of an executor's judging keyword: take the value from its ``options`` record."""

    def __repr__(self) -> str:
        return "<from options>"


FROM_OPTIONS: Any = _FromOptions()
"""Left-out judging keywords of an executor (``time_limit=FROM_OPTIONS``): keep the record's value."""


@dataclass(frozen=True)
class JudgeOptions:
    """How samples are judged: the settings :class:`~criticlab.sandbox.LocalExecutor` and
    :class:`~criticlab.sandbox.SandboxFusionExecutor` share.

    One record, so the local and SandboxFusion executors judge by the same rules: both build it
    the same way (from ``options=``, from the same keywords, or from a profile's sandbox section
    through :meth:`from_config`), validate it here, and hand it unchanged to :func:`plan_job`.

    ``time_limit`` overrides every problem's per-test limit (seconds; None: the problem's own)
    and ``time_scale`` multiplies it (slow or shared machines). ``sample_timeout`` bounds one
    sample's total time; None leaves it to the executor (60 s locally, 300 s on SandboxFusion).
    ``compare`` is the default stdout rule (``tokens`` or ``strict``; a problem's
    ``metadata["compare"]`` wins), ``float_tol`` the float tolerance. ``stop_on_first_failure``
    stops a sample at its first failed test (default: run them all, critics need the full
    feedback). ``checkers`` are executor-local checkers by name, looked up before registered ones.
    """

    time_limit: float | None = None
    time_scale: float = 1.0
    sample_timeout: float | None = None
    compare: str = "tokens"
    float_tol: float = DEFAULT_FLOAT_TOL
    stop_on_first_failure: bool = False
    checkers: Mapping[str, Checker] = field(default_factory=dict, hash=False)

    CONFIG_FIELDS = (
        "time_limit",
        "time_scale",
        "sample_timeout",
        "compare",
        "float_tol",
        "stop_on_first_failure",
    )
    """The fields a profile's sandbox section may set (checkers are code, not configuration)."""

    def __post_init__(self) -> None:
        if self.compare not in COMPARE_MODES:
            raise ValueError(f"compare must be 'tokens' or 'strict', got {self.compare!r}")
        coerce = object.__setattr__  # frozen: normalise once, here
        coerce(self, "time_scale", float(self.time_scale))
        coerce(self, "sample_timeout", None if self.sample_timeout is None else float(self.sample_timeout))
        coerce(self, "float_tol", float(self.float_tol))
        coerce(self, "stop_on_first_failure", bool(self.stop_on_first_failure))
        coerce(self, "checkers", MappingProxyType(dict(self.checkers or {})))

    @classmethod
    def from_config(cls, cfg: SandboxSection, **overrides: Any) -> JudgeOptions:
        """The judging settings of a profile's sandbox section (:class:`criticlab.config.SandboxSection`
        or anything with some of its attributes): fields it lacks keep the defaults; ``overrides`` win."""
        values = {name: getattr(cfg, name) for name in cls.CONFIG_FIELDS if hasattr(cfg, name)}
        values.update(overrides)
        return cls(**values)

    @classmethod
    def build(
        cls, options: JudgeOptions | None, *, sample_timeout_default: float, **keywords: Any
    ) -> JudgeOptions:
        """An executor's record: ``options`` (default: all defaults) with the keywords given (those
        not left at :data:`FROM_OPTIONS`) replacing its fields, and the executor's own
        ``sample_timeout_default`` where neither set a sample timeout."""
        given = {name: value for name, value in keywords.items() if value is not FROM_OPTIONS}
        record = dataclasses.replace(options if options is not None else cls(), **given)
        if record.sample_timeout is None:
            record = dataclasses.replace(record, sample_timeout=sample_timeout_default)
        return record

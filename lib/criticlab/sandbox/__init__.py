"""Executing untrusted, model-written Python against unit tests, and judging it.

Every signal in the workbook (hints, RL rewards, CRL labels, evaluation) comes from here::

    from criticlab.sandbox import LocalExecutor

    with LocalExecutor() as sandbox:                 # warm workers, isolated children
        result = sandbox.run(problem, code)         # -> ExecResult
        results = sandbox.run_batch([(p, c), ...])   # concurrent, in input order

``ExecResult.verdict`` is one of :class:`Verdict`; ``is_infra_error`` marks results that say
nothing about the program (never score them). ``make_executor(cfg.sandbox)`` picks the
backend named by the profile (``local`` or ``sandboxfusion``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from criticlab.sandbox.asserts import MalformedTest, Probe, RewrittenTest, rewrite_assert_test
from criticlab.sandbox.base import AsyncService, Executor, Sample
from criticlab.sandbox.codec import Opaque, decode
from criticlab.sandbox.compare import (
    DEFAULT_FLOAT_TOL,
    Comparison,
    compare_stdout,
    compare_strict,
    compare_tokens,
    compare_values,
    register_checker,
)
from criticlab.sandbox.isolation import GUARANTEES, IsolationReport
from criticlab.sandbox.judge import JobPlan, Judge, Limits, plan_job
from criticlab.sandbox.local import LocalExecutor, SandboxUnavailable
from criticlab.sandbox.options import JudgeOptions
from criticlab.sandbox.sandboxfusion import SandboxFusionError, SandboxFusionExecutor
from criticlab.sandbox.types import ExecResult, TestRecord, Verdict

if TYPE_CHECKING:
    from criticlab.config import SandboxSection


def make_executor(cfg: SandboxSection, **overrides: Any) -> LocalExecutor | SandboxFusionExecutor:
    """The executor a profile's ``sandbox`` section asks for (``executor: local|sandboxfusion``)."""
    kind = getattr(cfg, "executor", "local")
    if kind == "local":
        return LocalExecutor.from_config(cfg, **overrides)
    if kind == "sandboxfusion":
        return SandboxFusionExecutor.from_config(cfg, **overrides)
    raise ValueError(f"unknown sandbox executor {kind!r} (use 'local' or 'sandboxfusion')")


__all__ = [
    "DEFAULT_FLOAT_TOL",
    "GUARANTEES",
    "AsyncService",
    "Comparison",
    "ExecResult",
    "Executor",
    "IsolationReport",
    "JobPlan",
    "Judge",
    "JudgeOptions",
    "Limits",
    "LocalExecutor",
    "MalformedTest",
    "Opaque",
    "Probe",
    "RewrittenTest",
    "Sample",
    "SandboxFusionError",
    "SandboxFusionExecutor",
    "SandboxUnavailable",
    "TestRecord",
    "Verdict",
    "compare_stdout",
    "compare_strict",
    "compare_tokens",
    "compare_values",
    "decode",
    "make_executor",
    "plan_job",
    "register_checker",
    "rewrite_assert_test",
]

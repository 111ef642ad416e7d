"""Stage I of CTRL (notebook 03): execution-guided critique synthesis.

For each training problem the generator writes k zero-shot solutions and the sandbox runs them.
A hint derived from each execution result (:func:`criticlab.rollout.prompts.execution_hint`)
guides a *hinted* critique; the generator then revises under the critique and the revision is
executed, so every critique carries its measured effect. Filters, each counted:

1. ``hint_too_long`` — hints over ``max_hint_chars`` (the paper: 1000) are dropped;
2. ``mentions_hint`` — critiques that refer to the hint leak it, and are dropped;
   ``quotes_hint_test`` — so do critiques that quote the failing test's input or expected output,
   or a test line or exception message that the hint shows, verbatim
   (:func:`criticlab.rollout.prompts.quotes_test`);
3. ``no_judgment`` — critiques without a parseable ``Overall judgment`` line (whatever the critic
   wrote after its first judgment line is cut first: :func:`criticlab.rollout.prompts.through_judgment`);
4. ``judgment_contradicts_execution`` — a hinted critic that still judges wrongly teaches wrongly.

The records become datasets in :mod:`criticlab.ctrl.datasets`.

Throughput: each chunk sends the samples of many problems to the engine in one call (and then
all of the chunk's critiques, then all of its revisions), so the engine's batch stays full across
problems — llama.cpp decodes up to its ``max_batch`` sequences per step and its aggregate rate
keeps rising with them — while a crash still loses at most one chunk
(:func:`criticlab.rollout.chunks.run_in_chunks`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from criticlab.data.types import Problem
from criticlab.io import iter_jsonl
from criticlab.llm.base import Engine, SamplingParams
from criticlab.rollout import prompts
from criticlab.rollout.chunks import run_in_chunks
from criticlab.rollout.loop import execute, zero_shot
from criticlab.sandbox import Executor
from criticlab.sandbox.types import ExecResult, Verdict

DROP_REASONS = (
    "hint_too_long",
    "mentions_hint",
    "quotes_hint_test",
    "no_judgment",
    "judgment_contradicts_execution",
    "infra_error",
)


@dataclass
class SynthesisOptions:
    samples_per_problem: int = 4
    max_hint_chars: int = 1000
    solution_sampling: SamplingParams = field(default_factory=SamplingParams)
    critique_sampling: SamplingParams = field(default_factory=SamplingParams)
    revision_sampling: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=0.0))
    revision_request: prompts.ParserRule = "workbook"
    """The request after the critique (``prompts.revision_request``)."""
    chunk_sequences: int = 64
    """Sequences per chunk (problems × samples): each engine call of a chunk carries about this
    many, several times llama.cpp's batch so its tail (the last long sequences) is a small part."""
    critique: bool = True
    """False: zero-shot samples only, executed (held-out GRPO prompts need no critique)."""

    @property
    def problems_per_chunk(self) -> int:
        return max(1, self.chunk_sequences // max(1, self.samples_per_problem))


@dataclass
class SynthesisRecord:
    """One zero-shot sample with its hint, hinted critique and the revision under it."""

    problem_id: str
    sample: int
    response: str
    code: str | None
    result: ExecResult
    hint: str = ""
    critique: str = ""
    judgment: str | None = None
    revision: str = ""
    revision_code: str | None = None
    revision_result: ExecResult | None = None
    dropped: str = ""
    """Empty when kept, else one of :data:`DROP_REASONS`."""
    cut_chars: int = 0
    """Characters the critic wrote after its first judgment line, cut from ``critique``
    (:func:`criticlab.rollout.prompts.through_judgment`)."""

    @property
    def passed(self) -> bool:
        return self.result.accepted

    @property
    def revision_passed(self) -> bool:
        return self.revision_result is not None and self.revision_result.accepted

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["result"] = self.result.to_dict()
        out["revision_result"] = self.revision_result.to_dict() if self.revision_result else None
        return out

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> SynthesisRecord:
        row = dict(row)
        if "judgment" in row:  # written before the critic's judgment had its own name
            row["judgment"] = row.pop("judgment")
        row["result"] = ExecResult.from_dict(row["result"])
        if row.get("revision_result") is not None:
            row["revision_result"] = ExecResult.from_dict(row["revision_result"])
        return cls(**row)


def synthesize(
    problems: Sequence[Problem],
    generator: Engine,
    critic: Engine,
    executor: Executor,
    options: SynthesisOptions,
    samples_path: str | Path,
    progress: Callable[[int], None] | None = None,
) -> list[SynthesisRecord]:
    """Run stage I over ``problems``, appending records to ``samples_path`` chunk by chunk (resumable)."""
    done = {(r.problem_id, r.sample): r for r in load_records(samples_path)}
    return run_in_chunks(
        problems,
        options.samples_per_problem,
        options.problems_per_chunk,
        lambda chunk: _synthesize_chunk(chunk, generator, critic, executor, options),
        done,
        samples_path,
        progress,
    )


def _synthesize_chunk(
    problems: Sequence[Problem],
    generator: Engine,
    critic: Engine,
    executor: Executor,
    options: SynthesisOptions,
) -> list[SynthesisRecord]:
    records = [
        SynthesisRecord(problem_id=p.id, sample=i, response=r.response, code=r.code, result=r.result)
        for p, i, r in zero_shot(
            problems, generator, executor, options.solution_sampling, options.samples_per_problem
        )
    ]
    if not options.critique:
        return records
    by_id = {p.id: p for p in problems}
    to_critique = []
    for record in records:
        if record.result.is_infra_error:
            record.dropped = "infra_error"
            continue
        record.hint = prompts.execution_hint(record.result)
        if len(record.hint) > options.max_hint_chars:
            record.dropped = "hint_too_long"
            continue
        to_critique.append(record)
    convs = [
        prompts.critique_conversation(
            by_id[r.problem_id], r.code if r.code is not None else r.response, hint=r.hint
        )
        for r in to_critique
    ]
    critiques = critic.generate(convs, options.critique_sampling, n=1) if convs else []
    for record, row in zip(to_critique, critiques):
        record.critique = prompts.through_judgment(row[0].text)
        record.cut_chars = len(row[0].text) - len(record.critique)
        record.judgment = prompts.parse_judgment(record.critique)
    revise = [r for r in to_critique if r.critique]
    revision_convs = [
        prompts.revision_conversation(
            by_id[r.problem_id], r.response, r.critique, request=options.revision_request
        )
        for r in revise
    ]
    revisions = generator.generate(revision_convs, options.revision_sampling, n=1) if revise else []
    revised = execute(executor, [by_id[r.problem_id] for r in revise], [row[0] for row in revisions])
    for record, rnd in zip(revise, revised):
        record.revision, record.revision_code, record.revision_result = rnd.response, rnd.code, rnd.result
    for record in to_critique:
        record.dropped = drop_reason(record)
    return records


def _hint_test_values(record: SynthesisRecord) -> list[str]:
    """What the hint shows of the tests that the critic cannot see at test time: a wrong answer's
    input and expected output; for a runtime error, the line that raised when it is not in the
    candidate code (a test's ``assert f(3) == 9``) and an exception message with detail
    (``ValueError: invalid literal for int() with base 10: 'M'`` reveals the test's input)."""
    failure = record.result.first_failure
    if failure is None:
        return []
    if failure.verdict is Verdict.RUNTIME_ERROR:
        code = record.code if record.code is not None else record.response
        line = prompts.offending_line(failure.traceback)
        values = [line] if line and line not in code else []
        if ":" in failure.exception and failure.exception not in code:
            values.append(failure.exception)
        return [v for v in values if v in record.hint]
    return [v for v in (failure.input, failure.expected) if v and v in record.hint]


def drop_reason(record: SynthesisRecord) -> str:
    """Why synthesis drops a critiqued record (one of :data:`DROP_REASONS`), or empty to keep it."""
    if prompts.mentions_hint(record.critique):
        return "mentions_hint"
    if prompts.quotes_test(record.critique, _hint_test_values(record)):
        return "quotes_hint_test"
    if record.judgment is None:
        return "no_judgment"
    if (record.judgment == "correct") != record.passed:
        return "judgment_contradicts_execution"
    return ""


def load_records(path: str | Path) -> list[SynthesisRecord]:
    path = Path(path)
    if not path.is_file():
        return []
    return [SynthesisRecord.from_dict(row) for row in iter_jsonl(path, skip_truncated_tail=True)]

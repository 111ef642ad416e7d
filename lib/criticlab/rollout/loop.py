"""Multi-round critique→revision over batches of problems and samples.

Round 0: the generator answers each problem (``samples`` times) and the sandbox runs the code.
Round k ≥ 1: a critic critiques the latest solution, the generator revises it greedily under the
critique, the sandbox runs the revision. The critic can be nobody (zero-shot), raw execution
feedback, the generator itself (self-critique, optionally shown the execution feedback), or any
other engine (a trained critic). With ``stop_when_correct`` a trajectory stops revising once its
critic judges the latest solution Correct.

Trajectories are appended to a JSONL file chunk by chunk (:mod:`criticlab.rollout.chunks`); a
stopped run resumes where it left off, and with a cached engine (see :mod:`criticlab.llm.cache`)
even the interrupted chunk's generations are reused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from criticlab.data.types import Problem
from criticlab.llm.base import Completion, Conversation, Engine, SamplingParams
from criticlab.rollout import prompts
from criticlab.rollout.chunks import ChunkedJob, run_chunks_together
from criticlab.rollout.requests import Request, Worker, drive, drive_together
from criticlab.rollout.trajectory import Round, Trajectory, load_trajectories
from criticlab.sandbox.base import Executor
from criticlab.sandbox.types import ExecResult, Verdict

CriticMode = Literal["none", "execution_feedback", "self_critique", "self_critique_exec", "critic"]


CRITIC_MODES: tuple[str, ...] = (
    "none",
    "execution_feedback",
    "self_critique",
    "self_critique_exec",
    "critic",
)


NO_CODE = "no code block in the response"


@dataclass
class LoopConfig:
    """How a method runs: critic mode, rounds, samples, sampling of each role."""

    method: str
    critic_mode: CriticMode = "self_critique"
    rounds: int = 1
    samples: int = 1
    stop_when_correct: bool = False
    solution_sampling: SamplingParams = field(default_factory=SamplingParams)
    critique_sampling: SamplingParams = field(default_factory=SamplingParams)
    revision_sampling: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=0.0))
    chunk_size: int = 16
    """Problems per chunk; a chunk's trajectories are written when all its rounds are done."""
    parser: prompts.ParserRule = "workbook"
    """How a critique's judgment is read (``prompts.parser``): it decides ``stop_when_correct``."""
    revision_request: prompts.ParserRule = "workbook"
    """The request after the critique (``prompts.revision_request``)."""

    def __post_init__(self) -> None:
        if self.critic_mode not in CRITIC_MODES:
            raise ValueError(f"critic_mode must be one of {CRITIC_MODES}, got {self.critic_mode!r}")
        if self.critic_mode == "none":
            self.rounds = 0


def execute(executor: Executor, problems: Sequence[Problem], responses: Sequence[Completion]) -> list[Round]:
    """Extract code from each response and run it; responses without code get a recorded judgment."""
    codes = [prompts.extract_code(c.text) if c.ok else None for c in responses]
    jobs = [(p, code) for p, code in zip(problems, codes) if code is not None]
    results = iter(executor.run_batch(jobs)) if jobs else iter(())
    rounds = []
    for problem, code, completion in zip(problems, codes, responses):
        if code is not None:
            result = next(results)
        elif not completion.ok:
            result = ExecResult.sandbox_error(
                f"generation failed: {completion.error}", problem_id=problem.id, total=len(problem.tests)
            )
        else:
            result = ExecResult(
                Verdict.COMPILE_ERROR, 0, len(problem.tests), problem_id=problem.id, error=NO_CODE
            )
        rounds.append(
            Round(response=completion.text, code=code, result=result, finish_reason=completion.finish_reason)
        )
    return rounds


def zero_shot(
    problems: Sequence[Problem], generator: Engine, executor: Executor, sampling: SamplingParams, n: int
) -> list[tuple[Problem, int, Round]]:
    """Round 0 of every stage: ``n`` sampled solutions per problem, executed; (problem, sample, round)."""
    return drive(_zero_shot(problems, generator, executor, sampling, n))


def _zero_shot(
    problems: Sequence[Problem], generator: Engine, executor: Executor, sampling: SamplingParams, n: int
) -> Worker[list[tuple[Problem, int, Round]]]:
    answers = yield Request(generator, [prompts.generation_conversation(p) for p in problems], sampling, n)
    flat = [(p, i) for p in problems for i in range(n)]
    rounds = execute(executor, [p for p, _ in flat], [c for row in answers for c in row])
    return [(p, i, rnd) for (p, i), rnd in zip(flat, rounds)]


def critique_conversations(
    mode: CriticMode, problems: Sequence[Problem], rounds: Sequence[Round]
) -> list[Conversation]:
    """The critic's input for each (problem, latest round)."""
    convs = []
    for problem, rnd in zip(problems, rounds):
        code = rnd.code if rnd.code is not None else rnd.response
        if mode == "self_critique_exec":
            feedback = prompts.execution_hint(rnd.result, raw=True)
            convs.append(
                [{"role": "user", "content": prompts.critique_prompt(problem, code, feedback=feedback)}]
            )
        else:
            convs.append(prompts.critique_conversation(problem, code))
    return convs


def run_loop(
    problems: Sequence[Problem],
    generator: Engine,
    executor: Executor,
    config: LoopConfig,
    critic: Engine | None = None,
    out_path: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Trajectory]:
    """Run ``config.method`` on every problem; append trajectories to ``out_path`` as chunks finish.

    Returns all trajectories of the method, those found in ``out_path`` from an earlier run
    included, in (problem, sample) order.
    """
    method = LoopMethod(config, critic, out_path)
    report = (lambda _name, n: progress(n)) if progress else None
    return run_loops(problems, generator, executor, [method], progress=report, together=False)[config.method]


@dataclass(frozen=True)
class LoopMethod:
    """One method of :func:`run_loops`: its config, critic engine and trajectory file."""

    config: LoopConfig
    critic: Engine | None = None
    out_path: str | Path | None = None


def run_loops(
    problems: Sequence[Problem],
    generator: Engine,
    executor: Executor,
    methods: Sequence[LoopMethod],
    progress: Callable[[str, int], None] | None = None,
    chunk_size: int | None = None,
    together: bool = True,
) -> dict[str, list[Trajectory]]:
    """Run several methods on the same problems with their engine requests sent together.

    Chunks of ``chunk_size`` problems (default: the first method's ``config.chunk_size``) run
    every method at once, in lock step (:func:`criticlab.rollout.requests.drive_together`): a
    round's critiques of all methods that share a critic engine go to it in one call, their
    revisions to the generator in one call, and round 0 — the same request for every method — is
    asked for once. Each method's trajectories are those :func:`run_loop` gives it alone (same
    seeds, deterministic engine) and go to its own ``out_path``; an interrupted run resumes per
    method. Returns method name → trajectories.

    ``together=False`` runs the methods of a chunk one after another, each request its own engine
    call (what :func:`run_loop` does for one method; benchmarks compare the two).
    """
    jobs: dict[str, ChunkedJob[Trajectory]] = {}
    critics: dict[str, Engine | None] = {}
    by_name: dict[str, LoopMethod] = {}
    for method in methods:
        config, critic = method.config, method.critic
        if config.method in by_name:
            raise ValueError(f"method {config.method!r} is given twice")
        if config.critic_mode == "critic" and critic is None:
            raise ValueError(f"method {config.method!r} needs a critic engine")
        if config.critic_mode in ("self_critique", "self_critique_exec"):
            critic = generator
        by_name[config.method], critics[config.method] = method, critic
        done = load_trajectories(method.out_path, method=config.method) if method.out_path else {}
        jobs[config.method] = ChunkedJob(config.samples, done, method.out_path or None)

    def run_chunk(chunks: dict[str, Sequence[Problem]]) -> dict[str, list[Trajectory]]:
        names = list(chunks)
        workers = [
            _method_worker(chunks[n], generator, executor, by_name[n].config, critics[n]) for n in names
        ]
        return dict(zip(names, drive_together(workers) if together else [drive(w) for w in workers]))

    size = chunk_size or (methods[0].config.chunk_size if methods else 1)
    return run_chunks_together(problems, size, jobs, run_chunk, progress)


def _method_worker(
    problems: Sequence[Problem],
    generator: Engine,
    executor: Executor,
    config: LoopConfig,
    critic: Engine | None,
) -> Worker[list[Trajectory]]:
    """One method on one chunk: yields its generation requests (see :mod:`criticlab.rollout.requests`)."""
    first = yield from _zero_shot(problems, generator, executor, config.solution_sampling, config.samples)
    trajectories = [
        Trajectory(problem_id=p.id, sample=i, method=config.method, rounds=[rnd]) for p, i, rnd in first
    ]
    by_id = {p.id: p for p in problems}
    for _ in range(config.rounds):
        active = [t for t in trajectories if not t.stopped]
        if not active:
            break
        active_problems = [by_id[t.problem_id] for t in active]
        latest = [t.final for t in active]
        if config.critic_mode == "execution_feedback":
            critiques = [Completion(text=prompts.execution_feedback_message(r.result)) for r in latest]
            yield Request(generator, [], config.critique_sampling)  # a step in phase with the critics
        else:
            assert critic is not None
            convs = critique_conversations(config.critic_mode, active_problems, latest)
            critiques = [row[0] for row in (yield Request(critic, convs, config.critique_sampling, 1))]
        revise = []
        for t, rnd, critique in zip(active, latest, critiques):
            rnd.critique = critique.text
            rnd.critique_finish_reason = critique.finish_reason
            rnd.judgment = _judgment(config.critic_mode, rnd, critique.text, config.parser)
            if config.stop_when_correct and rnd.judgment == "correct":
                t.stopped = "critic_correct"
            else:
                revise.append(t)
        convs = [
            prompts.revision_conversation(
                by_id[t.problem_id], t.final.response, t.final.critique or "", request=config.revision_request
            )
            for t in revise
        ]
        # asked for even when empty (no engine call then), so that every method of a drive_together
        # reaches its critiques and its revisions at the same steps and they share the calls
        revisions = yield Request(generator, convs, config.revision_sampling, 1)
        new_rounds = execute(executor, [by_id[t.problem_id] for t in revise], [row[0] for row in revisions])
        for t, rnd in zip(revise, new_rounds):
            t.rounds.append(rnd)
    return trajectories


def _judgment(mode: str, rnd: Round, critique: str, parser: prompts.ParserRule) -> prompts.Judgment | None:
    """The critic's parsed judgment; for raw execution feedback, the tests' own (an oracle critic:
    its ``+stop`` variant stops exactly when every test passes, the bound a perfect critic sets)."""
    if mode != "execution_feedback":
        return prompts.parse_judgment(critique, parser)
    if rnd.result.is_infra_error:
        return None
    return "correct" if rnd.result.accepted else "incorrect"

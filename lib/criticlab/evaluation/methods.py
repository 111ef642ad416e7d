"""The methods of the paper's tables, run on an evaluation set, and the pairwise-judgment protocol.

A *method* is a critic choice for the critique→revision loop:

| method               | critic                                                            |
|----------------------|-------------------------------------------------------------------|
| ``zero_shot``        | none: the generator's first answer                                |
| ``execution_feedback`` | the raw result of running the tests, fed back to the generator |
| ``self_critique``    | the generator critiques itself                                    |
| ``self_critique_exec`` | self-critique that also sees the execution result               |
| ``ctrl_sft``         | the critic trained by notebook 04 (if its checkpoint exists)     |
| ``ctrl_grpo``        | the critic trained by notebook 05 (if its checkpoint exists)     |
| ``critic:<model>``   | any other model reference, through the profile's engine         |

Each method runs with and without stopping when its critic says Correct (``<method>+stop``).
Execution feedback's judgment is the tests' own, so ``execution_feedback+stop`` stops exactly when
every test passes: the bound a critic with perfect discrimination would set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from criticlab import stages
from criticlab.config import Profile
from criticlab.data.types import Problem
from criticlab.evaluation import repairability, selection
from criticlab.evaluation.metrics import PairJudgments
from criticlab.evaluation.repairability import Repair
from criticlab.io import append_jsonl, iter_jsonl, write_jsonl
from criticlab.llm import engine_for, sampling_for
from criticlab.llm.base import Engine, SamplingParams
from criticlab.rollout import prompts
from criticlab.rollout.loop import LoopConfig, LoopMethod, run_loop, run_loops
from criticlab.rollout.trajectory import STOP_SUFFIX, ZERO_SHOT, Trajectory
from criticlab.sandbox import Executor

SELF_CRITIQUE = "self_critique"
BASELINES: dict[str, str] = {
    ZERO_SHOT: "none",
    "execution_feedback": "execution_feedback",
    SELF_CRITIQUE: "self_critique",
    "self_critique_exec": "self_critique_exec",
}
TRAINED: dict[str, str] = {"ctrl_sft": stages.SFT_CHECKPOINTS, "ctrl_grpo": stages.GRPO_CHECKPOINTS}
"""Trained critics and the checkpoint directory (under ``checkpoints/``) each is read from."""
PAIRWISE_POOL_METHOD = "pairwise_pool"
SELECTION_POOL_METHOD = "selection_pool"


@dataclass(frozen=True)
class Method:
    name: str
    critic_mode: str
    critic_model: str | None = None
    stop_when_correct: bool = False


def checkpoint_for(profile: Profile, method: str) -> Path | None:
    """The final checkpoint of a trained critic, when its notebook has produced one."""
    path = profile.paths.checkpoints_dir / TRAINED[method] / stages.FINAL
    return path if (path / "config.json").is_file() or (path / "adapter_config.json").is_file() else None


def resolve_methods(
    profile: Profile, names: Sequence[str] | None = None
) -> tuple[list[Method], dict[str, str]]:
    """The methods to run (with ``+stop`` variants for critics) and why any asked-for one is skipped:
    ``names`` (default ``evaluation.methods``) and then ``evaluation.trained_critics``."""
    names = list(names if names is not None else profile.evaluation.methods)
    for trained in profile.evaluation.trained_critics:
        if trained not in TRAINED:
            raise ValueError(
                f"evaluation.trained_critics of {profile.name}: unknown critic {trained!r} "
                f"(known: {', '.join(TRAINED)})"
            )
        if trained not in names:
            names.append(trained)
    methods: list[Method] = []
    skipped: dict[str, str] = {}
    for name in names:
        base = name.removesuffix(STOP_SUFFIX)
        if base in BASELINES:
            method = Method(base, BASELINES[base])
        elif base in TRAINED:
            checkpoint = checkpoint_for(profile, base)
            if checkpoint is None:
                skipped[base] = f"no checkpoint yet under {profile.paths.checkpoints_dir / TRAINED[base]}"
                continue
            method = Method(base, "critic", str(checkpoint))
        elif base.startswith("critic:"):
            method = Method(base, "critic", base.split(":", 1)[1])
        else:
            known = ", ".join([*BASELINES, *TRAINED, "critic:<model>"])
            raise ValueError(f"evaluation.methods: unknown method {name!r} (known: {known})")
        if method not in methods:
            methods.append(method)
        if method.critic_mode != "none":
            stopping = Method(
                base + STOP_SUFFIX, method.critic_mode, method.critic_model, stop_when_correct=True
            )
            if stopping not in methods:
                methods.append(stopping)
    return methods, skipped


def loop_config(method: Method, profile: Profile, rounds: int | None = None) -> LoopConfig:
    ev = profile.evaluation
    return LoopConfig(
        method=method.name,
        critic_mode=method.critic_mode,  # type: ignore[arg-type]
        rounds=ev.rounds if rounds is None else rounds,
        samples=ev.samples_per_problem,
        stop_when_correct=method.stop_when_correct,
        solution_sampling=sampling_for(profile, "solution"),
        critique_sampling=sampling_for(profile, "critique"),
        revision_sampling=sampling_for(profile, "revision"),
        parser=profile.prompts.parser,
        revision_request=profile.prompts.revision_request,
    )


def run_methods(
    problems: Sequence[Problem],
    profile: Profile,
    executor: Executor,
    methods: Sequence[Method],
    out_dir: str | Path,
    progress: Callable[[str, int], None] | None = None,
    *,
    together: bool = True,
    rounds: int | None = None,
) -> dict[str, list[Trajectory]]:
    """Run every method; trajectories go to ``out_dir/<method>.jsonl`` (resumable, cached engine).

    The methods run together (:func:`criticlab.rollout.loop.run_loops`): a chunk of problems runs
    every method at once, so each round sends the requests of all methods to the engine in one
    batch per engine (the generator for solutions, self-critiques and revisions; each trained
    critic for its critiques). Critics that each need an engine of their own, where the backend
    holds one at a time, run in turn (:func:`critic_groups`). ``together=False`` runs one method
    after the other, as the workbench did before; the trajectories are the same either way. ``rounds`` overrides
    ``evaluation.rounds`` (the multi-round curve, :func:`run_curve`).
    """
    out_dir = Path(out_dir)
    generator = engine_for(profile, "generator")
    results: dict[str, list[Trajectory]] = {}
    for group in critic_groups(profile, methods):
        critics: dict[str, Engine] = {}
        loops = []
        for method in group:
            critic = None
            if method.critic_mode == "critic":
                key = method.critic_model or ""
                if key not in critics:
                    critics[key] = engine_for(profile, "critic", model=method.critic_model)
                critic = critics[key]
            path = out_dir / stages.trajectories_file(method.name)
            loops.append(LoopMethod(loop_config(method, profile, rounds), critic, path))
        if together:
            results.update(run_loops(problems, generator, executor, loops, progress=progress))
            continue
        for loop in loops:
            name = loop.config.method
            report = (lambda n, name=name: progress(name, n)) if progress else None
            results[name] = run_loop(
                problems, generator, executor, loop.config, loop.critic, loop.out_path, report
            )
    return {m.name: results[m.name] for m in methods}


def critic_groups(profile: Profile, methods: Sequence[Method]) -> list[list[Method]]:
    """``methods`` in groups that can run together: on a card, vLLM keeps one critic engine beside
    the generator's (the memory plan's critic slot, :func:`~criticlab.llm.follows_card_plan`), so
    each critic model that takes that slot gets a group of its own, after the group of every other
    method (the generator's own critiques, LoRA critics served on the generator's engine, any
    critic of a backend without slots). Without slotted critics: one group, in order."""
    from criticlab.llm import choose_engine, follows_card_plan

    def slotted(method: Method) -> str | None:
        if method.critic_mode != "critic":
            return None
        choice = choose_engine(profile, method.critic_model or profile.models.critic)
        return (
            method.critic_model or ""
            if follows_card_plan(choice.backend) and choice.slot == "critic"
            else None
        )

    groups: dict[str | None, list[Method]] = {None: []}
    for method in methods:
        groups.setdefault(slotted(method), []).append(method)
    return [group for group in groups.values() if group]


def run_curve(
    problems: Sequence[Problem],
    profile: Profile,
    executor: Executor,
    methods: Sequence[Method],
    stage_dir: str | Path,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, list[Trajectory]]:
    """The multi-round curve: every method for ``evaluation.curve_rounds`` rounds on the first
    ``evaluation.curve_problems`` problems, into ``stage_dir/curve/`` (:data:`criticlab.stages.CURVE`).

    Empty when ``curve_rounds`` does not exceed ``rounds`` (the main run is the curve). The curve's
    first rounds send the main run's requests again, so the response cache answers them and only
    the later rounds are generated.
    """
    ev = profile.evaluation
    if ev.curve_rounds <= ev.rounds:
        return {}
    subset = list(problems) if ev.curve_problems is None else list(problems)[: ev.curve_problems]
    return run_methods(
        subset, profile, executor, methods, Path(stage_dir) / stages.CURVE, progress, rounds=ev.curve_rounds
    )


def run_repairability(
    problems: Sequence[Problem],
    profile: Profile,
    executor: Executor,
    trajectories: Sequence[Trajectory],
    out_dir: str | Path,
) -> list[Repair]:
    """07's repairability records (:mod:`criticlab.evaluation.repairability`): each revising
    method's greedy revision read off its trajectories, ``evaluation.repair_sampled`` sampled
    revisions beside it under the same critique, and with ``evaluation.repair_hinted`` the
    revisions of every zero-shot solution under 03's hinted (oracle) critique.

    The generated records go to ``out_dir/repairs.jsonl`` (:data:`criticlab.stages.REPAIRS`) once
    complete; a rerun on the same problems reads them back."""
    ev = profile.evaluation
    greedy = repairability.from_trajectories(trajectories)
    path = Path(out_dir) / stages.REPAIRS
    wanted = {t.problem_id for t in trajectories}
    if path.is_file():
        kept = [repairability.Repair.from_dict(row) for row in iter_jsonl(path)]
        if {r.problem_id for r in kept} == wanted:
            return greedy + kept
    generator = engine_for(profile, "generator")
    options = {
        "revision_sampling": sampling_for(profile, "revision"),
        "sampled_temperature": profile.sampling.temperature,
        "request": profile.prompts.revision_request,
    }
    more = repairability.sampled_from_trajectories(
        trajectories, problems, generator, executor, sampled_revisions=ev.repair_sampled, **options
    )
    if ev.repair_hinted:
        by_id = {p.id: p for p in problems}
        first: dict[tuple[str, int], Trajectory] = {}
        for t in trajectories:
            first.setdefault((t.problem_id, t.sample), t)
        solutions = sorted(first.values(), key=lambda t: (t.problem_id, t.sample))
        more += repairability.revise(
            repairability.HINTED,
            [by_id[t.problem_id] for t in solutions],
            [(t.sample, t.rounds[0]) for t in solutions],
            generator,
            executor,
            critic=generator,
            critique_sampling=sampling_for(profile, "critique"),
            sampled_revisions=ev.repair_sampled,
            **options,
        )
    write_jsonl(path, [r.to_dict() for r in more])
    return greedy + more


# --------------------------------------------------------------------------------------------
# Pairwise judgment (JudgeBench-style, on our own executed samples)
# --------------------------------------------------------------------------------------------


def zero_shot_pool(
    problems: Sequence[Problem],
    profile: Profile,
    executor: Executor,
    path: str | Path,
    samples: int,
    limit: int | None,
    method: str,
) -> list[Trajectory]:
    """``samples`` zero-shot solutions to each of the first ``limit`` problems (None: all), executed,
    appended to ``path`` (resumable). Sample *i* is seeded ``seed + i``, so every pool's first
    samples are the main run's answers again, which the response cache serves."""
    subset = list(problems) if limit is None else list(problems)[:limit]
    config = LoopConfig(
        method=method,
        critic_mode="none",
        samples=samples,
        solution_sampling=sampling_for(profile, "solution"),
    )
    return run_loop(subset, engine_for(profile, "generator"), executor, config, out_path=path)


def pairwise_pool(
    problems: Sequence[Problem], profile: Profile, executor: Executor, out_dir: str | Path
) -> list[Trajectory]:
    """Zero-shot samples (``evaluation.pairwise_samples`` per problem, on the first
    ``evaluation.pairwise_problems``) from which passing/failing pairs are drawn, written to
    :data:`criticlab.stages.PAIRWISE_POOL` (resumable)."""
    ev = profile.evaluation
    path = Path(out_dir) / stages.PAIRWISE_POOL
    return zero_shot_pool(
        problems, profile, executor, path, ev.pairwise_samples, ev.pairwise_problems, PAIRWISE_POOL_METHOD
    )


def selection_pool(
    problems: Sequence[Problem], profile: Profile, executor: Executor, out_dir: str | Path
) -> list[Trajectory]:
    """Best-of-N's solutions: the largest ``evaluation.selection_n`` per problem, on the first
    ``evaluation.selection_problems``, written to :data:`criticlab.stages.SELECTION_POOL`."""
    ev = profile.evaluation
    path = Path(out_dir) / stages.SELECTION_POOL
    return zero_shot_pool(
        problems, profile, executor, path, max(ev.selection_n), ev.selection_problems, SELECTION_POOL_METHOD
    )


CRL_CRITIC = "crl"
"""Best-of-N's name for notebook 06's trained policy (``crl.ratio``, first seed), judging as it learnt to."""


def crl_checkpoint(profile: Profile) -> Path | None:
    """06's final policy at ``crl.ratio`` and the profile's seed, when 06 has produced it."""
    named = profile.seed if profile.crl.seeds > 1 else None
    run = stages.for_ratio(stages.CRL_CHECKPOINTS, profile.crl.ratio, named)
    path = profile.paths.checkpoints_dir / run / stages.FINAL
    return path if (path / "config.json").is_file() or (path / "adapter_config.json").is_file() else None


def selection_critics(profile: Profile, methods: Sequence[Method]) -> CriticEngines:
    """Best-of-N's selectors: the pairwise critics, 06's CRL-trained policy once it exists (judging in
    Critique-Coder's ``\\conclusion`` format) and every ``evaluation.selection_judges`` model."""
    critics = pairwise_critics(profile, methods)
    makers, styles = dict(critics.makers), dict(critics.styles)
    crl = crl_checkpoint(profile)
    if crl is not None:
        makers[CRL_CRITIC] = lambda: engine_for(profile, "critic", model=str(crl))
        styles[CRL_CRITIC] = "conclusion"
    for entry in profile.evaluation.selection_judges:
        model, style = selection.judge_spec(entry)
        name = f"judge:{entry}"
        makers[name] = lambda model=model: engine_for(profile, "critic", model=model)
        styles[name] = style
    return CriticEngines(makers, styles)


def judge_selection_pool(
    pool: Sequence[Trajectory],
    problems: Sequence[Problem],
    profile: Profile,
    critics: Mapping[str, Engine],
    out_dir: str | Path,
) -> list[selection.Judged]:
    """Every critic's ``evaluation.selection_critiques`` judgments of each pooled solution, beside
    always-Correct's. Each critic's judgments are appended to
    :data:`criticlab.stages.SELECTION_JUDGMENTS` when done; a critic found there for the same
    solutions is not asked again."""
    path = Path(out_dir) / stages.SELECTION_JUDGMENTS
    done: dict[str, list[selection.Judged]] = {}
    for row in iter_jsonl(path) if path.is_file() else ():
        judged = selection.Judged.from_dict(row)
        done.setdefault(judged.critic, []).append(judged)
    wanted = {(t.problem_id, t.sample) for t in selection.solutions(pool)}
    out = selection.always_correct(pool)
    for name in critics:
        if name in done and {(j.problem_id, j.sample) for j in done[name]} == wanted:
            out += done[name]
            continue
        judged = selection.judge(
            name,
            pool,
            problems,
            critics[name],
            sampling_for(profile, "critique"),
            profile.evaluation.selection_critiques,
            profile.prompts.parser,
            style=critics.style(name) if isinstance(critics, CriticEngines) else "critique",
        )
        append_jsonl(path, [j.to_dict() for j in judged])
        out += judged
    return out


class CriticEngines(Mapping[str, Engine]):
    """Critics by name, each engine made when it is asked for. Used in turn (``items()``), a
    backend that holds one critic engine at a time (vLLM's critic slot) starts each critic as the
    previous one closes, where building them all first would close all but the last."""

    def __init__(
        self, makers: dict[str, Callable[[], Engine]], styles: Mapping[str, selection.Style] | None = None
    ) -> None:
        self.makers = makers
        self.styles: dict[str, selection.Style] = dict(styles or {})

    def style(self, name: str) -> selection.Style:
        """How the critic judges: CTRL's critique (the default) or Critique-Coder's conclusion."""
        return self.styles.get(name, "critique")

    def __getitem__(self, name: str) -> Engine:
        return self.makers[name]()

    def __iter__(self) -> Iterator[str]:
        return iter(self.makers)

    def __len__(self) -> int:
        return len(self.makers)


def pairwise_critics(profile: Profile, methods: Sequence[Method]) -> CriticEngines:
    """The critics compared on pairs: self-critique (the generator) and every model-backed critic."""
    makers: dict[str, Callable[[], Engine]] = {SELF_CRITIQUE: lambda: engine_for(profile, "generator")}
    for m in methods:
        if m.critic_mode == "critic" and not m.stop_when_correct:
            makers[m.name] = lambda model=m.critic_model: engine_for(profile, "critic", model=model)
    return CriticEngines(makers)


@dataclass(frozen=True)
class ResponsePair:
    """Two solutions to one problem, one that passes its tests and one that does not."""

    problem: Problem
    correct_code: str
    incorrect_code: str


def response_pairs(problems: dict[str, Problem], trajectories: Sequence[Trajectory]) -> list[ResponsePair]:
    """Pairs from round-0 samples of the same problem (first passing × first failing sample)."""
    by_problem: dict[str, list[Trajectory]] = {}
    for t in trajectories:
        if t.rounds and t.rounds[0].code is not None and not t.rounds[0].result.is_infra_error:
            by_problem.setdefault(t.problem_id, []).append(t)
    pairs = []
    for pid, group in by_problem.items():
        good = next((t for t in group if t.rounds[0].correct), None)
        bad = next((t for t in group if not t.rounds[0].correct), None)
        if good and bad and pid in problems:
            pairs.append(ResponsePair(problems[pid], good.rounds[0].code or "", bad.rounds[0].code or ""))
    return pairs


def critique_pairs(
    pairs: Sequence[ResponsePair],
    critic: Engine,
    sampling: SamplingParams,
    k: int,
    parser: prompts.ParserRule = "workbook",
) -> list[PairJudgments]:
    """k critiques of each response; the judgments, read by ``parser``, feed
    :func:`criticlab.evaluation.metrics.majority_curve`."""
    convs = [
        prompts.critique_conversation(p.problem, code)
        for p in pairs
        for code in (p.correct_code, p.incorrect_code)
    ]
    answers = critic.generate(convs, sampling, n=k) if convs else []
    judgments = [[prompts.parse_judgment(c.text, parser) for c in row] for row in answers]
    return [
        PairJudgments(pair_id=p.problem.id, correct=judgments[2 * i], incorrect=judgments[2 * i + 1])
        for i, p in enumerate(pairs)
    ]

"""Notebook 06's loop, one function per job: the warm-up, one ratio's runs, and a policy's evaluation.

- :func:`grpo_section` — the GRPO settings every CRL run trains with;
- :func:`format_warmup` — the optional format warm-up (SFT on bare conclusions);
- :func:`evaluation_plan` and :func:`evaluate_policy` — a policy as a judge on the held-out CRL
  rows and as a coder on 07's evaluation problems, the same way before and after training;
- :func:`train_ratio` — one mix ratio: the mixed rows (and their verl export), one GRPO run per
  seed with the mixed reward, each trained policy evaluated;
- :func:`training_curves` — the reward and conclusion-accuracy curves of the runs' reward logs;
- :func:`crl_metrics` — 06's metrics record from the rows, the runs and the comparison.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from criticlab import stages, training
from criticlab.crl.compare import code_scores, policy_name, row_problem_id, run_size, sample_code
from criticlab.crl.probe import conclusion_stats, sample_conclusions, summarize_run
from criticlab.crl.rows import label_balance, mix
from criticlab.crl.warmup import format_warmup_rows
from criticlab.data import evaluation_subset, read_problems
from criticlab.data.types import Problem
from criticlab.io import read_jsonl, write_jsonl
from criticlab.llm import policy_engine, sampling_for, throughput
from criticlab.llm.base import SamplingParams
from criticlab.rewards import TASK_CRL, CodeReward, CRLReward, MixedReward, per_step
from criticlab.rollout.prompts import ParserRule
from criticlab.sandbox import Executor
from criticlab.stages import CRLRatioRun, Throughput

if TYPE_CHECKING:
    import pandas as pd

    from criticlab.config import GRPOSection, Profile
    from criticlab.llm.throughput import GenerationMeter


def grpo_section(profile: Profile) -> GRPOSection:
    """The profile's ``grpo`` section as CRL trains with it: ``crl.max_steps`` steps when set, and
    every row of the mixture (``max_prompts`` is a 05 setting)."""
    return dataclasses.replace(
        profile.grpo, max_steps=profile.crl.max_steps or profile.grpo.max_steps, max_prompts=None
    )


@dataclass
class WarmUp:
    """The format warm-up's SFT run."""

    rows: int
    result: training.TrainResult

    def describe(self) -> str:
        """Rows, steps and the loss from first to last step (or that it was resumed, already done)."""
        losses = [h["loss"] for h in self.result.history if "loss" in h]
        if not losses:
            return "format warm-up: resumed, already done"
        return (
            f"format warm-up: {self.rows} rows, {self.result.global_step} steps, "
            f"loss {losses[0]:.2f} -> {losses[-1]:.2f}"
        )


def format_warmup(profile: Profile, policy: str, crl_rows: Sequence[dict[str, Any]]) -> WarmUp | None:
    """Fine-tune ``policy`` for ``crl.format_warmup_epochs`` epochs (the profile's ``sft`` settings
    otherwise) to answer the training CRL rows with a bare conclusion drawn at random
    (:func:`criticlab.crl.format_warmup_rows`); None when the profile asks for no warm-up."""
    if not profile.crl.format_warmup_epochs:
        return None
    rows = format_warmup_rows(crl_rows, seed=profile.seed)
    result = training.train_sft(
        policy,
        rows,
        dataclasses.replace(profile.sft, epochs=profile.crl.format_warmup_epochs),
        profile.paths.checkpoints_dir / stages.CRL_WARMUP_CHECKPOINTS,
        seed=profile.seed,
        progress=profile.progress,
        source="06_crl format warm-up",
    )
    return WarmUp(rows=len(rows), result=result)


@dataclass
class EvaluationPlan:
    """How 06 evaluates every policy (the start and each trained one) the same way."""

    heldout: list[dict[str, Any]]
    """The held-out CRL rows the policy judges."""
    judgments: int
    """Conclusions sampled per held-out row (a GRPO group)."""
    judge_sampling: SamplingParams
    problems: list[Problem]
    """07's evaluation problems (first ``crl.eval_problems``) the policy solves."""
    samples: int
    """Solutions per evaluation problem."""
    code_sampling: SamplingParams
    stage_dir: Path
    """Where each policy's executed solutions go."""
    parser: ParserRule = "workbook"
    """How the judge's conclusions are read (``prompts.parser``)."""


def evaluation_plan(profile: Profile, grpo: GRPOSection, heldout: Sequence[dict[str, Any]]) -> EvaluationPlan:
    """The judge is probed at GRPO's temperature and completion length (no top-p cut), as many
    conclusions per row as a GRPO group; the coder writes ``crl.eval_samples`` solutions (default
    ``evaluation.samples_per_problem``) at the profile's solution sampling to the first
    ``crl.eval_problems`` (default ``evaluation.max_problems``) of the problems 07 evaluates."""
    n_eval = (
        profile.crl.eval_problems
        if profile.crl.eval_problems is not None
        else profile.evaluation.max_problems
    )
    problems = evaluation_subset(
        read_problems(profile.paths.eval_jsonl),
        n_eval,  # the ones 07 evaluates
        profile.evaluation.problem_ids,
        f"evaluation.problem_ids of {profile.name}",
    )
    return EvaluationPlan(
        heldout=list(heldout),
        judgments=grpo.group_size,
        judge_sampling=SamplingParams(
            temperature=grpo.temperature, top_p=1.0, max_tokens=grpo.max_completion_length, seed=profile.seed
        ),
        problems=problems,
        samples=profile.crl.eval_samples or profile.evaluation.samples_per_problem,
        code_sampling=sampling_for(profile, "solution"),
        stage_dir=profile.paths.stage_dir(stages.CRL),
        parser=profile.prompts.parser,
    )


def evaluate_policy(
    profile: Profile, model: str, plan: EvaluationPlan, code_file: str, executor: Executor
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """``(judge, code)``: ``model`` as a judge on the held-out CRL rows (:func:`criticlab.crl.conclusion_stats`,
    empty without rows) and as a coder on the evaluation problems (:func:`criticlab.crl.code_scores`;
    the executed solutions go to ``code_file`` in the stage directory). The engine is closed after,
    so its weights are freed before the next run trains."""
    engine = policy_engine(profile, model)
    try:
        judged = (
            sample_conclusions(
                engine, plan.heldout, plan.judge_sampling, n=plan.judgments, parser=plan.parser
            )
            if plan.heldout
            else []
        )
        outcomes = (
            sample_code(engine, plan.problems, executor, plan.code_sampling, plan.samples)
            if plan.problems
            else []
        )
    finally:
        getattr(engine, "close", lambda: None)()
    write_jsonl(plan.stage_dir / code_file, outcomes)
    return (conclusion_stats(judged) if judged else {}), code_scores(outcomes, plan.samples)


def describe(judge: dict[str, float], code: Sequence[dict[str, Any]]) -> str:
    """One line of a policy's evaluation: judge accuracy beside always-T, Pass@k per benchmark."""
    passed = ", ".join(f"{c['source']} pass@{c['k']} {c['pass@k']:.3f}" for c in code)
    return (
        f"judge accuracy {judge.get('crl_accuracy', float('nan')):.3f} (always-T "
        f"{judge.get('crl_always_T_accuracy', float('nan')):.3f}); {passed}"
    )


@dataclass
class CRLRun:
    """One trained run of :func:`train_ratio`: its metrics record, name, reward log and rollout tokens."""

    name: str
    run: CRLRatioRun
    log: list[dict[str, Any]]
    rollout: GenerationMeter


@dataclass
class RatioTraining:
    """One ratio of :func:`train_ratio`: the mixed rows' label balance and the runs, one per seed;
    ``skipped`` says why when the ratio could not be mixed."""

    ratio: float
    balance: dict[str, int] = field(default_factory=dict)
    runs: list[CRLRun] = field(default_factory=list)
    skipped: str | None = None


def train_ratio(
    profile: Profile,
    policy: str,
    ratio: float,
    code_pool: Sequence[dict[str, Any]],
    crl_pool: Sequence[dict[str, Any]],
    seeds: Sequence[int],
    plan: EvaluationPlan,
    executor: Executor,
    before: dict[str, float],
    grpo: GRPOSection | None = None,
) -> RatioTraining:
    """Mix ``ratio`` of CRL rows into the code rows (:func:`criticlab.crl.run_size` rows, so the ratio
    holds exactly), write the mixture (JSONL and verl parquet), then per seed train ``policy`` with
    GRPO on the mixed reward and evaluate the trained policy (:func:`evaluate_policy`).

    Every seed trains on the same rows; the seed changes GRPO's sampling and batch order. Files of a
    seed carry its suffix only when ``crl.seeds`` > 1. ``before`` is the start policy's judge record."""
    grpo = grpo or grpo_section(profile)
    stage_dir = profile.paths.stage_dir(stages.CRL)
    size = run_size(len(code_pool), len(crl_pool), ratio, grpo.prompts_per_step * max(grpo.max_steps, 1))
    try:
        rows = mix(code_pool[:size], crl_pool, ratio, seed=profile.seed)
    except ValueError as err:
        return RatioTraining(ratio=ratio, skipped=str(err))
    write_jsonl(stage_dir / stages.for_ratio(stages.CRL_MIX, ratio), rows)
    training.write_verl_parquet(rows, stage_dir / stages.for_ratio(stages.CRL_VERL_MIX, ratio))
    out = RatioTraining(ratio=ratio, balance=label_balance(rows))
    for seed in seeds:
        named = seed if profile.crl.seeds > 1 else None
        log = stage_dir / stages.for_ratio(stages.CRL_REWARDS, ratio, named)
        reward = MixedReward(CodeReward(executor), CRLReward(parser=profile.prompts.parser), log_path=log)
        timer = training.StepTimer(
            reward, log_path=stage_dir / stages.for_ratio(stages.CRL_STEP_TIMES, ratio, named)
        )
        result = training.train_grpo(
            policy,
            rows,
            reward,
            grpo,
            profile.paths.checkpoints_dir / stages.for_ratio(stages.CRL_CHECKPOINTS, ratio, named),
            seed=seed,
            progress=profile.progress,
            callbacks=[timer],
        )
        rollout = throughput.tokens_from_history(
            result.history,
            grpo.group_size * grpo.prompts_per_step,
            sum(t.sampling for t in timer.times),
            steps=len(timer.times),
        )
        name = policy_name(ratio) + (f" · seed {seed}" if named is not None else "")
        after, code = evaluate_policy(
            profile, str(result.final_dir), plan, stages.for_ratio(stages.CRL_CODE, ratio, named), executor
        )
        logged = read_jsonl(log)
        out.runs.append(
            CRLRun(
                name=name,
                log=logged,
                rollout=rollout,
                run=CRLRatioRun(
                    ratio=ratio,
                    run=result.record(),
                    summary=summarize_run(logged),
                    before=before,
                    after=after,
                    seed=named,
                    code=code,
                ),
            )
        )
    return out


def training_curves(
    logs: dict[str, list[dict[str, Any]]],
) -> tuple[dict[str, list[tuple[int, float]]], dict[str, list[tuple[int, float]]]]:
    """``(reward, accuracy)``: per run name, the mean reward per step, and the conclusion accuracy
    per step on the CRL rows (runs without CRL rows left out)."""
    rewards = {name: [(s["step"], s["reward"]) for s in per_step(logged)] for name, logged in logs.items()}
    accuracy = {
        name: [(s["step"], s["accuracy"]) for s in per_step([x for x in logged if x["task"] == TASK_CRL])]
        for name, logged in logs.items()
    }
    return rewards, {k: v for k, v in accuracy.items() if v}


def crl_metrics(
    profile: Profile,
    *,
    code_rows: int,
    crl_rows: int,
    policy: str,
    runs: Sequence[CRLRatioRun],
    seeds: Sequence[int],
    train_crl_rows: int,
    plan: EvaluationPlan,
    start_code: Sequence[dict[str, Any]],
    start_judge: dict[str, float],
    comparison: pd.DataFrame,
    parser_disagreements: int = 0,
    throughput: Throughput | None = None,
) -> stages.CRLMetrics:
    """06's record: the rows (code rows, every CRL row, those the runs may train on), the policy the
    runs start from and the profile's format warm-up epochs, every run, the held-out rows and their
    problems (``plan.heldout``), the evaluation's size, the start policy as coder and judge, and
    the rows of the comparison table (:func:`criticlab.crl.comparison_table`).

    ``throughput``: 06's throughput has a part the stage's watch does not see (the policies'
    rollouts, sampled inside the trainer), so the notebook passes ``watch.record({"rollouts": ...})``;
    left None, :meth:`criticlab.outputs.StageOutputs.finish` fills in the watch's engines alone.
    """
    return stages.CRLMetrics(
        code_rows=code_rows,
        crl_rows=crl_rows,
        policy=policy,
        format_warmup_epochs=profile.crl.format_warmup_epochs,
        ratios=list(runs),
        seeds=list(seeds),
        train_crl_rows=train_crl_rows,
        heldout_crl_rows=len(plan.heldout),
        heldout_problems=sorted({row_problem_id(r) for r in plan.heldout}),
        eval_problems=len(plan.problems),
        eval_samples=plan.samples,
        start_code=list(start_code),
        start_judge=start_judge,
        comparison=comparison.to_dict(orient="records"),
        parser_disagreements=parser_disagreements,
        throughput=throughput,
    )

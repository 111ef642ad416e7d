"""Notebook 05's loop, one function per job, so the notebook and the tools run the same code.

- :func:`reward_for` — the CTRL reward as a profile sets it (revision sampling, judgment gate);
- :func:`train_critic` — one GRPO run of the critic with the profile's ``grpo`` section (its own
  LoRA keys), the one place the CTRL reward meets :func:`criticlab.training.train_grpo`;
- :func:`heldout_score` — a critic on the held-out prompts (05 before and after training, the
  critic choice and the GRPO settings choice);
- :func:`train_seed` — 05's run for one seed: reward log, step times, training, the curve's
  "did it learn" check and the trained critic on the held-out prompts, as a :class:`SeedTraining`;
- :func:`training_curves` — 05's per-seed curves from the reward logs and the trainers' logs;
- :func:`grpo_metrics` — 05's metrics record from the runs of every seed.

``python -m criticlab.tools.grpo_settings`` and ``python -m criticlab.bench train`` call
:func:`reward_for` and :func:`train_critic`, so a setting chosen there trains as 05 trains it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from criticlab import stages, training
from criticlab.ctrl.heldout import across_seeds, heldout_sampling, measure_heldout, trained_mix
from criticlab.io import read_jsonl
from criticlab.llm import policy_engine, sampling_for, throughput
from criticlab.llm.base import Engine
from criticlab.rewards import CTRLReward, per_step
from criticlab.sandbox import Executor
from criticlab.stages import GRPOSeedRun, HeldoutScore, JudgmentMix, Throughput
from criticlab.stats import learning_check

if TYPE_CHECKING:
    from criticlab.config import GRPOSection, Profile
    from criticlab.llm.throughput import GenerationMeter


def reward_for(
    profile: Profile,
    generator: Engine,
    executor: Executor,
    log_path: str | Path | None = None,
    *,
    grpo: GRPOSection | None = None,
) -> CTRLReward:
    """The CTRL reward of ``profile``: the generator revises at the profile's revision sampling, and
    ``grpo`` (default the profile's section; a grid setting's in the settings choice) decides the
    judgment gate and the previous answer the revision shows; ``prompts`` the revision request and
    the judgment parser. ``log_path``: where each sample's :class:`~criticlab.rewards.RewardRecord` goes."""
    section = grpo or profile.grpo
    return CTRLReward(
        generator,
        executor,
        sampling_for(profile, "revision"),
        log_path=log_path,
        judgment_gate=section.judgment_gate,
        revision_input=section.revision_input,
        revision_request=profile.prompts.revision_request,
        parser=profile.prompts.parser,
    )


def train_critic(
    profile: Profile,
    start: str,
    rows: list[dict[str, Any]],
    reward: CTRLReward,
    output_dir: str | Path,
    *,
    seed: int | None = None,
    callbacks: Sequence[Any] = (),
    progress: bool | None = None,
    save_steps: int = 10,
) -> training.TrainResult:
    """GRPO of the critic ``start`` on ``rows`` (:func:`criticlab.ctrl.grpo_rows`) with the profile's
    ``grpo`` section, LoRA rank included; ``seed`` defaults to the profile's, ``progress`` too."""
    return training.train_grpo(
        start,
        rows,
        reward,
        profile.grpo,
        output_dir,
        seed=profile.seed if seed is None else seed,
        progress=profile.progress if progress is None else progress,
        save_steps=save_steps,
        callbacks=callbacks,
    )


def heldout_log(profile: Profile, when: str) -> Path:
    """05's reward log of one held-out measurement (``before``, ``after_seed<N>``)."""
    return profile.paths.stage_dir(stages.GRPO) / stages.HELDOUT_REWARDS.format(when=when)


def heldout_score(
    profile: Profile,
    critic: str,
    rows: Sequence[dict[str, Any]],
    generator: Engine,
    executor: Executor,
    log_path: str | Path,
    *,
    grpo: GRPOSection | None = None,
    critiques: int | None = None,
) -> HeldoutScore | None:
    """The critic ``critic`` (a model reference) on the held-out prompts ``rows`` (GRPO rows), None
    without rows.

    Critiques are sampled as GRPO samples them in training (``grpo``, default the profile's section:
    :func:`criticlab.ctrl.heldout_sampling`), ``critiques`` per prompt (default
    ``grpo.heldout_critiques``); the generator revises under each; ``log_path`` is written afresh.
    Intervals: a bootstrap over prompts seeded with the profile's seed."""
    if not rows:
        return None
    section = grpo or profile.grpo
    reward = reward_for(profile, generator, executor, log_path, grpo=section)
    Path(log_path).unlink(missing_ok=True)
    return measure_heldout(
        policy_engine(profile, critic),
        rows,
        reward,
        heldout_sampling(section, profile.seed),
        section.heldout_critiques if critiques is None else critiques,
        seed=profile.seed,
    )


def describe_heldout(score: HeldoutScore, when: str) -> str:
    """One line of a held-out score with its intervals, as 05 prints it."""
    return (
        f"held-out ({when}): reward {score.reward:.3f} [{score.reward_lo:.3f}, {score.reward_hi:.3f}], "
        f"verdict accuracy {score.accuracy:.3f} [{score.accuracy_lo:.3f}, {score.accuracy_hi:.3f}] "
        f"(on Correct {score.accuracy_correct:.3f}, on Incorrect {score.accuracy_incorrect:.3f}), "
        f"no judgment {score.unparsed:.3f}; {score.critiques} critiques of {score.prompts} prompts"
    )


@dataclass
class SeedTraining:
    """One seed of 05: its metrics record, the trainer's result (its log history holds the KL and
    clipping curves) and the critic's rollout tokens (sampled inside the trainer)."""

    run: GRPOSeedRun
    result: training.TrainResult
    rollout: GenerationMeter


def train_seed(
    profile: Profile,
    start: str,
    rows: list[dict[str, Any]],
    generator: Engine,
    executor: Executor,
    seed: int,
    heldout: Sequence[dict[str, Any]] = (),
) -> SeedTraining:
    """05's GRPO run with ``seed``: reward log and step times under ``05_grpo/`` and the checkpoints
    under ``checkpoints/`` (the profile's seed unsuffixed, others ``_seed<N>``), resumed from the
    last checkpoint; then the trained critic on the ``heldout`` prompts."""
    stage_dir = profile.paths.stage_dir(stages.GRPO)
    reward_log = stage_dir / stages.for_seed(stages.REWARDS, seed, profile.seed)
    reward = reward_for(profile, generator, executor, reward_log)
    # per-step seconds: critic sampling, generator revision, execution, optimisation
    timer = training.StepTimer(
        reward, log_path=stage_dir / stages.for_seed(stages.STEP_TIMES, seed, profile.seed)
    )
    result = train_critic(
        profile,
        start,
        rows,
        reward,
        profile.paths.checkpoints_dir / stages.for_seed(stages.GRPO_CHECKPOINTS, seed, profile.seed),
        seed=seed,
        callbacks=[timer],
    )
    rollout = throughput.tokens_from_history(
        result.history,
        profile.grpo.group_size * profile.grpo.prompts_per_step,
        sum(t.sampling for t in timer.times),
        steps=len(timer.times),
    )
    logged = read_jsonl(reward_log) if reward_log.is_file() else []
    steps = per_step(logged)
    run = GRPOSeedRun(
        seed=seed,
        run=training.run_record(result),
        reward_per_step=[s["reward"] for s in steps],
        learned=learning_check([s["reward"] for s in steps]),
        unparsed_per_step=[s["unparsed"] for s in steps],
        seconds_per_step=training.summarize(timer.times),
        trained_mix=trained_mix(logged),
        after=heldout_score(
            profile,
            str(result.final_dir),
            heldout,
            generator,
            executor,
            heldout_log(profile, f"after_seed{seed}"),
        ),
    )
    return SeedTraining(run=run, result=result, rollout=rollout)


CURVES = {"reward": "reward", "judgment accuracy": "accuracy", "no judgment": "unparsed"}
"""05's curves read from the reward logs: title → key of :func:`criticlab.rewards.per_step`."""
TRAINER_CURVES = {"cut at max length": "completions/clipped_ratio", "KL": "kl"}
"""05's curves read from the trainers' logs: title → TRL's logged key."""


def training_curves(
    profile: Profile, seeds: Sequence[SeedTraining]
) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Title → ``seed <N>`` → (step, value): the reward-log curves of :data:`CURVES` per seed (empty
    for a seed without a log), then, when any seed trained, the trainer curves of :data:`TRAINER_CURVES`."""
    stage_dir = profile.paths.stage_dir(stages.GRPO)
    logs = {}
    for s in seeds:
        log = stage_dir / stages.for_seed(stages.REWARDS, s.run.seed, profile.seed)
        logs[s.run.seed] = per_step(read_jsonl(log)) if log.is_file() else []
    series = {
        title: {f"seed {seed}": [(row["step"], row[key]) for row in steps] for seed, steps in logs.items()}
        for title, key in CURVES.items()
    }
    if seeds:
        for title, key in TRAINER_CURVES.items():
            series[title] = {f"seed {s.run.seed}": s.result.series(key) for s in seeds}
    return series


def grpo_metrics(
    profile: Profile,
    *,
    rl_rows: int,
    start: str,
    runs: Sequence[GRPOSeedRun],
    unparsed_critiques: int,
    unparsed_reward: float | None,
    prompts_mix: JudgmentMix,
    heldout_rows: int,
    heldout_mix: JudgmentMix,
    heldout_before: HeldoutScore | None,
    parser_disagreements: int = 0,
    throughput: Throughput | None = None,
) -> stages.GRPOMetrics:
    """05's record: the first seed's run at the top level (the critic later stages use; a run that
    did not train, with the profile's seed, when no seed ran), every seed's run and their spread
    (:func:`criticlab.ctrl.across_seeds`), and the held-out prompts' count, mix and starting score.

    ``rl_rows`` counts 03's RL rows; ``unparsed_critiques`` and ``unparsed_reward`` are what
    :func:`criticlab.rewards.unanswered_reward` finds in the first seed's reward log, and
    ``parser_disagreements`` what :func:`criticlab.rewards.parser_disagreements` counts there; the
    judgment gate is the profile's. ``throughput``: 05's throughput has a part the stage's watch does not
    see (the critic's rollouts, sampled inside the trainer), so the notebook passes
    ``watch.record({"rollouts": ...})``; left None, :meth:`criticlab.outputs.StageOutputs.finish`
    fills in the watch's engines alone.
    """
    first = runs[0] if runs else GRPOSeedRun(seed=profile.seed, run=training.run_record(None))
    return stages.GRPOMetrics(
        rl_rows=rl_rows,
        start=start,
        run=first.run,
        reward_per_step=first.reward_per_step,
        learned=first.learned,
        unparsed_per_step=first.unparsed_per_step,
        seconds_per_step=first.seconds_per_step,
        judgment_gate=profile.grpo.judgment_gate,
        parser_disagreements=parser_disagreements,
        unparsed_critiques=unparsed_critiques,
        unparsed_reward=unparsed_reward,
        prompts_mix=prompts_mix,
        heldout_rows=heldout_rows,
        heldout_mix=heldout_mix,
        heldout_before=heldout_before,
        seeds=list(runs),
        across_seeds=across_seeds(runs),
        throughput=throughput,
    )

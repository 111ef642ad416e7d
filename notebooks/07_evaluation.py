# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Evaluation: critique→revision rounds
#
# Every method of the paper's tables runs on the evaluation set: **zero-shot**, **execution
# feedback** (the raw test results fed back to the generator), **self-critique**, **self-critique
# with execution feedback**, and each **trained critic** (CTRL-SFT from notebook 04, CTRL-GRPO from
# notebook 05) once its checkpoint exists. Critic methods run for `rounds` rounds, once revising
# every round and once (`+stop`) stopping when the critic judges the solution Correct.
# Execution feedback's judgment is the tests' own, so its `+stop` variant stops exactly when every
# test passes — the bound a perfectly discriminating critic would reach.
#
# The tables report, per method and round k, **Pass@1**, **Δ↑** (share of all samples wrong at
# round 0 and right at round k) and **Δ↓** (right at round 0, wrong at round k), so that
# Pass@1(k) = Pass@1(0) + Δ↑ − Δ↓ exactly — checked on every table before it is written — with
# bootstrap intervals over problems, beside the **Δ↑ ceiling** of the generator (its repairability
# under oracle feedback); the critics' **discrimination** (F1 of their Correct/Incorrect
# judgments on the zero-shot solutions against execution); and **pairwise accuracy** (Maj@k): given
# a passing and a failing solution to the same problem and k critiques of each, does the passing one
# collect more Correct judgments?
#
# Reference (CTRL, CodeContests, Qwen2.5-Coder-32B generator; Pass@1 / Δ↑ / Δ↓ in %): zero-shot 7.88;
# self-critique 8.36 / 2.30 / 1.82; CTRL-SFT 8.36 / 3.52 / 3.03; CTRL 11.76 / 4.73 / 0.85.
#
# **Reads** `data/eval.jsonl` and any critic checkpoints. **Writes** `07_evaluation/<method>.jsonl`
# (trajectories), `tables/07_*.{csv,md,tex}`, figures and `metrics.json`.

# %%
import pandas as pd
from tqdm.auto import tqdm

from criticlab import config, evaluation, stages
from criticlab.data import evaluation_subset, read_problems
from criticlab.llm import sampling_for, throughput
from criticlab.rollout import outcomes
from criticlab.sandbox import make_executor
from criticlab.viz import plots

# %% tags=["parameters"]
profile = "cpu"
rounds = None
max_problems = None
samples_per_problem = None

# %%
cfg = config.load_profile(
    profile,
    overrides={
        "evaluation": {
            "rounds": rounds,
            "max_problems": max_problems,
            "samples_per_problem": samples_per_problem,
        }
    },
)
out = cfg.paths.stage(
    stages.EVALUATION, watch=throughput.StageWatch.resuming
)  # tokens from here on, added to earlier runs'
stage_dir = out.dir
problems = evaluation_subset(
    read_problems(cfg.paths.eval_jsonl),
    cfg.evaluation.max_problems,  # in turn from each benchmark
    cfg.evaluation.problem_ids,
    f"evaluation.problem_ids of {cfg.name}",
)
methods, skipped = evaluation.resolve_methods(cfg)
print(f"profile {cfg.name}: {len(problems)} evaluation problems, {cfg.evaluation.rounds} round(s)")
print("methods:", ", ".join(m.name for m in methods))
for name, why in skipped.items():
    print(f"skipped {name}: {why}")

# %% [markdown]
# ## Run every method
#
# The methods run together: a chunk of problems runs every method at once, so each round sends the
# requests of all methods to each engine in one batch (the generator's solutions, self-critiques
# and revisions; each trained critic's critiques), and round 0 — the same request for every method
# — is generated once. Each method's trajectories are those it would get alone. Trajectories are
# appended per method and chunk: re-running continues an interrupted evaluation.
#
# A profile can evaluate one round on many problems for the main table and follow a subset further
# for the multi-round curve (`evaluation.curve_rounds` on the first `evaluation.curve_problems`):
# the curve's first rounds are the main run's requests again, answered by the response cache.

# %%
with make_executor(cfg.sandbox) as executor:
    bars = {}

    def progress(method: str, n: int) -> None:
        if method not in bars:
            bars[method] = tqdm(total=len(problems), desc=method, disable=not cfg.progress)
        bars[method].update(n)

    results = evaluation.run_methods(problems, cfg, executor, methods, stage_dir, progress=progress)
    for bar in bars.values():
        bar.close()
    trajectories = [t for group in results.values() for t in group]

    # A pool of zero-shot samples (several per problem) supplies passing/failing pairs for Maj@k.
    pool = evaluation.pairwise_pool(problems, cfg, executor, stage_dir)

    # The multi-round curve on a subset, when evaluation.curve_rounds exceeds rounds (else empty).
    curve = [
        t
        for group in evaluation.run_curve(problems, cfg, executor, methods, stage_dir).values()
        for t in group
    ]

excluded = outcomes.split_infra(trajectories)[1]
print(outcomes.counts_summary(excluded))

# %% [markdown]
# ## Repairability: what the generator does with feedback
#
# A critic raises Pass@1 only through the generator's revisions, so before any Δ↑ is read, this
# measures what the generator does with feedback at all. For each kind of feedback, three shares:
# of the failing solutions, those whose revision passes (**fixed**); of the passing ones, those
# whose revision fails (**broken**); of all revisions, those that return the same code (**same
# code**). The feedback is each revising method's own (execution feedback, self-critique, each
# trained critic: their greedy revisions are the table's round 1) and 03's **hinted** critique,
# the oracle critique told what failed. Besides the greedy revision, `evaluation.repair_sampled`
# revisions sampled at the solution temperature, under the same critique, show whether sampling
# finds a fix greedy decoding misses. Intervals: the wider of a bootstrap over problems and the
# Wilson interval of the count (a bootstrap of 0 fixes in 37 is [0, 0]).
#
# The **Δ↑ ceiling** is the largest share of all solutions that any of these feedbacks got fixed
# by a greedy revision, the oracles included: no Δ↑ below says anything about a critic unless the
# ceiling is well above 0. (It takes every feedback, not the oracles alone: a generator can do
# more with one kind of critique than with being told what failed.)

# %%
sources = {p.id: p.source for p in problems}
bootstrap = {"resamples": cfg.evaluation.bootstrap, "seed": cfg.seed}
with make_executor(cfg.sandbox) as executor:
    repairs = evaluation.run_repairability(problems, cfg, executor, trajectories, stage_dir)
repair_table = evaluation.per_benchmark(
    evaluation.repairability.repairability_table, repairs, sources, **bootstrap
)
out.table(repair_table, stages.TABLE_REPAIRABILITY)
evaluation.repairability.readable(repair_table)

# %% [markdown]
# ## Pass@1, Δ↑ and Δ↓ per round, per benchmark
#
# One set of rows per benchmark (`source`) and, when there are several, two more: `pooled`, every
# sample of every benchmark together (a benchmark weighs by its samples), and, in the final table,
# `average`, the unweighted mean over benchmarks that CTRL's Table 3 reports as "Average"
# (zero-shot: 38.75 = (7.88 + 30.54 + 77.83) / 3). Intervals resample problems (95%, percentile
# bootstrap); the average rows carry none.

# %%
table = evaluation.per_benchmark(evaluation.round_table, trajectories, sources, **bootstrap)
out.table(table, stages.TABLE_ROUNDS, validate=evaluation.check_delta_identity)
final = evaluation.benchmark_average(evaluation.final_rows(table))
final = evaluation.percent(evaluation.repairability.with_ceiling(final, repair_table))
out.table(final, stages.TABLE_FINAL, validate=evaluation.check_delta_identity)
ceiling = evaluation.repairability.CEILING
final[["source", *evaluation.ROUND_COLUMNS, ceiling, f"{evaluation.PASS} lo", f"{evaluation.PASS} hi", "excluded"]]

# %% [markdown]
# ## Pass@k
#
# The unbiased estimator over each problem's samples, for k up to the samples per problem, of the
# final solutions (zero-shot: the first answers).

# %%
ks = range(1, cfg.evaluation.samples_per_problem + 1)
pass_at_k = evaluation.per_benchmark(evaluation.pass_at_k_table, trajectories, sources, ks=ks)
out.table(pass_at_k, stages.TABLE_PASS_AT_K)
pass_at_k

# %%
colors = plots.colors_for([m.name for m in methods])
overall = evaluation.pooled_rows(table)
by_round, by_round_title = overall, f"Pass@1 by round ({cfg.name})"
if curve:  # the figure follows the curve's subset further than the main table's rounds
    curve_table = evaluation.per_benchmark(evaluation.round_table, curve, sources, **bootstrap)
    out.table(curve_table, stages.TABLE_CURVE, validate=evaluation.check_delta_identity)
    curve_problems = len({t.problem_id for t in curve})
    by_round = evaluation.pooled_rows(curve_table)
    by_round_title = f"Pass@1 by round ({cfg.name}, first {curve_problems} problems)"
    print(f"multi-round curve: {cfg.evaluation.curve_rounds} rounds on {curve_problems} problems")
out.figure(plots.plot_pass_by_round(by_round, title=by_round_title, colors=colors), stages.FIG_PASS_BY_ROUND)
out.figure(
    plots.plot_deltas(evaluation.final_rows(overall), title="Δ↑ and Δ↓ after the last round"),
    stages.FIG_DELTAS,
)

# %% [markdown]
# ## Discrimination: are the critics' judgments right?
#
# Every critic's judgments of the zero-shot solutions (problems no stage trained on), with a
# bootstrap interval of the macro F1 over problems, beside `always-Correct`: a judge that approves
# every solution, the base rate a critic has to beat.

# %%
discrimination = evaluation.per_benchmark(
    evaluation.discrimination_table, trajectories, sources, always_correct=True, **bootstrap
)
out.table(discrimination, stages.TABLE_DISCRIMINATION)
discrimination

# %% [markdown]
# ## Which differences are real?
#
# Every method against self-critique on the same problems: the paired difference of Pass@1, Δ↑,
# Δ↓ and of the judgments' macro F1, with a bootstrap interval over problems (one draw serves both
# methods). `excludes 0` marks a difference whose interval lies on one side of zero.

# %%
differences = evaluation.per_benchmark(
    evaluation.difference_table, trajectories, sources, baseline=evaluation.SELF_CRITIQUE, **bootstrap
)
out.table(differences, stages.TABLE_DIFFERENCES)
differences

# %% [markdown]
# ## Pairwise accuracy (Maj@k)
#
# `accuracy` counts a tie in Correct votes as not correct (the headline, as JudgeBench counts it);
# `accuracy (ties ½)` counts it ½. Maj@k for k below the critiques per response averages over every
# choice of k critiques: the same estimator as JudgeBench's Maj@k table below.

# %%
pairs = evaluation.response_pairs({p.id: p for p in problems}, pool)
curves = []
for name, critic in evaluation.pairwise_critics(cfg, methods).items():
    votes = evaluation.critique_pairs(
        pairs,
        critic,
        sampling_for(cfg, "critique"),
        cfg.evaluation.pairwise_critiques,
        parser=cfg.prompts.parser,
    )
    if votes:
        curves.append(evaluation.majority_curve(votes).assign(critic=name))
print(f"{len(pairs)} passing/failing pairs from {len(pool)} pooled samples")
majority = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
out.table(majority, stages.TABLE_MAJORITY)
out.plot(
    plots.plot_majority_curve,
    majority,
    stages.FIG_MAJORITY,
    title="Pairwise accuracy vs critiques per response",
)
majority

# %% [markdown]
# ## Best-of-N: the critic as a selector
#
# A critic need not repair anything to be useful: given N sampled solutions, it can choose one it
# judges Correct. Each problem's pool holds the largest `evaluation.selection_n` zero-shot
# solutions; every critic — self-critique, the trained CTRL critics, 06's CRL-trained policy
# (judging in its own `\conclusion{T|F}` format) once it exists, and the zero-shot judges of
# `evaluation.selection_judges` — judges each solution `evaluation.selection_critiques` times, and a
# solution's score is its Correct votes. Best-of-N takes a top-scored solution, ties broken at
# random; **selected** is the chance it passes, exact over every N-subset of the pool and the
# tie-break. **random** is the mean Pass@1 of the solutions (random choice; always-Correct selects
# so), **pass@N** the chance that any of the N passes (a perfect selector). `selected − random`
# has a paired bootstrap interval over problems; `excludes 0` marks a critic that chose better
# (or worse) than chance beyond resampling noise.

# %%
ev = cfg.evaluation
with make_executor(cfg.sandbox) as executor:
    selection_pool = evaluation.selection_pool(problems, cfg, executor, stage_dir)
selection_judged = evaluation.judge_selection_pool(
    selection_pool, problems, cfg, evaluation.selection_critics(cfg, methods), stage_dir
)
ladder = sorted({1, *ev.selection_n, *(2**i for i in range(max(ev.selection_n).bit_length()))})
selection_table = evaluation.per_benchmark(
    evaluation.selection.selection_table, selection_judged, sources, ns=ladder, **bootstrap
)
out.table(selection_table, stages.TABLE_SELECTION)
out.plot(
    plots.plot_selection,
    evaluation.pooled_rows(selection_table),
    stages.FIG_SELECTION,
    title=f"Best-of-N ({len({t.problem_id for t in selection_pool})} problems)",
)
selection_table[selection_table["N"].isin(ev.selection_n)]

# %% [markdown]
# ## JudgeBench: the critics as generative reward models
#
# *(This section, up to the metrics, is JudgeBench's alone: it uses the critics and settings above
# and changes nothing before it but the difference table, to which it adds rows.)*
#
# JudgeBench's real pairs — a question (knowledge, reasoning, math or coding) and two GPT-4o
# responses, one of them better — judged by every critic above (self-critique is the generator
# critiquing). **Pointwise**: `judgebench_critiques` critiques of each response, each ending in a
# Correct/Incorrect judgment; a pair is won when the better response collects more Correct votes
# (a critique without a judgment is no vote). The headline counts a tie as not correct, as
# JudgeBench does and as CTRL's 22.6% at 2 votes requires; `accuracy (ties ½)` counts it ½. Maj@k
# for k below the number of critiques averages over every choice of k of them (unbiased).
# **Pairwise**: the critic sees both responses, in both orders, and names the better one (greedy);
# the headline is JudgeBench's score (+1 per right pick, −1 per wrong one, the pair correct only
# when the sum is > 0, so an inconsistent pair scores 0), beside the average of the two orders;
# *consistency* is the share of pairs whose two picks name the same response. Intervals resample
# pairs (95%; Wilson for consistency). Reference: CTRL reports its critic's JudgeBench accuracy as 64.3% (Maj@k up to 64).

# %%
judge = evaluation.run_judgebench(
    cfg,
    evaluation.pairwise_critics(cfg, methods),
    stage_dir / stages.JUDGEBENCH_JUDGMENTS,
    baseline=evaluation.SELF_CRITIQUE,
    **bootstrap,
)
print(judge.summary())
out.table(judge.majority, stages.TABLE_JUDGEBENCH)
out.table(judge.pairwise, stages.TABLE_JUDGEBENCH_PAIRWISE)
out.plot(
    plots.plot_majority_curve,
    judge.pooled(),
    stages.FIG_JUDGEBENCH,
    title="JudgeBench accuracy vs critiques per response (Maj@k)",
)
judge.at_most_critiques()

# %%
judge.pairwise

# %% [markdown]
# JudgeBench accuracy of each critic against self-critique on the same pairs (Maj@k at the most
# critiques, and the pairwise mode): paired bootstrap over pairs, added to the difference table
# as its `judgebench` rows.

# %%
differences = judge.extend(differences)
out.table(differences, stages.TABLE_DIFFERENCES)
judge.differences

# %%
out.finish(
    evaluation.evaluation_metrics(  # the watch adds the throughput
        problems=len(problems),
        settings=cfg.evaluation,
        methods=[m.name for m in methods],
        skipped=skipped,
        excluded=excluded,
        final=final,
        pass_at_k=pass_at_k,
        discrimination=discrimination,
        differences=differences,
        pairs=len(pairs),
        majority=majority,
        judgebench=judge,
        curve=curve,
        trajectories=trajectories,  # their critiques: how often the reference's judgment parse reads otherwise
        repairability=repair_table,
        selection=selection_table,
    )
)

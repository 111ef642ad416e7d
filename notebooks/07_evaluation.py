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
# bootstrap intervals over problems; the critics' **discrimination** (F1 of their Correct/Incorrect
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
from criticlab.viz import plots, tables

# %% tags=["parameters"]
profile = "cpu"
rounds = None
max_problems = None
samples_per_problem = None

# %%
cfg = config.load_profile(
    profile,
    overrides={"evaluation": {"rounds": rounds, "max_problems": max_problems,
                              "samples_per_problem": samples_per_problem}},
)
stage_dir = cfg.paths.stage_dir(stages.EVALUATION)
problems = evaluation_subset(read_problems(cfg.paths.eval_jsonl), cfg.evaluation.max_problems,  # in turn from each benchmark
                             cfg.evaluation.problem_ids, f"evaluation.problem_ids of {cfg.name}")
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
watch = throughput.StageWatch.resuming(cfg.paths.root, stages.EVALUATION)  # tokens from here on, added to earlier runs'
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
    curve = [t for group in evaluation.run_curve(problems, cfg, executor, methods, stage_dir).values() for t in group]

excluded = outcomes.split_infra(trajectories)[1]
print(outcomes.counts_summary(excluded))

# %% [markdown]
# ## Pass@1, Δ↑ and Δ↓ per round, per benchmark
#
# One set of rows per benchmark (`source`) and, when there are several, a pooled set (`all`).
# Intervals resample problems (95%, percentile bootstrap).

# %%
sources = {p.id: p.source for p in problems}
bootstrap = {"resamples": cfg.evaluation.bootstrap, "seed": cfg.seed}
table = evaluation.per_benchmark(evaluation.round_table, trajectories, sources, **bootstrap)
tables.write_table(table, cfg.paths.tables_dir / stages.TABLE_ROUNDS, validate=evaluation.check_delta_identity)
final = evaluation.percent(evaluation.final_rows(table))
tables.write_table(final, cfg.paths.tables_dir / stages.TABLE_FINAL, validate=evaluation.check_delta_identity)
final[["source", *evaluation.ROUND_COLUMNS, f"{evaluation.PASS} lo", f"{evaluation.PASS} hi", "excluded"]]

# %% [markdown]
# ## Pass@k
#
# The unbiased estimator over each problem's samples, for k up to the samples per problem, of the
# final solutions (zero-shot: the first answers).

# %%
ks = range(1, cfg.evaluation.samples_per_problem + 1)
pass_at_k = evaluation.per_benchmark(evaluation.pass_at_k_table, trajectories, sources, ks=ks)
tables.write_table(pass_at_k, cfg.paths.tables_dir / stages.TABLE_PASS_AT_K)
pass_at_k

# %%
colors = plots.colors_for([m.name for m in methods])
overall = evaluation.pooled_rows(table)
by_round, by_round_title = overall, f"Pass@1 by round ({cfg.name})"
if curve:  # the figure follows the curve's subset further than the main table's rounds
    curve_table = evaluation.per_benchmark(evaluation.round_table, curve, sources, **bootstrap)
    tables.write_table(curve_table, cfg.paths.tables_dir / stages.TABLE_CURVE, validate=evaluation.check_delta_identity)
    curve_problems = len({t.problem_id for t in curve})
    by_round = evaluation.pooled_rows(curve_table)
    by_round_title = f"Pass@1 by round ({cfg.name}, first {curve_problems} problems)"
    print(f"multi-round curve: {cfg.evaluation.curve_rounds} rounds on {curve_problems} problems")
plots.save_figure(plots.plot_pass_by_round(by_round, title=by_round_title, colors=colors),
                  cfg.paths.figures_dir / stages.FIG_PASS_BY_ROUND)
plots.save_figure(plots.plot_deltas(evaluation.final_rows(overall), title="Δ↑ and Δ↓ after the last round"),
                  cfg.paths.figures_dir / stages.FIG_DELTAS)

# %% [markdown]
# ## Discrimination: are the critics' judgments right?
#
# Every critic's judgments of the zero-shot solutions (problems no stage trained on), with a
# bootstrap interval of the macro F1 over problems, beside `always-Correct`: a judge that approves
# every solution, the base rate a critic has to beat.

# %%
discrimination = evaluation.per_benchmark(evaluation.discrimination_table, trajectories, sources,
                                          always_correct=True, **bootstrap)
if len(discrimination):
    tables.write_table(discrimination, cfg.paths.tables_dir / stages.TABLE_DISCRIMINATION)
discrimination

# %% [markdown]
# ## Which differences are real?
#
# Every method against self-critique on the same problems: the paired difference of Pass@1, Δ↑,
# Δ↓ and of the judgments' macro F1, with a bootstrap interval over problems (one draw serves both
# methods). `excludes 0` marks a difference whose interval lies on one side of zero.

# %%
differences = evaluation.per_benchmark(evaluation.difference_table, trajectories, sources,
                                       baseline=evaluation.SELF_CRITIQUE, **bootstrap)
if len(differences):
    tables.write_table(differences, cfg.paths.tables_dir / stages.TABLE_DIFFERENCES)
differences

# %% [markdown]
# ## Pairwise accuracy (Maj@k)
#
# A tie in Correct votes counts 0.5.

# %%
pairs = evaluation.response_pairs({p.id: p for p in problems}, pool)
curves = []
for name, critic in evaluation.pairwise_critics(cfg, methods).items():
    votes = evaluation.critique_pairs(pairs, critic, sampling_for(cfg, "critique"), cfg.evaluation.pairwise_critiques)
    if votes:
        curves.append(evaluation.majority_curve(votes).assign(critic=name))
print(f"{len(pairs)} passing/failing pairs from {len(pool)} pooled samples")
majority = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
if len(majority):
    tables.write_table(majority, cfg.paths.tables_dir / stages.TABLE_MAJORITY)
    plots.save_figure(plots.plot_majority_curve(majority, title="Pairwise accuracy vs critiques per response"),
                      cfg.paths.figures_dir / stages.FIG_MAJORITY)
majority

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
# (a tie counts 0.5; a critique without a judgment is no vote). Maj@k for k below the number of
# critiques averages over every choice of k of them (unbiased). **Pairwise**: the critic sees
# both responses, in both orders, and names the better one (greedy); *consistency* is the share
# of pairs whose two picks name the same response. Intervals resample pairs (95%; Wilson for
# consistency). Reference: CTRL reports its critic's JudgeBench accuracy as 64.3% (Maj@k up to 64).

# %%
judge_pairs, judge_from = evaluation.judgebench.load_pairs(cfg)
judge_pairs, too_long = evaluation.judgebench.select_pairs(
    judge_pairs, cfg.evaluation.judgebench_pairs, cfg.evaluation.judgebench_max_chars, cfg.seed)
print(f"JudgeBench: {len(judge_pairs)} pairs from {judge_from}"
      + (f" ({too_long} left out as longer than {cfg.evaluation.judgebench_max_chars} characters)" if too_long else ""))
judge_records = []
for name, critic in evaluation.pairwise_critics(cfg, methods).items():
    with tqdm(total=len(judge_pairs), desc=f"JudgeBench {name}", disable=not cfg.progress) as bar:
        judge_records += evaluation.judgebench.judge_pairs(
            judge_pairs, critic, name, sampling_for(cfg, "critique"), cfg.evaluation.judgebench_critiques,
            progress=bar.update)
evaluation.judgebench.write_records(stage_dir / stages.JUDGEBENCH_JUDGMENTS, judge_records)
judge_ks = evaluation.judgebench.majority_ks(cfg.evaluation.judgebench_critiques)
judgebench = evaluation.judgebench.majority_table(judge_records, judge_ks, **bootstrap)
judgebench_pairwise = evaluation.judgebench.preference_table(judge_records, **bootstrap)
if len(judgebench):
    tables.write_table(judgebench, cfg.paths.tables_dir / stages.TABLE_JUDGEBENCH)
    tables.write_table(judgebench_pairwise, cfg.paths.tables_dir / stages.TABLE_JUDGEBENCH_PAIRWISE)
    plots.save_figure(plots.plot_majority_curve(judgebench[judgebench["category"] == evaluation.POOLED],
                                                title="JudgeBench accuracy vs critiques per response (Maj@k)"),
                      cfg.paths.figures_dir / stages.FIG_JUDGEBENCH)
judgebench[judgebench["k"] == judge_ks[-1]]

# %%
judgebench_pairwise

# %% [markdown]
# JudgeBench accuracy of each critic against self-critique on the same pairs (Maj@k at the most
# critiques, and the pairwise mode): paired bootstrap over pairs, added to the difference table
# as its `judgebench` rows.

# %%
judge_differences = evaluation.judgebench.judgebench_differences(
    judge_records, evaluation.SELF_CRITIQUE, cfg.evaluation.judgebench_critiques, **bootstrap)
if len(judge_differences):
    differences = pd.concat([differences, judge_differences], ignore_index=True)
    tables.write_table(differences, cfg.paths.tables_dir / stages.TABLE_DIFFERENCES)
judge_differences

# %%
stages.write_metrics(cfg.paths.root, stages.EvaluationMetrics(
    problems=len(problems), rounds=cfg.evaluation.rounds,
    curve_rounds=cfg.evaluation.curve_rounds if curve else 0, curve_problems=len({t.problem_id for t in curve}), methods=[m.name for m in methods], skipped=skipped,
    excluded_infra=dict(excluded), final=final[["source", *evaluation.ROUND_COLUMNS]].to_dict(orient="records"),
    pass_at_k=pass_at_k.to_dict(orient="records"), differences=differences.to_dict(orient="records"),
    discrimination=discrimination.to_dict(orient="records"), pairs=len(pairs),
    majority=majority.to_dict(orient="records"),
    judgebench_pairs=len(judge_pairs), judgebench_too_long=too_long,
    judgebench_critiques=cfg.evaluation.judgebench_critiques, judgebench=judgebench.to_dict(orient="records"),
    judgebench_pairwise=judgebench_pairwise.to_dict(orient="records"),
    throughput=watch.record(),
))

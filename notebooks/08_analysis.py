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
# # 08 · Analysis: Markov transitions, compounding error, critique strategies
#
# Correctness across revision rounds behaves like a Markov chain: a solution starts correct with
# probability p_init, stays correct with p_cc = P(correct→correct) and is repaired with
# p_wc = P(incorrect→correct), so Pass@1 after k rounds follows
# p_{k+1} = p_k·p_cc + (1 − p_k)·p_wc. A critic helps only if it keeps p_cc near 1 (it does not
# talk the generator out of correct code — the *compounding error* of repeated revisions) while
# raising p_wc. This notebook estimates both rates per round with intervals, compares the chain's
# predicted curve with the observed one, simulates each critic from its own rates over many
# attempts beside its observed chain, reproduces the paper's critiquing × discrimination simulation
# (Figure 3), finds which strategies the critiques use (checked against a hand-labelled set), and
# measures how much code each critic makes change.
#
# **Reads** the trajectories of notebook 07. **Writes** `tables/08_*`, `figures/08_*` and
# `metrics.json`.

# %%
import pandas as pd

from criticlab import analysis, config, stages
from criticlab.data import read_problems
from criticlab.llm import engine_for
from criticlab.rollout import load_stage_trajectories, revises_every_round
from criticlab.viz import plots
from criticlab.viz.widgets import TrajectoryBrowser

# %% tags=["parameters"]
profile = "cpu"
simulate_attempts = None
strategy_llm = None

# %%
cfg = config.load_profile(
    profile, overrides={"analysis": {"simulate_attempts": simulate_attempts, "strategy_llm": strategy_llm}}
)
out = cfg.paths.stage(stages.ANALYSIS)  # writes this stage's tables, figures and metrics
source = cfg.paths.stage_dir(stages.EVALUATION)
trajectories = load_stage_trajectories(source)
revising = [t for t in trajectories if revises_every_round(t.method)]
methods = list(dict.fromkeys(t.method for t in trajectories))
colors = plots.colors_for(methods)
print(f"{len(trajectories)} trajectories of {len(methods)} methods from {source}")

# %% [markdown]
# ## Transition rates per round
#
# Estimated on the methods that revise every round (no early stop), so each step's transitions
# are the chain's. Intervals are Wilson 95%.

# %%
rates = analysis.markov_table(revising, seed=cfg.seed)
out.table(rates, stages.TABLE_TRANSITION_RATES)
out.plot(
    plots.plot_correct_to_incorrect,
    rates,
    stages.FIG_CORRECT_TO_INCORRECT,
    title="Correct→incorrect rate per round",
    colors=colors,
)
rates

# %% [markdown]
# ## Δ↓ per iteration over all samples (CTRL Figure 4)
#
# CTRL's Figure 4 plots the *unconditional* Δ↓ of each iteration: the share of all samples that
# were correct at round t−1 and are incorrect at round t (its axis runs 0–3%), as critic-rl's
# `plot_updown.py` counts Δ over all samples. It takes every method's trajectories; a trajectory
# that stopped keeps its last solution. The right panel is the conditional P(correct → incorrect |
# correct) of the table above, which divides by the samples correct at t−1 instead.

# %%
updown = analysis.iteration_updown(trajectories)
out.table(updown, stages.TABLE_ITERATION_UPDOWN)
if len(updown):
    out.figure(
        plots.plot_iteration_updown(updown, rates, title="Correct → incorrect per iteration", colors=colors),
        stages.FIG_ITERATION_UPDOWN,
    )
updown

# %% [markdown]
# ## The chain's prediction against the observed Pass@1

# %%
prediction = analysis.markov_prediction(revising)
out.table(prediction, stages.TABLE_MARKOV_PREDICTION)
out.plot(
    plots.plot_markov,
    prediction,
    stages.FIG_MARKOV,
    title="Observed (markers) vs Markov chain (dashed)",
    colors=colors,
)
prediction

# %% [markdown]
# ## Compounding error, critic by critic
#
# A critic that says Correct stops the loop; otherwise the generator revises. Each critic is
# simulated from **its own** rates, measured on its own trajectories of notebook 07: p_init,
# p_cc and p_wc from its revisions, and its stop decision — tpr = P(judged Correct | passes),
# tnr = P(not judged Correct | fails) — from its judgments. Two loops per critic: the one it ran
# (revise every round) and the one that keeps a solution once it is judged Correct. Rates carry
# Wilson 95% intervals; the simulated band is a bootstrap over problems. Markers are the critic's
# own observed Pass@1 per round (`<method>+stop` for the stopping loop, when 07 ran it). A rate
# with nothing to estimate it from (say, no incorrect solution at round 0) is reported as not
# estimable, and the loops that need it are not simulated: no stand-in rates fill the gap, and
# no rates from the papers are used here.

# %%
compounding = analysis.compounding_by_critic(
    trajectories, attempts=cfg.analysis.simulate_attempts, seed=cfg.seed
)
critic_rates = compounding.rates
out.table(critic_rates, stages.TABLE_CRITIC_RATES)
for loop, why in compounding.skipped.items():
    print(f"not simulated — {loop}: {why}")
curves = compounding.curves
out.table(curves, stages.TABLE_COMPOUNDING)
out.plot(
    plots.plot_critic_compounding,
    curves,
    stages.FIG_COMPOUNDING,
    title="Compounding error: each critic's own chain",
)
print(
    critic_rates.to_string(index=False, float_format="{:.3f}".format)
    if len(critic_rates)
    else "no critic in this run"
)

# %%
curves.groupby(["critic", "loop"]).tail(1) if len(curves) else curves

# %% [markdown]
# ## CTRL Figure 3: critiquing × discrimination, simulated
#
# The paper's simulation (App. C.1), with its settings and no data of this run: a solution starts
# correct with p_init = 0.1; each round a critique drives a revision, which keeps a correct solution
# correct with p_cc and repairs an incorrect one with p_cw — strong critiquing (0.9, 0.3), weak
# (0.7, 0.15), or none (each revision an independent sample, this workbook's reading); every
# solution is judged with a true-positive rate and a false-positive rate (0.7/0.2 and 0.6/0.3),
# and the answer is the best of the solutions predicted correct (the latest solution when none
# was). 50,000 simulated runs per setting, seeded; the table keeps each point's standard error and
# the exact value it estimates. The reading: critiquing moves the curve far more than
# discrimination does — without critiquing, re-sampling climbs slowly whatever the judge — and
# better discrimination adds a few points on top of either critic.

# %%
abilities = analysis.simulate_abilities(seed=cfg.seed)
out.table(abilities, stages.TABLE_ABILITIES)
out.plot(
    plots.plot_abilities,
    abilities,
    stages.FIG_ABILITIES,
    title="Critiquing × discrimination (CTRL Figure 3, simulated)",
)
abilities.pivot_table(index="round", columns=["critiquing", "discrimination"], values="pass").tail(1)

# %% [markdown]
# ## Critique strategies
#
# A transparent rule-based classifier (each label says which rule fired) finds which strategies a
# critique uses: algorithm improvement, static analysis, strategic debugging, dynamic testing.
# Multi-label, as the paper counts them — a critique that traces an input and points at a wrong
# condition counts for both — so a critic's shares can sum to more than 100%. With
# `strategy_llm = True` an LLM labels a sample too, and the agreement of the two label sets is
# reported.

# %%
critiques = analysis.critiques_by_method(trajectories)
labels = {
    method: [m.labels for m in analysis.classify_strategies(texts)]
    for method, texts in critiques.items()
    if texts
}
distribution = analysis.strategy_distribution(labels) if labels else pd.DataFrame()
counts = analysis.strategy_distribution(labels, normalize=False) if labels else pd.DataFrame()
out.table(distribution, stages.TABLE_STRATEGIES)
out.plot(
    plots.plot_strategies,
    distribution,
    stages.FIG_STRATEGIES,
    title="Critique strategies per critic (multi-label)",
)
agreement = None
if cfg.analysis.strategy_llm and critiques:
    pooled = [text for texts in critiques.values() for text in texts]
    agreement, per_critique = analysis.compare_strategy_modes(
        pooled, engine_for(cfg, "critic"), seed=cfg.seed
    )
    print(
        f"rules vs LLM label sets on {agreement.n} critiques: {agreement.percent:.1f}% agree, κ = {agreement.kappa:.2f}"
    )
print("critiques using each strategy (counts; a critique can use several):")
counts

# %% [markdown]
# ### How far to trust the rules: the hand-labelled validation set
#
# The project keeps a validation set of real critiques written by the embedded models, each
# labelled by a person reading it against a written rubric (shipped with the package in
# `criticlab/data/shipped/strategies`). The
# rules' precision and recall per strategy against those hand labels say how much of the table
# above to believe (with `strategy_llm = True`, the LLM judge is scored on the same set).

# %%
validation_items = analysis.load_validation_set(analysis.shipped_validation_set())
extra = {}
if cfg.analysis.strategy_llm:
    extra["llm"] = analysis.label_strategies_with_llm(
        [i.critique for i in validation_items], engine_for(cfg, "critic")
    )
validation = analysis.validation_scores(validation_items, extra)
out.table(validation, stages.TABLE_STRATEGY_VALIDATION)
print(f"{len(validation_items)} hand-labelled critiques (shipped: criticlab/data/shipped/strategies)")
validation

# %% [markdown]
# ## How much does a revision change the code?
#
# Two measures between each solution and its revision. `similarity (C.4)` is CTRL's Figure 7
# measure (App. C.4): the `difflib` ratio over the characters of `ast.unparse` after the
# variables, arguments and functions are renamed v0, v1, ... in order of first appearance; the
# figure draws it. `similarity` is the workbook's: the same renaming with docstrings and
# annotations dropped, the ratio over tokens. Code that does not parse is compared as text by
# both (`parsed` False).

# %%
similarity = analysis.revision_similarity(trajectories)
out.table(similarity, stages.TABLE_SIMILARITY)
out.plot(
    plots.plot_similarity,
    similarity,
    stages.FIG_SIMILARITY,
    title="Original vs revised code (CTRL App. C.4)",
    colors=colors,
    column="similarity (C.4)",
)
summary = (
    similarity.groupby("method")[["similarity (C.4)", "similarity"]].agg(["mean", "median", "count"])
    if len(similarity)
    else pd.DataFrame()
)
summary

# %%
out.finish(
    analysis.analysis_metrics(
        trajectories=len(trajectories),
        methods=methods,
        rates=rates,
        compounding=compounding,
        distribution=distribution,
        agreement=agreement,
        validation=validation,
        validation_n=len(validation_items),
        similarity=similarity,
    )
)

# %% [markdown]
# ## Browse the trajectories
#
# Pick a critic, a judgment or a transition (say `correct→incorrect`: a passing solution the critic
# talked the generator out of), then a trajectory and a round: the solution, the critique and the
# revision side by side with the diff. Needs a live kernel (JupyterLab); an executed copy shows
# only the widget's placeholder.

# %%
TrajectoryBrowser(trajectories, read_problems(cfg.paths.eval_jsonl))

# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %%

# %% [markdown]
# # 08 · Analysis: Markov transitions, compounding error, critique strategies
#
# Correctness across revision rounds behaves like a Markov chain: a solution starts correct with
# probability p_init, stays correct with p_cc = P(correct→correct) and is repaired with
# p_wc = P(incorrect→correct), so Pass@1 after k rounds follows
# p_{k+1} = p_k·p_cc + (1 − p_k)·p_wc. A critic helps only if it keeps p_cc near 1 (it does not
# talk the generator out of correct code — the *compounding error* of repeated revisions) while
# raising p_wc. This notebook estimates both rates per round with intervals, compares the chain's
# predicted curve with the observed one, simulates weak and strong critics over many attempts,
# classifies what the critiques actually do, and measures how much code each critic makes change.
#
# **Reads** the trajectories of notebook 07. **Writes** `tables/08_*`, `figures/08_*` and
# `metrics.json`.

# %%
import dataclasses

import pandas as pd

from criticlab import analysis, config, stages
from criticlab.data import read_problems
from criticlab.llm import engine_for
from criticlab.rollout import load_stage_trajectories, revises_every_round
from criticlab.viz import plots, tables
from criticlab.viz.widgets import TrajectoryBrowser

# %% tags=["parameters"]
profile = "cpu"
simulate_attempts = None
strategy_llm = None

# %%
cfg = config.load_profile(
    profile, overrides={"analysis": {"simulate_attempts": simulate_attempts, "strategy_llm": strategy_llm}}
)
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
if len(rates):
    tables.write_table(rates, cfg.paths.tables_dir / stages.TABLE_TRANSITION_RATES)
    plots.save_figure(plots.plot_correct_to_incorrect(rates, title="Correct→incorrect rate per round", colors=colors),
                      cfg.paths.figures_dir / stages.FIG_CORRECT_TO_INCORRECT)
rates

# %% [markdown]
# ## The chain's prediction against the observed Pass@1

# %%
prediction = analysis.markov_prediction(revising)
if len(prediction):
    tables.write_table(prediction, cfg.paths.tables_dir / stages.TABLE_MARKOV_PREDICTION)
    plots.save_figure(plots.plot_markov(prediction, title="Observed (markers) vs Markov chain (dashed)", colors=colors),
                      cfg.paths.figures_dir / stages.FIG_MARKOV)
prediction

# %% [markdown]
# ## Compounding error: weak and strong critics over many attempts
#
# A critic that says Correct stops the loop; otherwise the generator revises. With the chain's
# rates from our runs (or illustrative ones when a run has too few transitions), a weak critic
# (barely better than a coin) and a strong one (95% both ways) are compared with the critics we
# measured in notebook 07.

# %%
chain = analysis.simulation_chain(analysis.markov_fits(revising, seed=cfg.seed))
measured, not_simulated = analysis.measured_critics(trajectories)
for why in not_simulated.values():
    print(f"not simulated: {why}")
critics = [*analysis.REFERENCE_CRITICS, *measured]
curves = analysis.compounding_error_curves(chain.p_init, chain.p_cc, chain.p_wc, critics,
                                          attempts=cfg.analysis.simulate_attempts)
tables.write_table(curves, cfg.paths.tables_dir / stages.TABLE_COMPOUNDING)
plots.save_figure(plots.plot_compounding(curves, title=f"Compounding error, chain {chain.origin}"),
                  cfg.paths.figures_dir / stages.FIG_COMPOUNDING)
print(f"chain {chain.origin}: p_init={chain.p_init:.3f} p_cc={chain.p_cc:.3f} p_wc={chain.p_wc:.3f}")
curves.groupby("critic").tail(1)

# %% [markdown]
# ## Critique strategies
#
# A transparent rule-based classifier (each label says which rule fired) sorts critiques into
# algorithm improvement, static analysis, strategic debugging and dynamic testing. With
# `strategy_llm = True` an LLM labels a sample too, and the agreement is reported.

# %%
critiques = analysis.critiques_by_method(trajectories)
labels = {method: [m.label for m in analysis.classify_strategies(texts)] for method, texts in critiques.items() if texts}
distribution = analysis.strategy_distribution(labels) if labels else pd.DataFrame()
if len(distribution):
    tables.write_table(distribution.reset_index(), cfg.paths.tables_dir / stages.TABLE_STRATEGIES)
    plots.save_figure(plots.plot_strategies(distribution, title="Critique strategies per critic"),
                      cfg.paths.figures_dir / stages.FIG_STRATEGIES)
agreement = None
if cfg.analysis.strategy_llm and critiques:
    pooled = [text for texts in critiques.values() for text in texts]
    agreement, per_critique = analysis.compare_strategy_modes(pooled, engine_for(cfg, "critic"), seed=cfg.seed)
    print(f"rules vs LLM labels on {agreement.n} critiques: {agreement.percent:.1f}% agree, κ = {agreement.kappa:.2f}")
distribution

# %% [markdown]
# ## How much does a revision change the code?
#
# AST-normalized similarity (identifiers renamed canonically, comments and docstrings dropped)
# between each solution and its revision.

# %%
similarity = analysis.revision_similarity(trajectories)
if len(similarity):
    tables.write_table(similarity, cfg.paths.tables_dir / stages.TABLE_SIMILARITY)
    plots.save_figure(plots.plot_similarity(similarity, title="Original vs revised code", colors=colors),
                      cfg.paths.figures_dir / stages.FIG_SIMILARITY)
summary = similarity.groupby("method")["similarity"].describe() if len(similarity) else pd.DataFrame()
summary

# %%
stages.write_metrics(cfg.paths.root, stages.AnalysisMetrics(
    trajectories=len(trajectories), methods=methods, chain=dataclasses.asdict(chain),
    transition_rates=rates.to_dict(orient="records"),
    strategies=distribution.reset_index().to_dict(orient="records") if len(distribution) else [],
    strategy_agreement=None if agreement is None else {"n": agreement.n, "percent": agreement.percent,
                                                       "kappa": agreement.kappa},
    similarity_mean=similarity.groupby("method")["similarity"].mean().to_dict() if len(similarity) else {},
))

# %% [markdown]
# ## Browse the trajectories
#
# Pick a critic, a judgment or a transition (say `correct→incorrect`: a passing solution the critic
# talked the generator out of), then a trajectory and a round: the solution, the critique and the
# revision side by side with the diff. Needs a live kernel (JupyterLab); an executed copy shows
# only the widget's placeholder.

# %%
TrajectoryBrowser(trajectories, read_problems(cfg.paths.eval_jsonl))

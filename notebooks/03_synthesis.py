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
# # 03 · Stage-I synthesis: execution-guided critiques
#
# CTRL's first stage makes critique data without human labels. For each training problem the
# generator writes *k* zero-shot solutions and the sandbox runs them. A **hint** derived from each
# execution result — all tests pass; every test fails (start afresh); the line that raised; one
# failing test's input, expected and actual output; a time-out — guides a *hinted* critique.
# The generator then revises under the critique and the revision is executed, so every critique
# carries its measured effect.
#
# Critiques that mention the hint, have no final `Overall judgment`, or judge against the
# execution are dropped. The SFT set pairs the critique prompt **without** the hint with the
# critique (the critic must learn to critique without running code); the RL set holds the
# (problem, solution) pairs that GRPO critiques in notebook 05.
#
# A critic learns nothing from a set where every solution passes, so both judgments must be
# there: several samples per problem at the profile's temperature (`synthesis.samples_per_problem`)
# make failing solutions; `synthesis.balance_judgments` cuts the larger of Correct/Incorrect
# critiques to the smaller, spread round the problems; GRPO's prompts are the generator's own
# samples, passing and failing, mixed to `synthesis.rl_incorrect_share` failing ones. The
# validation problems (notebook 01) are sampled too, without critiques: their (problem, solution)
# pairs are GRPO's **held-out prompts**, on which notebook 05 measures the critic before and after
# training. The Correct/Incorrect mix is reported at every step.
#
# **Reads** `data/train.jsonl`, `data/validation.jsonl` (notebook 01). **Writes** under
# `outputs/<profile>/03_synthesis/`: `samples.jsonl` (every sample with hint, critique, revision and
# outcomes), `heldout_samples.jsonl`, `sft.jsonl`, `rl.jsonl`, `rl_heldout.jsonl`, `metrics.json`,
# and a figure.

# %%
import dataclasses
import time

import pandas as pd
from tqdm.auto import tqdm

from criticlab import config, ctrl, stages
from criticlab.data import read_problems
from criticlab.llm import engine_for, sampling_for, throughput
from criticlab.sandbox import make_executor
from criticlab.viz import plots

# %% tags=["parameters"]
profile = "cpu"
samples_per_problem = None
max_problems = None

# %%
cfg = config.load_profile(
    profile,
    overrides={"synthesis": {"samples_per_problem": samples_per_problem, "max_problems": max_problems}},
)
out = cfg.paths.stage(
    stages.SYNTHESIS, watch=throughput.StageWatch.resuming
)  # tokens from here on, added to earlier runs'
stage_dir = out.dir
problems = read_problems(cfg.paths.train_jsonl)[: cfg.synthesis.max_problems]
validation = read_problems(cfg.paths.validation_jsonl) if cfg.paths.validation_jsonl.is_file() else []
heldout_problems = validation[: cfg.synthesis.heldout_problems]
print(
    f"profile {cfg.name}: {len(problems)} training problems × {cfg.synthesis.samples_per_problem} samples; "
    f"{len(heldout_problems)} validation problems for held-out GRPO prompts"
)
print(
    f"generator {cfg.models.generator} · hinted critiques by {cfg.synthesis.critic_model or cfg.models.generator}"
    f" · engine {cfg.models.engine}"
)

# %% [markdown]
# ## Generate, execute, critique with hints, revise
#
# Every engine call goes through the profile's response cache, and records are appended chunk by
# chunk: re-running this cell after an interruption continues where it stopped. A chunk sends the
# samples of many problems to the engine at once, so its batch stays full.

# %%
generator = engine_for(cfg, "generator")
critic = engine_for(cfg, "generator", model=cfg.synthesis.critic_model or None)
options = ctrl.SynthesisOptions(
    samples_per_problem=cfg.synthesis.samples_per_problem,
    max_hint_chars=cfg.synthesis.max_hint_chars,
    solution_sampling=sampling_for(cfg, "solution"),
    critique_sampling=sampling_for(cfg, "critique"),
    revision_sampling=sampling_for(cfg, "revision"),
    revision_request=cfg.prompts.revision_request,
)
heldout_options = dataclasses.replace(options, critique=False)
started = time.perf_counter()
with make_executor(cfg.sandbox) as executor:
    with tqdm(total=len(problems), disable=not cfg.progress, desc="problems") as bar:
        records = ctrl.synthesize(
            problems, generator, critic, executor, options, stage_dir / stages.SAMPLES, progress=bar.update
        )
    synthesis_seconds = time.perf_counter() - started
    heldout_records = ctrl.synthesize(
        heldout_problems, generator, critic, executor, heldout_options, stage_dir / stages.HELDOUT_SAMPLES
    )
print(
    f"{len(records)} training samples critiqued and revised in {synthesis_seconds:.0f} s; "
    f"{len(heldout_records)} held-out samples in {time.perf_counter() - started - synthesis_seconds:.0f} s"
)

# %% [markdown]
# ## Filters and datasets

# %%
by_id = {p.id: p for p in problems + heldout_problems}
report = ctrl.write_datasets(
    records,
    by_id,
    stage_dir,
    keep_only_successful_revisions=cfg.synthesis.keep_only_successful_revisions,
    balance_judgments=cfg.synthesis.balance_judgments,
    rl_incorrect_share=cfg.synthesis.rl_incorrect_share,
    heldout_records=heldout_records,
    seed=cfg.seed,
)
counts = ctrl.synthesis_counts(report)
counts.to_frame()

# %% [markdown]
# ## The mix of judgments at every step
#
# Samples and prompts are labelled by execution (passes every test = Correct); critiques by the
# critic's judgment, which the filters keep only where it agrees with execution.

# %%
for step in stages.MIX_STAGES:
    print(f"{step:>14}: {report.judgments[step]}")
pd.DataFrame({step: dataclasses.asdict(mix) for step, mix in report.judgments.items()}).T

# %% [markdown]
# ## Example critiques
#
# One kept critique of a failing solution and one of a passing solution (when the run has them),
# with the hint the critic saw and what the revision did.

# %%
kept = [r for r in records if not r.dropped]
for want_passed in (False, True):
    example = next((r for r in kept if r.passed == want_passed), None)
    if example is None:
        print(f"(no kept critique of a {'passing' if want_passed else 'failing'} solution in this run)")
        continue
    print(f"=== {example.problem_id} sample {example.sample}: solution {example.result.summary()}")
    print(f"--- hint\n{example.hint}\n--- critique (judgment: {example.judgment})\n{example.critique}")
    outcome = example.revision_result.summary() if example.revision_result else "not revised"
    print(f"--- revision: {outcome}\n")

# %% [markdown]
# ## Metrics and figure

# %%
metrics = out.finish(ctrl.synthesis_metrics(len(problems), report, records))  # the watch adds the throughput
out.figure(plots.plot_counts(counts, title=f"Stage-I synthesis ({cfg.name})"), stages.FIG_SYNTHESIS_COUNTS)
metrics

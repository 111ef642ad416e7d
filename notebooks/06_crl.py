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

from criticlab import config, crl, export, plots, rewards, synthesis, train
from criticlab.data import read_problems
from criticlab.io import read_jsonl, write_json, write_jsonl
from criticlab.sandbox import make_executor
from criticlab.step_timer import StepTimer

# %% tags=["parameters"]
profile = "cpu"
ratio = None
ablation_ratios = None

# %%
cfg = config.load_profile(profile, overrides={"crl": {"ratio": ratio, "ablation_ratios": ablation_ratios}})
stage_dir = cfg.paths.stage_dir("06_crl")
problems = read_problems(cfg.paths.train_jsonl)
by_id = {p.id: p for p in problems}
records = synthesis.load_records(cfg.paths.stage_dir("03_synthesis") / "samples.jsonl")
candidates = [(by_id[r.problem_id], r.code, r.result.pass_rate) for r in records
              if r.code is not None and not r.result.is_infra_error and r.problem_id in by_id]
crl_pool = crl.crl_rows(candidates, cfg.crl.label_threshold)
code_pool = crl.code_rows(problems)
ratios = sorted(set(cfg.crl.ablation_ratios) | {cfg.crl.ratio})
print(f"profile {cfg.name}: {len(code_pool)} code rows, {len(crl_pool)} CRL rows {crl.label_balance(crl_pool)}")
policy = cfg.crl.policy_model or cfg.models.generator
grpo_cfg = dataclasses.replace(cfg.grpo, max_steps=cfg.crl.max_steps or cfg.grpo.max_steps)
print(f"policy {policy}; ratios {ratios}; {grpo_cfg.max_steps} GRPO steps each")

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
        reward = rewards.MixedReward(rewards.CodeReward(executor), rewards.CRLReward(), log_path=log)
        result = train.train_grpo(
            policy, rows, reward, grpo_cfg, cfg.paths.checkpoints_dir / f"crl_{r:g}",
            seed=cfg.seed, progress=cfg.progress, lora_r=cfg.sft.lora_r, lora_alpha=cfg.sft.lora_alpha,
            callbacks=[StepTimer(reward, log_path=stage_dir / f"step_times_{r:g}.jsonl")],
        )
        runs[r] = (result, read_jsonl(log))
        print(f"ratio {r:g}: {result.global_step} steps, {crl.label_balance(rows)}")

# %% [markdown]
# ## Code reward and CRL judgment accuracy per ratio

# %%
def summarize(records: list[dict]) -> dict:
    code = [x["reward"] for x in records if x["task"] == "code" and x["reward"] is not None]
    judged = [rewards.RewardRecord(**x).verdict_right for x in records if x["task"] == "crl"]
    curve = rewards.per_step([x for x in records if x["task"] == "crl"])
    acc = [s["verdict_accuracy"] for s in curve]
    first, last, se = train.quarter_means(acc) if acc else (float("nan"),) * 3
    return {"code_reward": sum(code) / len(code) if code else float("nan"),
            "crl_accuracy": sum(judged) / len(judged) if judged else float("nan"),
            "crl_accuracy_first_quarter": first, "crl_accuracy_last_quarter": last, "crl_accuracy_se": se}


table = pd.DataFrame([{"ratio": r, **summarize(logged)} for r, (_, logged) in runs.items()])
if len(table):
    plots.save_figure(
        plots.plot_training_curves(
            {f"ratio {r:g}": [(s["step"], s["reward"]) for s in rewards.per_step(logged)] for r, (_, logged) in runs.items()},
            title="Mean reward per step by CRL ratio", smooth=3),
        cfg.paths.figures_dir / "06_crl_rewards")
write_json(stage_dir / "metrics.json", {"stage": "06_crl", "code_rows": len(code_pool), "crl_rows": len(crl_pool),
                                        "ratios": table.to_dict(orient="records")})
table

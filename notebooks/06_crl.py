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
# obtained by executing the candidate (correct when its pass rate exceeds 80%). In the paper CRL
# rows replace 20% of the code rows, and one GRPO run trains on the mixture with the right reward
# per row.
#
# The profile chooses the ratios: one GRPO run per ratio in `crl.ratio` and `crl.ablation_ratios`
# (the paper's ablation: 0%, 20%, 50%, 100%; the smoke profile runs 0% and 50%; the cpu profile
# runs pure CRL, 100%, because a code row costs the small CPU policy far more than a CRL row). The
# notebook reports, per ratio, the code reward and the accuracy of the CRL conclusions.
#
# **Reads** `data/train.jsonl` and `03_synthesis/samples.jsonl` (the executed candidates).
# **Writes** `06_crl/mix_<ratio>.jsonl`, `checkpoints/crl_<ratio>/`, reward logs, curves and
# `metrics.json`.

# %%
import dataclasses

from criticlab import config, crl, stages, training
from criticlab.data import read_problems
from criticlab.io import read_jsonl, write_jsonl
from criticlab.llm import policy_engine, throughput
from criticlab.llm.base import SamplingParams
from criticlab.sandbox import make_executor
from criticlab.viz import plots

# %% tags=["parameters"]
profile = "cpu"
ratio = None
ablation_ratios = None

# %%
cfg = config.load_profile(profile, overrides={"crl": {"ratio": ratio, "ablation_ratios": ablation_ratios}})
watch = throughput.StageWatch()  # tokens generated from here on (probes; rollouts are added per run)
stage_dir = cfg.paths.stage_dir(stages.CRL)
problems = read_problems(cfg.paths.train_jsonl)
candidates = crl.load_candidates(cfg.paths.stage_dir(stages.SYNTHESIS) / stages.SAMPLES, problems)
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
# The paper's policies are instruct models that end an answer with `\\conclusion{T|F}` when asked.
# The small CPU policies rarely do (SmolLM2-135M: none of 32 answers; Qwen2.5-Coder-0.5B: 3 of 16
# within 256 tokens), and an answer without a conclusion earns 0, so GRPO would see equal rewards
# and learn nothing. When `crl.format_warmup_epochs` is set, the policy is first fine-tuned to answer
# CRL prompts with a bare conclusion whose T/F is drawn at random, half each, independently of the
# labels: it learns the format and concludes at chance, so what the CRL reward adds afterwards shows.

# %%
if cfg.crl.format_warmup_epochs:
    warmup_rows = crl.format_warmup_rows(crl_pool, seed=cfg.seed)
    warmup = training.train_sft(
        policy, warmup_rows, dataclasses.replace(cfg.sft, epochs=cfg.crl.format_warmup_epochs),
        cfg.paths.checkpoints_dir / stages.CRL_WARMUP_CHECKPOINTS, seed=cfg.seed, progress=cfg.progress,
        source="06_crl format warm-up",
    )
    policy = str(warmup.final_dir)
    losses = [h["loss"] for h in warmup.history if "loss" in h]
    print(f"format warm-up: {len(warmup_rows)} rows, {warmup.global_step} steps, "
          f"loss {losses[0]:.2f} -> {losses[-1]:.2f}" if losses else "format warm-up: resumed, already done")

# %% [markdown]
# ## Conclusion accuracy before CRL
#
# The reward curve sees one prompt per step, so its steps are noisy. The cleaner measure samples
# the policy's conclusions on every CRL row (as many per row as a GRPO group, same temperature)
# once before training and again after each run, served the same way both times.

# %%
probe_sampling = SamplingParams(temperature=grpo_cfg.temperature, top_p=1.0,
                                max_tokens=grpo_cfg.max_completion_length, seed=cfg.seed)


def probe(model: str) -> dict:
    samples = crl.sample_conclusions(policy_engine(cfg, model), crl_pool, probe_sampling, n=grpo_cfg.group_size)
    return crl.conclusion_stats(samples)


before = probe(policy) if crl_pool and any(r > 0 for r in ratios) else {}
print("before CRL:", {k: round(v, 3) for k, v in before.items()})

# %% [markdown]
# ## One GRPO run per mix ratio

# %%
runs: list[stages.CRLRatioRun] = []
logs = {}
rollouts = []
with make_executor(cfg.sandbox) as executor:
    for r in ratios:
        size = min(len(code_pool), grpo_cfg.prompts_per_step * max(grpo_cfg.max_steps, 1))
        try:
            rows = crl.mix(code_pool[:size], crl_pool, r, seed=cfg.seed)
        except ValueError as err:
            print(f"ratio {r}: skipped ({err})")
            continue
        write_jsonl(stage_dir / stages.for_ratio(stages.CRL_MIX, r), rows)
        training.write_verl_parquet(rows, stage_dir / stages.for_ratio(stages.CRL_VERL_MIX, r))
        log = stage_dir / stages.for_ratio(stages.CRL_REWARDS, r)
        reward = crl.MixedReward(crl.CodeReward(executor), crl.CRLReward(), log_path=log)
        timer = training.StepTimer(reward, log_path=stage_dir / stages.for_ratio(stages.CRL_STEP_TIMES, r))
        result = training.train_grpo(
            policy, rows, reward, grpo_cfg, cfg.paths.checkpoints_dir / stages.for_ratio(stages.CRL_CHECKPOINTS, r),
            seed=cfg.seed, progress=cfg.progress, lora_r=cfg.sft.lora_r, lora_alpha=cfg.sft.lora_alpha,
            callbacks=[timer],
        )
        rollouts.append(throughput.tokens_from_history(
            result.history, grpo_cfg.group_size * grpo_cfg.prompts_per_step, sum(t.sampling for t in timer.times),
            steps=len(timer.times)))
        after = probe(str(result.final_dir)) if r > 0 and before else {}
        logs[r] = read_jsonl(log)
        runs.append(stages.CRLRatioRun(ratio=r, run=result.record(), summary=crl.summarize_run(logs[r]),
                                       before=before, after=after))
        print(f"ratio {r:g}: {result.global_step} steps, {crl.label_balance(rows)}; conclusion accuracy "
              f"{before.get('crl_accuracy', float('nan')):.3f} -> {after.get('crl_accuracy', float('nan')):.3f}")

# %% [markdown]
# ## Code reward and CRL conclusion accuracy per ratio
#
# Accuracy counts an answer without a conclusion as wrong. A policy that always says T scores the
# share of correct candidates (`crl_always_T_accuracy`), so the table also gives the accuracy on
# each label: a rise that comes only from saying T more often shows there.

# %%
table = crl.ratio_table(runs)
if logs:
    curves = {f"ratio {r:g}": [(s["step"], s["reward"]) for s in training.per_step(logged)] for r, logged in logs.items()}
    plots.save_figure(plots.plot_training_curves(curves, title="Mean reward per step by CRL ratio", smooth=3),
                      cfg.paths.figures_dir / stages.FIG_CRL_REWARDS)
    accuracy = {f"ratio {r:g}": [(s["step"], s["accuracy"])
                                 for s in training.per_step([x for x in logged if x["task"] == training.TASK_CRL])]
                for r, logged in logs.items()}
    accuracy = {k: v for k, v in accuracy.items() if v}
    if accuracy:
        plots.save_figure(plots.plot_training_curves(accuracy, title="CRL conclusion accuracy per step", smooth=3),
                          cfg.paths.figures_dir / stages.FIG_CRL_ACCURACY)
stages.write_metrics(cfg.paths.root, stages.CRLMetrics(
    code_rows=len(code_pool), crl_rows=len(crl_pool), policy=policy,
    format_warmup_epochs=cfg.crl.format_warmup_epochs, ratios=runs,
    throughput=watch.record({"rollouts": throughput.combined(rollouts)}),
))
table.T if len(table) else table

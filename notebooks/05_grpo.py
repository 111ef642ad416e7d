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
# # 05 · Critic GRPO with the generator-revision reward
#
# Starting from the SFT critic, GRPO samples a *group* of critiques for each (problem, solution).
# For every critique the **fixed generator** revises the solution greedily and the sandbox runs the
# revision: the reward is 1 when it passes every test, 0 otherwise — whether or not the critique ends
# on a parseable `Overall judgment` (with `grpo.judgment_gate` such a critique gets 0 unrevised; the
# notebook reports what the gate changes either way). Advantages compare critiques within their group; a KL term keeps
# the critic near its SFT starting point. Paper settings: group 8, lr 1e-5 constant, KL 0.001, clip
# 0.2, prompts ≤ 1536 and critiques ≤ 768 tokens, temperature 1.0 (`params/paper.yaml`).
#
# The question this notebook answers with a number: did the mean reward over the last quarter of
# steps rise above the first quarter by more than its noise? With few steps, the profile can train
# on a few prompts visited several times (`grpo.max_prompts`, `grpo.epochs`): the first and the
# last quarter then critique the same problems, and their difference measures the critic rather
# than how hard the problems of those steps happened to be.
#
# **Reads** `03_synthesis/rl.jsonl` and `checkpoints/sft/final` (when notebook 04 trained one).
# **Writes** `checkpoints/grpo/`, `05_grpo/rewards.jsonl` (every critique's judgment, revision
# outcome and reward), curves and `metrics.json`.

# %%
from criticlab import config, ctrl, stages, stats, training
from criticlab.io import read_jsonl
from criticlab.llm import engine_for, sampling_for, unsloth_first, wants_unsloth
from criticlab.sandbox import make_executor
from criticlab.viz import plots

# %% tags=["parameters"]
profile = "cpu"
max_steps = None
group_size = None

# %%
cfg = config.load_profile(profile, overrides={"grpo": {"max_steps": max_steps, "group_size": group_size}})
unsloth_first(wants_unsloth(cfg))  # unsloth before transformers/TRL/peft, when the profile trains with it
stage_dir = cfg.paths.stage_dir(stages.GRPO)
rl_path = cfg.paths.stage_dir(stages.SYNTHESIS) / stages.RL_ROWS
rl_rows = read_jsonl(rl_path) if rl_path.is_file() else []
sft_final = cfg.paths.checkpoints_dir / stages.SFT_CHECKPOINTS / stages.FINAL
start = str(sft_final) if sft_final.is_dir() else cfg.models.critic
print(f"profile {cfg.name}: {len(rl_rows)} RL rows; critic starts from {start}")
print(f"generator (fixed) {cfg.models.generator} via {cfg.models.engine}; group {cfg.grpo.group_size}, "
      f"{cfg.grpo.prompts_per_step} prompt(s)/step, KL {cfg.grpo.kl_coef}, max steps {cfg.grpo.max_steps}, "
      f"prompts used {cfg.grpo.max_prompts or 'all'} × {cfg.grpo.epochs:g} epochs")

# %% [markdown]
# ## Train
#
# The reward function revises every critique of a step in one batched generator call and runs all
# revisions in one sandbox batch. Re-running resumes from the last `checkpoint-*`.

# %%
reward_log = stage_dir / stages.REWARDS
result = None
step_seconds = None
if rl_rows:
    # the same rows for verl (multi-node GRPO): reward module criticlab/tools/verl_reward.py
    training.write_verl_parquet(ctrl.grpo_rows(rl_rows, str(rl_path)), stage_dir / stages.VERL_TRAIN)
    generator = engine_for(cfg, "generator")
    with make_executor(cfg.sandbox) as executor:
        reward = ctrl.CTRLReward(generator, executor, sampling_for(cfg, "revision"), log_path=reward_log,
                                 judgment_gate=cfg.grpo.judgment_gate)
        # per-step seconds: critic sampling, generator revision, execution, optimisation
        timer = training.StepTimer(reward, log_path=stage_dir / stages.STEP_TIMES)
        result = training.train_grpo(
            start, ctrl.grpo_rows(rl_rows, str(rl_path)), reward, cfg.grpo, cfg.paths.checkpoints_dir / stages.GRPO_CHECKPOINTS,
            seed=cfg.seed, progress=cfg.progress, lora_r=cfg.sft.lora_r, lora_alpha=cfg.sft.lora_alpha,
            callbacks=[timer],
        )
    print(f"{result.global_step} GRPO steps; final critic in {result.final_dir}")
    step_seconds = training.summarize(timer.times)
    print("mean seconds per step:", {k: round(v, 1) for k, v in step_seconds.items()})
else:
    print("no RL rows: notebook 03 produced no (problem, solution) pairs")

# %% [markdown]
# ## Did the critic learn?
#
# Per step: mean reward, judgment accuracy (the critic's Correct/Incorrect against execution of the
# critiqued solution), share of critiques without a judgment, share cut at the length limit (a cut
# critique has no `Overall judgment` line, so its reward is 0), and the KL to the starting critic.

# %%
logged = read_jsonl(reward_log) if reward_log.is_file() else []
steps = training.per_step(logged)
unparsed_critiques, unparsed_reward = training.unanswered_reward(logged)
print(f"{unparsed_critiques} critiques without a judgment, mean reward {unparsed_reward:.3f} "
      f"({'set to 0 by' if cfg.grpo.judgment_gate else 'what'} the judgment gate{'' if cfg.grpo.judgment_gate else ' would set to 0'})")
reward_curve = [s["reward"] for s in steps]
unparsed = [s["unparsed"] for s in steps]
learned = stats.learning_check(reward_curve)
if learned is not None:
    print(f"mean reward: first quarter {learned.first_quarter:.3f}, last quarter {learned.last_quarter:.3f}, "
          f"difference {learned.difference:+.3f} ± {learned.se:.3f} (1 s.e.) → "
          f"{'rose above its noise' if learned.above_noise else 'no change beyond noise'}")
    no_judgment = stats.learning_check(unparsed)
    print(f"critiques without a judgment: first quarter {no_judgment.first_quarter:.3f}, "
          f"last quarter {no_judgment.last_quarter:.3f} (± {no_judgment.se:.3f})")
series = {
    "reward": [(s["step"], s["reward"]) for s in steps],
    "judgment accuracy": [(s["step"], s["accuracy"]) for s in steps],
    "no judgment": [(s["step"], s["unparsed"]) for s in steps],
}
if result is not None:
    series["cut at max length"] = result.series("completions/clipped_ratio")
    series["KL"] = result.series("kl")
if steps:
    plots.save_figure(plots.plot_training_curves(series, title=f"Critic GRPO ({cfg.name})", smooth=3),
                      cfg.paths.figures_dir / stages.FIG_GRPO_CURVES)

# %%
stages.write_metrics(cfg.paths.root, stages.GRPOMetrics(
    rl_rows=len(rl_rows), start=start, run=training.run_record(result), reward_per_step=reward_curve,
    learned=learned, unparsed_per_step=unparsed, seconds_per_step=step_seconds,
    judgment_gate=cfg.grpo.judgment_gate, unparsed_critiques=unparsed_critiques, unparsed_reward=unparsed_reward,
))

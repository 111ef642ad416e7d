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

# %%

# %% [markdown]
# # 05 · Critic GRPO with the generator-revision reward
#
# Starting from the SFT critic, GRPO samples a *group* of critiques for each (problem, solution).
# For every critique the **fixed generator** revises the solution greedily and the sandbox runs the
# revision: the reward is 1 when it passes every test, 0 otherwise — whether or not the critique ends
# on a parseable `Overall judgment` (with `grpo.judgment_gate` such a critique gets 0 unrevised:
# `substring` as the reference code does, `last_line` by the workbook's stricter parse; the
# notebook reports what the gate changes either way). Advantages compare critiques within their group; a KL term keeps
# the critic near a frozen reference: its SFT starting point under full fine-tuning or a continued
# adapter with plain TRL, but the base model for a continued adapter under unsloth (`gpu.yaml`),
# whose GRPO patch drops TRL's frozen copy (`criticlab.training.train_grpo` says which). Paper settings: group 8, lr 1e-5 constant, KL 0.001, clip
# 0.2, prompts ≤ 1536 and critiques ≤ 768 tokens, temperature 1.0 (`params/paper.yaml`).
#
# The prompts are the generator's own solutions, passing and failing (notebook 03 mixes them to
# `synthesis.rl_incorrect_share`), so a critic that approves everything cannot score well.
#
# Three numbers answer "did it learn?", none of them chosen on the curve they report:
# - per seed (`grpo.seeds` runs), whether the mean reward over the last quarter of steps rose above
#   the first quarter by more than its noise — with few steps the profile can train on a few prompts
#   visited several times (`grpo.max_prompts`, `grpo.epochs`), so both quarters critique the same
#   problems;
# - the mean and spread of that rise over the seeds;
# - the CTRL reward and the verdict accuracy on **held-out prompts** (validation problems that
#   GRPO never trains on, both judgments), for the starting critic and for each trained one, with
#   95% intervals.
#
# **Reads** `03_synthesis/rl.jsonl`, `03_synthesis/rl_heldout.jsonl` and `checkpoints/sft/final`
# (when notebook 04 trained one). **Writes** `checkpoints/grpo/` (the first seed; others
# `grpo_seed<N>/`), `05_grpo/rewards.jsonl` (every critique's judgment, revision outcome and
# reward; other seeds `rewards_seed<N>.jsonl`), `heldout_*.jsonl`, curves, a table and `metrics.json`.

# %%
from criticlab import config, ctrl, rewards, stages, stats, training
from criticlab.io import read_jsonl
from criticlab.llm import engine_for, throughput, unsloth_first, wants_unsloth
from criticlab.sandbox import make_executor
from criticlab.viz import plots

# %% tags=["parameters"]
profile = "cpu"
max_steps = None
group_size = None
seeds = None

# %%
cfg = config.load_profile(
    profile, overrides={"grpo": {"max_steps": max_steps, "group_size": group_size, "seeds": seeds}}
)
unsloth_first(wants_unsloth(cfg))  # unsloth before transformers/TRL/peft, when the profile trains with it
stage_dir = cfg.paths.stage_dir(stages.GRPO)
rl_path = cfg.paths.stage_dir(stages.SYNTHESIS) / stages.RL_ROWS
heldout_path = cfg.paths.stage_dir(stages.SYNTHESIS) / stages.RL_HELDOUT
rl_rows = read_jsonl(rl_path) if rl_path.is_file() else []
heldout_rows = (read_jsonl(heldout_path) if heldout_path.is_file() else [])[: cfg.grpo.heldout_prompts]
start = ctrl.grpo_start(cfg)  # 04's SFT checkpoint, else the base critic
run_seeds = [cfg.seed + i for i in range(cfg.grpo.seeds)]
prompts_mix = stages.JudgmentMix.of(row["passed"] for row in rl_rows[: cfg.grpo.max_prompts])
heldout_mix = stages.JudgmentMix.of(row["passed"] for row in heldout_rows)
print(f"profile {cfg.name}: {len(rl_rows)} RL rows; critic starts from {start}")
print(f"GRPO prompts (first {cfg.grpo.max_prompts or 'all'}): {prompts_mix}")
print(f"held-out prompts: {heldout_mix}")
print(
    f"generator (fixed) {cfg.models.generator} via {cfg.models.engine}; group {cfg.grpo.group_size}, "
    f"{cfg.grpo.prompts_per_step} prompt(s)/step, KL {cfg.grpo.kl_coef}, max steps {cfg.grpo.max_steps}, "
    f"prompts used {cfg.grpo.max_prompts or 'all'} × {cfg.grpo.epochs:g} epochs, seeds {run_seeds}"
)

# %% [markdown]
# ## Train, one run per seed, and measure on the held-out prompts
#
# The reward function revises every critique of a step in one batched generator call and runs all
# revisions in one sandbox batch. Re-running resumes from each seed's last `checkpoint-*`. The
# held-out measurement samples `grpo.heldout_critiques` critiques per prompt at the training
# temperature, from the starting critic once and from each trained critic.

# %%
out = cfg.paths.stage(
    stages.GRPO, watch=throughput.StageWatch.resuming
)  # engines' tokens (revisions, held-out critiques) from here on
heldout = ctrl.grpo_rows(heldout_rows, str(heldout_path)) if heldout_rows else []
trained: list[ctrl.SeedTraining] = []
heldout_before = None
if rl_rows:
    rows = ctrl.grpo_rows(rl_rows, str(rl_path))
    # the same rows for verl (multi-node GRPO): reward module criticlab/tools/verl_reward.py
    training.write_verl_parquet(rows, stage_dir / stages.VERL_TRAIN)
    generator = engine_for(cfg, "generator")
    with make_executor(cfg.sandbox) as executor:
        heldout_before = ctrl.heldout_score(
            cfg, start, heldout, generator, executor, ctrl.heldout_log(cfg, "before")
        )
        if heldout_before is not None:
            print(ctrl.describe_heldout(heldout_before, "before"))
        for seed in run_seeds:
            trained.append(ctrl.train_seed(cfg, start, rows, generator, executor, seed, heldout))
            run = trained[-1].run
            print(
                f"seed {seed}: {run.run.steps} GRPO steps; final critic in {trained[-1].result.final_dir}; "
                f"critiqued solutions {run.trained_mix}"
            )
            print("  mean seconds per step:", {k: round(v, 1) for k, v in run.seconds_per_step.items()})
            if run.after is not None:
                print("  " + ctrl.describe_heldout(run.after, f"after_seed{seed}"))
else:
    print("no RL rows: notebook 03 produced no (problem, solution) pairs")
runs = [t.run for t in trained]

# %% [markdown]
# ## Did the critic learn?
#
# Per step and seed: mean reward, judgment accuracy (the critic's Correct/Incorrect against
# execution of the critiqued solution), share of critiques without a judgment, share cut at the
# length limit (a cut critique has no `Overall judgment` line, so its reward is 0), and the KL to
# the starting critic. Then the table: the starting critic and every seed on the held-out prompts,
# and the mean and sd over seeds.

# %%
first_log = stage_dir / stages.REWARDS
logged = read_jsonl(first_log) if first_log.is_file() else []
unparsed_critiques, unparsed_reward = rewards.unanswered_reward(logged)
gated = cfg.grpo.judgment_gate != "none"
print(
    f"seed {cfg.seed}: {unparsed_critiques} critiques without a judgment, mean reward {unparsed_reward:.3f} "
    f"({'set to 0 by' if gated else 'what'} the judgment gate{'' if gated else ' would set to 0'}); "
    f"{rewards.parser_disagreements(logged)} read otherwise by the reference's parse"
)
for run in runs:
    if run.learned is not None:
        learned = run.learned
        print(
            f"seed {run.seed}: mean reward first quarter {learned.first_quarter:.3f}, last quarter "
            f"{learned.last_quarter:.3f}, difference {learned.difference:+.3f} ± {learned.se:.3f} (1 s.e.) → "
            f"{'rose above its noise' if learned.above_noise else 'no change beyond noise'}"
        )
        no_judgment = stats.learning_check(run.unparsed_per_step)
        print(
            f"  critiques without a judgment: first quarter {no_judgment.first_quarter:.3f}, "
            f"last quarter {no_judgment.last_quarter:.3f} (± {no_judgment.se:.3f})"
        )
summary = ctrl.across_seeds(runs)
for name, values in summary.items():
    print(
        f"{name} over {values['seeds']:.0f} seed(s): mean {values['mean']:.3f}, sd {values['sd']:.3f}, "
        f"range {values['min']:.3f} to {values['max']:.3f}"
    )

series = ctrl.training_curves(cfg, trained)
if runs:
    out.figure(
        plots.plot_training_curves(series, title=f"Critic GRPO per seed ({cfg.name})", smooth=3),
        stages.FIG_GRPO_CURVES,
    )
    table = ctrl.seed_table(heldout_before, runs)
    out.table(table.reset_index(), stages.TABLE_GRPO_SEEDS)
    print(table.round(3).to_string())

# %%
out.finish(
    ctrl.grpo_metrics(  # the first seed's run at the top level, every seed's below
        cfg,
        rl_rows=len(rl_rows),
        start=start,
        runs=runs,
        unparsed_critiques=unparsed_critiques,
        unparsed_reward=unparsed_reward,
        prompts_mix=prompts_mix,
        heldout_rows=len(heldout_rows),
        heldout_mix=heldout_mix,
        heldout_before=heldout_before,
        parser_disagreements=rewards.parser_disagreements(logged),
        # the critic's rollouts are sampled inside the trainer: their tokens come from its log history
        throughput=out.watch.record({"rollouts": throughput.combined(t.rollout for t in trained)}),
    )
)

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
# # 04 · Critic SFT on execution-guided critiques
#
# The critic is fine-tuned on the critiques synthesized in notebook 03. Each example pairs the
# critique prompt **without** the execution hint with the hinted critique, so the critic learns to
# produce execution-informed critiques without running the code. The loss covers the critique
# tokens only. Paper settings: lr 2e-5 with cosine decay, one epoch, batch 256 (`params/paper.yaml`);
# the CPU profiles fine-tune the small critic fully (`sft.lora: false`) with a small batch, for a
# few epochs over the few rows synthesis yields.
#
# **Reads** `03_synthesis/sft.jsonl`. **Writes** `checkpoints/sft/` (resumable `checkpoint-*`, the
# final model or adapter in `final/`, `history.jsonl`), a loss curve and `metrics.json`.

# %%
from criticlab import config, ctrl, stages, training
from criticlab.llm import unsloth_first, wants_unsloth
from criticlab.viz import plots

# %% tags=["parameters"]
profile = "cpu"
max_steps = None
learning_rate = None

# %%
cfg = config.load_profile(
    profile, overrides={"sft": {"max_steps": max_steps, "learning_rate": learning_rate}}
)
unsloth_first(wants_unsloth(cfg))  # unsloth before transformers/TRL/peft, when the profile trains with it
out = cfg.paths.stage(stages.SFT)  # writes this stage's figure and metrics
sft_path = cfg.paths.stage_dir(stages.SYNTHESIS) / stages.SFT_ROWS
rows = ctrl.read_sft_rows(sft_path)
print(f"profile {cfg.name}: {len(rows)} SFT rows from {sft_path}; base critic {cfg.models.critic}")
print(
    f"lr {cfg.sft.learning_rate} ({cfg.sft.lr_scheduler}), batch {cfg.sft.batch_size}, "
    f"epochs {cfg.sft.epochs}, max steps {cfg.sft.max_steps}, LoRA {cfg.sft.lora}"
)

# %% [markdown]
# ## Train
#
# Re-running this cell after an interruption resumes from the last `checkpoint-*`.

# %%
output_dir = cfg.paths.checkpoints_dir / stages.SFT_CHECKPOINTS
result = None
if rows:
    result = training.train_sft(
        cfg.models.critic,
        rows,
        cfg.sft,
        output_dir,
        seed=cfg.seed,
        progress=cfg.progress,
        source=str(sft_path),
    )
else:
    print("no SFT rows: notebook 03 kept no critique, so there is nothing to train on (see its metrics)")
metrics = ctrl.sft_metrics(len(rows), result)  # the run, and whether its loss fell beyond noise
if (loss := metrics.loss) is not None:
    print(
        f"{metrics.run.steps} steps; loss first quarter {loss.first_quarter:.4f} → last quarter "
        f"{loss.last_quarter:.4f} (± {loss.se:.4f})"
    )
if result is not None and result.resumed_from:
    print(f"resumed from {result.resumed_from}")

# %% [markdown]
# ## Loss curve

# %%
if result is not None:
    fig = plots.plot_training_curves({"loss": result.series("loss")}, title=f"Critic SFT ({cfg.name})")
    out.figure(fig, stages.FIG_SFT_LOSS)
out.finish(metrics)

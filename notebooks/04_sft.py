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
# # 04 · Critic SFT on execution-guided critiques
#
# The critic is fine-tuned on the critiques synthesized in notebook 03. Each example pairs the
# critique prompt **without** the execution hint with the hinted critique, so the critic learns to
# produce execution-informed critiques without running the code. The loss covers the critique
# tokens only. Paper settings: lr 2e-5 with cosine decay, one epoch, batch 256 (`params/paper.yaml`);
# the CPU profiles train a LoRA adapter with a small batch.
#
# **Reads** `03_synthesis/sft.jsonl`. **Writes** `checkpoints/sft/` (resumable `checkpoint-*`, the
# final model or adapter in `final/`, `history.jsonl`), a loss curve and `metrics.json`.

# %%
from criticlab import config, stats, training
from criticlab.io import read_jsonl, write_json
from criticlab.viz import plots

# %% tags=["parameters"]
profile = "cpu"
max_steps = None
learning_rate = None

# %%
cfg = config.load_profile(profile, overrides={"sft": {"max_steps": max_steps, "learning_rate": learning_rate}})
stage_dir = cfg.paths.stage_dir("04_sft")
sft_path = cfg.paths.stage_dir("03_synthesis") / "sft.jsonl"
rows = read_jsonl(sft_path) if sft_path.is_file() else []
print(f"profile {cfg.name}: {len(rows)} SFT rows from {sft_path}; base critic {cfg.models.critic}")
print(f"lr {cfg.sft.learning_rate} ({cfg.sft.lr_scheduler}), batch {cfg.sft.batch_size}, "
      f"epochs {cfg.sft.epochs}, max steps {cfg.sft.max_steps}, LoRA {cfg.sft.lora}")

# %% [markdown]
# ## Train
#
# Re-running this cell after an interruption resumes from the last `checkpoint-*`.

# %%
output_dir = cfg.paths.checkpoints_dir / "sft"
if rows:
    result = training.train_sft(
        cfg.models.critic, rows, cfg.sft, output_dir, seed=cfg.seed, progress=cfg.progress, source=str(sft_path)
    )
    losses = [value for _, value in result.series("loss")]
    first, last, se = stats.quarter_means(losses)
    print(f"{result.global_step} steps; loss first quarter {first:.4f} → last quarter {last:.4f} (± {se:.4f})")
    if result.resumed_from:
        print(f"resumed from {result.resumed_from}")
else:
    result = None
    print("no SFT rows: notebook 03 kept no critique, so there is nothing to train on (see its metrics)")

# %% [markdown]
# ## Loss curve

# %%
if result is not None:
    fig = plots.plot_training_curves({"loss": result.series("loss")}, title=f"Critic SFT ({cfg.name})")
    plots.save_figure(fig, cfg.paths.figures_dir / "04_sft_loss")
write_json(stage_dir / "metrics.json", {
    "stage": "04_sft",
    "rows": len(rows),
    "trained": result is not None,
    "steps": result.global_step if result else 0,
    "checkpoint": str(result.final_dir) if result else None,
    "resumed_from": result.resumed_from if result else None,
    "loss_first_quarter": first if result else None,
    "loss_last_quarter": last if result else None,
    "loss_quarter_se": se if result else None,
})

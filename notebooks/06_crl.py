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
# runs pure CRL, 100%, because a code row costs the small CPU policy far more than a CRL row), and
# per seed in `crl.seeds`. As in the paper's main table, every trained policy — and the policy the
# runs start from — is then evaluated as a **code generator** (Pass@1, Pass@k per benchmark on the
# evaluation problems 07 uses) and as a **judge** (conclusion accuracy on CRL rows of problems held
# out of training, per label, beside the always-T base rate).
#
# **Reads** `data/train.jsonl`, `data/eval.jsonl` and `03_synthesis/samples.jsonl` (the executed
# candidates). **Writes** `06_crl/mix_<ratio>.jsonl`, `heldout.jsonl`, `code_<ratio|start>.jsonl`,
# `checkpoints/crl_<ratio>[_seed<s>]/`, reward logs, curves, `tables/06_crl_comparison.*` and
# `metrics.json`.

# %%
from criticlab import config, crl, stages
from criticlab.data import read_problems
from criticlab.io import write_jsonl
from criticlab.llm import throughput
from criticlab.sandbox import make_executor
from criticlab.viz import plots, tables

# %% tags=["parameters"]
profile = "cpu"
ratio = None
ablation_ratios = None

# %%
cfg = config.load_profile(profile, overrides={"crl": {"ratio": ratio, "ablation_ratios": ablation_ratios}})
out = cfg.paths.stage(
    stages.CRL, watch=throughput.StageWatch.resuming
)  # tokens from here on (probes; rollouts added per run)
stage_dir = out.dir
problems = read_problems(cfg.paths.train_jsonl)
candidates = crl.load_candidates(cfg.paths.stage_dir(stages.SYNTHESIS) / stages.SAMPLES, problems)
crl_all = crl.crl_rows(candidates, cfg.crl.label_threshold)
code_pool = crl.code_rows(problems)
ratios = sorted(set(cfg.crl.ablation_ratios) | {cfg.crl.ratio})
seeds = [cfg.seed + i for i in range(cfg.crl.seeds)]
print(f"profile {cfg.name}: {len(code_pool)} code rows, {len(crl_all)} CRL rows {crl.label_balance(crl_all)}")
policy = cfg.crl.policy_model or cfg.models.generator
grpo_cfg = crl.grpo_section(cfg)  # the profile's GRPO settings with crl.max_steps, every mixed row
print(f"policy {policy}; ratios {ratios}; seeds {seeds}; {grpo_cfg.max_steps} GRPO steps each")

# %% [markdown]
# ## Held-out CRL rows and evaluation problems
#
# The judge is measured on CRL rows of problems that no run trains on: the candidates' problems
# are split by id (`crl.heldout_fraction` of them held out, shuffled with `data.split_seed`, the
# same split for every ratio and seed), so a policy is never scored on a judgment it was rewarded
# for. The code generator is measured on 01's evaluation problems, the ones 07 evaluates, first
# `crl.eval_problems` of them, `crl.eval_samples` solutions each.

# %%
crl_pool, heldout = crl.split_heldout(crl_all, cfg.crl.heldout_fraction, seed=cfg.data.split_seed)
heldout_ids = sorted({crl.row_problem_id(r) for r in heldout})
assert not set(heldout_ids) & {crl.row_problem_id(r) for r in crl_pool}, (
    "held-out problems leaked into training"
)
write_jsonl(stage_dir / stages.CRL_HELDOUT, heldout)
plan = crl.evaluation_plan(cfg, grpo_cfg, heldout)  # judge: held-out rows; coder: 07's first problems
print(
    f"CRL rows: {len(crl_pool)} for training {crl.label_balance(crl_pool)}, {len(heldout)} held out "
    f"{crl.label_balance(heldout)} from {len(heldout_ids)} problems; code evaluation on "
    f"{len(plan.problems)} problems × {plan.samples} samples"
)

# %% [markdown]
# ## Format warm-up (small policies)
#
# The paper's policies are instruct models that end an answer with `\\conclusion{T|F}` when asked.
# The small CPU policies rarely do (SmolLM2-135M: none of 32 answers; Qwen2.5-Coder-0.5B: 3 of 16
# within 256 tokens), and an answer without a conclusion earns 0, so GRPO would see equal rewards
# and learn nothing. When `crl.format_warmup_epochs` is set, the policy is first fine-tuned to answer
# CRL prompts (training rows only) with a bare conclusion whose T/F is drawn at random, half each,
# independently of the labels: it learns the format and concludes at chance, so what the CRL reward
# adds afterwards shows.

# %%
warmup = crl.format_warmup(cfg, policy, crl_pool)  # None without crl.format_warmup_epochs
if warmup is not None:
    policy = str(warmup.result.final_dir)
    print(warmup.describe())

# %% [markdown]
# ## The start policy as a judge and as a coder
#
# The reward curve sees one prompt per step, so its steps are noisy. The cleaner measure samples
# the policy's conclusions on every held-out CRL row (as many per row as a GRPO group, same
# temperature) once before training and again after each run, served the same way both times.
# The same engine then writes solutions to the evaluation problems at the profile's solution
# sampling, executed in the sandbox: the reference row of the comparison.

# %%
with make_executor(cfg.sandbox) as executor:
    before, start_code = crl.evaluate_policy(cfg, policy, plan, stages.CRL_CODE_START, executor)
print("start policy:", crl.describe(before, start_code))

# %% [markdown]
# ## One GRPO run per mix ratio and seed
#
# Every seed trains on the same mixed rows; the seed changes GRPO's sampling and batch order.

# %%
trained: list[crl.CRLRun] = []
with make_executor(cfg.sandbox) as executor:
    for r in ratios:
        ratio_runs = crl.train_ratio(
            cfg, policy, r, code_pool, crl_pool, seeds, plan, executor, before, grpo_cfg
        )
        if ratio_runs.skipped:
            print(f"ratio {r}: skipped ({ratio_runs.skipped})")
        for run in ratio_runs.runs:
            print(
                f"{run.name}: {run.run.run.steps} steps, {ratio_runs.balance}; {crl.describe(run.run.after, run.run.code)}"
            )
        trained += ratio_runs.runs
runs = [t.run for t in trained]
logs = {t.name: t.log for t in trained}

# %% [markdown]
# ## Training curves per ratio and seed
#
# Accuracy here is on the training rows, step by step (a noisy view of what the reward saw); the
# held-out numbers are in the comparison below.

# %%
if logs:
    curves, accuracy = crl.training_curves(logs)
    out.figure(
        plots.plot_training_curves(curves, title="Mean reward per step by CRL ratio and seed", smooth=3),
        stages.FIG_CRL_REWARDS,
    )
    if accuracy:
        out.figure(
            plots.plot_training_curves(accuracy, title="CRL conclusion accuracy per step", smooth=3),
            stages.FIG_CRL_ACCURACY,
        )
crl.ratio_table(runs)

# %% [markdown]
# ## Critique-Coder's comparison: the ratios side by side
#
# One row per policy and seed — `start` is the policy every run starts from (the base model, after
# the format warm-up when there is one) — and, for ratios run on several seeds, the mean and the
# sample standard deviation over seeds. Code: unbiased Pass@k per benchmark on the evaluation
# problems. Judge: accuracy of the conclusions on the held-out CRL rows, overall and on each label
# (T: the candidate is correct), with 95% Wilson bounds, beside `always-T`, the accuracy of a judge
# that always says T. A rise in judge accuracy that comes only from saying T more often shows as
# `acc on T` up and `acc on F` down.

# %%
table = crl.comparison_table(start_code, before, runs)
out.table(table, stages.TABLE_CRL_COMPARISON, digits=3)  # always a row: the start policy
out.plot(
    plots.plot_crl_comparison, table, stages.FIG_CRL_COMPARISON, title="CRL policies as coders and as judges"
)
out.finish(
    crl.crl_metrics(  # held-out rows and problems: the plan's
        cfg,
        code_rows=len(code_pool),
        crl_rows=len(crl_all),
        policy=policy,
        runs=runs,
        seeds=seeds,
        train_crl_rows=len(crl_pool),
        plan=plan,
        start_code=start_code,
        start_judge=before,
        comparison=table,
        parser_disagreements=crl.parser_disagreements(before, runs),
        # the policies' rollouts are sampled inside the trainer: their tokens come from its log history
        throughput=out.watch.record({"rollouts": throughput.combined(t.rollout for t in trained)}),
    )
)
print(tables.to_markdown(table, digits=3))
table.T

import json, sys, math, pathlib
old_root, new_root = map(pathlib.Path, sys.argv[1:3])
def flat(x, p=""):
    if isinstance(x, dict):
        out = {}
        for k, v in x.items(): out.update(flat(v, f"{p}.{k}" if p else str(k)))
        return out
    if isinstance(x, list) and x and all(isinstance(i, (dict, list)) for i in x):
        out = {}
        for i, v in enumerate(x): out.update(flat(v, f"{p}[{i}]"))
        return out
    return {p: x}
RENAME = {
 "03_synthesis": lambda k: ("datasets." + k if k.split(".")[0] in ("samples","zero_shot_passed","dropped","kept_after_filters","dropped_revision_failed","dropped_for_balance","sft_rows","sft_verdicts","revision_pass_rate","rl_rows") else k).replace("sft_verdicts","sft_judgments").replace("no_verdict","no_judgment").replace("verdict_contradicts_execution","judgment_contradicts_execution"),
 "04_sft": lambda k: {"trained":"run.trained","steps":"run.steps","checkpoint":"run.checkpoint","resumed_from":"run.resumed_from","loss_first_quarter":"loss.first_quarter","loss_last_quarter":"loss.last_quarter","loss_quarter_se":"loss.se"}.get(k,k),
 "05_grpo": lambda k: {"trained":"run.trained","steps":"run.steps","checkpoint":"run.checkpoint","resumed_from":"run.resumed_from"}.get(k,k).replace("no_verdict_per_step","unparsed_per_step"),
}
def ratio_rename(k):
    # old: ratios[i].X (flat row) -> new: ratios[i].summary.X / before / after
    if not k.startswith("ratios["): return k
    head, _, rest = k.partition("].")
    if rest == "ratio": return k
    if rest.startswith("before_"): return f"{head}].before.{rest[7:]}"
    if rest.startswith("after_"): return f"{head}].after.{rest[6:]}"
    return f"{head}].summary.{rest}"
TIMING = ("throughput", "latency", "seconds", "checkpoint", "resumed_from", "start", "policy", "written", "settings")
bad = 0
for stage in sorted(p.name for p in old_root.iterdir() if (p / "metrics.json").is_file()):
    old = flat(json.load(open(old_root / stage / "metrics.json")))
    new = flat(json.load(open(new_root / stage / "metrics.json")))
    f = RENAME.get(stage, lambda k: k)
    old = {ratio_rename(f(k)) if stage == "06_crl" else f(k): v for k, v in old.items()}
    if stage == "06_crl":
        old = {k.replace("crl_judgments", "crl_samples"): v for k, v in old.items()}
    same = diff = 0
    for k in sorted(set(old) | set(new)):
        if any(t in k for t in TIMING) or k == "stage": continue
        a, b = old.get(k, "<missing>"), new.get(k, "<missing>")
        eq = a == b or (isinstance(a, float) and isinstance(b, float) and (math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))))
        if eq: same += 1
        else:
            diff += 1; bad += 1
            print(f"  {stage} {k}: old={a!r} new={b!r}")
    print(f"{stage}: {same} equal, {diff} differ")
sys.exit(1 if bad else 0)

"""Notebook hygiene (pairing, no outputs, one literal parameters cell) and a smoke run of all eight."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import jupytext
import pytest

from criticlab import config, stages
from criticlab.rollout import revises_every_round
from criticlab.tools import run

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
PAIRS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def test_all_eight_stages_exist() -> None:
    assert [p.stem[:2] for p in PAIRS] == [f"{n:02d}" for n in range(1, 9)]


@pytest.mark.parametrize("script", PAIRS, ids=lambda p: p.stem)
def test_pair_is_in_sync(script: Path) -> None:
    ipynb = script.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{ipynb.name} is missing: run `make notebooks`"
    from_py = jupytext.read(script)
    from_nb = jupytext.read(ipynb)
    cells = lambda nb: [(c.cell_type, c.source.strip(), c.metadata.get("tags", [])) for c in nb.cells]  # noqa: E731
    assert cells(from_py) == cells(from_nb), f"{script.name} and {ipynb.name} differ: run `make notebooks`"


@pytest.mark.parametrize("script", PAIRS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(script: Path) -> None:
    nb = json.loads(script.with_suffix(".ipynb").read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{script.with_suffix('.ipynb').name}: cells {dirty} carry outputs; run `make notebooks`"


@pytest.mark.parametrize("script", PAIRS, ids=lambda p: p.stem)
def test_one_literal_parameters_cell_with_known_names(script: Path) -> None:
    nb = jupytext.read(script)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{script.name}: expected exactly one cell tagged 'parameters', found {len(cells)}"
    section = config.NOTEBOOK_SECTIONS[script.stem[:2]]
    known = {"profile", *config.schema_keys(section)}
    names = []
    for node in ast.parse(cells[0].source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name), (
            f"{script.name}: the parameters cell may hold only `name = literal` lines"
        )
        ast.literal_eval(node.value)  # raises on anything but a plain literal
        names.append(node.targets[0].id)
    assert "profile" in names
    unknown = set(names) - known
    assert not unknown, f"{script.name}: parameters {sorted(unknown)} are not keys of the '{section}' section"


@pytest.mark.timeout(2400)
def test_smoke_profile_runs_every_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole pipeline, headless, through the same runner `make run` uses; then every stage's
    metrics, read back through their typed records, must agree with the profile and with each other."""
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    report = run.run_profile("smoke", echo=lambda *a, **k: None)
    assert [r.status for r in report.runs] == ["ok"] * 8
    assert [r.notebook for r in report.runs] == list(stages.STAGES)
    check_smoke_metrics(config.load_profile("smoke"), tmp_path / "smoke")


def share(value: float) -> bool:
    return math.isfinite(value) and 0.0 <= value <= 1.0


def check_smoke_metrics(cfg: config.Profile, root: Path) -> None:
    records = {stage: stages.read_metrics(root, stage) for stage in stages.STAGES}
    assert all(records.values()), f"stages without metrics: {[s for s, r in records.items() if r is None]}"
    data = records[stages.DATA]
    train, evaluated = data.counts["train"], data.counts["eval"]
    assert train > 0 and evaluated > 0 and train + evaluated <= cfg.data.max_problems

    sandbox = records[stages.SANDBOX]
    assert sandbox.references_total > 0 and sandbox.references_accepted == sandbox.references_total
    assert sandbox.mutants_total > 0 and sandbox.mutants_rejected == sandbox.mutants_total

    synthesis = records[stages.SYNTHESIS]
    made = synthesis.datasets
    assert synthesis.problems == min(cfg.synthesis.max_problems, train)
    assert made.samples == synthesis.problems * cfg.synthesis.samples_per_problem
    assert made.sft_rows == sum(made.sft_judgments.values()) <= made.kept_after_filters <= made.samples
    assert made.rl_rows <= made.samples and share(synthesis.zero_shot_pass_rate)

    sft = records[stages.SFT]
    assert sft.rows == made.sft_rows
    if sft.rows:
        assert sft.run.trained and sft.run.steps == cfg.sft.max_steps
        assert math.isfinite(sft.loss.first_quarter) and math.isfinite(sft.loss.last_quarter) and sft.loss.se >= 0

    grpo = records[stages.GRPO]
    assert grpo.rl_rows == made.rl_rows
    if grpo.rl_rows:
        assert grpo.run.trained and grpo.run.steps == cfg.grpo.max_steps
        assert len(grpo.reward_per_step) == len(grpo.unparsed_per_step) == grpo.run.steps
        assert all(share(r) for r in grpo.reward_per_step + grpo.unparsed_per_step)
        assert grpo.learned is not None and math.isfinite(grpo.learned.se)

    crl = records[stages.CRL]
    assert crl.code_rows == train and crl.crl_rows <= made.samples
    assert [mixed.ratio for mixed in crl.ratios] == sorted({cfg.crl.ratio, *cfg.crl.ablation_ratios})
    for mixed in crl.ratios:
        assert mixed.run.trained and mixed.run.steps == cfg.crl.max_steps
        if mixed.ratio < 1:
            assert share(mixed.summary["code_reward"])
        if mixed.ratio > 0:
            assert share(mixed.summary["crl_accuracy"]) and share(mixed.after["crl_accuracy"])

    evaluation = records[stages.EVALUATION]
    assert evaluation.problems == min(cfg.evaluation.max_problems, evaluated)
    assert evaluation.rounds == cfg.evaluation.rounds
    sources = {row["source"] for row in evaluation.final}
    overall = "all" if len(sources) > 1 else next(iter(sources))
    pooled = [row for row in evaluation.final if row["source"] == overall]
    assert {m["method"] for m in pooled} == set(evaluation.methods)
    samples = evaluation.problems * cfg.evaluation.samples_per_problem
    for row in pooled:
        # a +stop method may stop every sample early; a method that revises reaches the last round
        assert row["round"] <= cfg.evaluation.rounds
        assert row["round"] == cfg.evaluation.rounds or not revises_every_round(row["method"])
        assert row["n"] + evaluation.excluded_infra.get(row["method"], 0) == samples
    for row in evaluation.final:
        assert all(0 <= row[c] <= 100 for c in ("pass@1", "Δ↑", "Δ↓"))  # percentages, as in the tables
    assert {row["k"] for row in evaluation.pass_at_k} == set(range(1, cfg.evaluation.samples_per_problem + 1))
    assert all(share(row["pass@k"]) for row in evaluation.pass_at_k if row["problems"])
    compared = {row["method"] for row in evaluation.differences}
    assert compared == set(evaluation.methods) - {"self_critique"}
    assert all(row["problems"] <= evaluation.problems and isinstance(row["excludes 0"], bool)
               for row in evaluation.differences)

    analysis = records[stages.ANALYSIS]
    assert analysis.trajectories == samples * len(evaluation.methods)
    assert set(analysis.methods) == set(evaluation.methods)
    # each critic (a method revising every round) has its own five rates: estimated with an
    # interval around the value, or "not estimable" with no value; a loop is simulated exactly
    # when every rate it needs was estimated
    critics = {m for m in evaluation.methods if revises_every_round(m)}
    assert {row["critic"] for row in analysis.critic_rates} == critics
    status = {}
    for row in analysis.critic_rates:
        status[row["critic"], row["rate"]] = row["status"]
        if row["status"] == "estimated":
            assert row["n"] > 0 and share(row["value"]) and row["lo"] <= row["value"] <= row["hi"]
        else:
            assert row["status"].startswith("not estimable: ") and row["n"] == 0 and math.isnan(row["value"])
    loops = {"revise every round": ("p_init", "p_cc", "p_wc"), "stop at Correct": ("p_init", "p_cc", "p_wc", "tpr", "tnr")}
    for critic in critics:
        for loop, needs in loops.items():
            key = f"{critic} · {loop}"
            estimable = all(status[critic, rate] == "estimated" for rate in needs)
            assert (key in analysis.simulated) == estimable and (key in analysis.not_simulated) == (not estimable)
    # strategies are multi-label shares of critiques; the validation set is scored by the rules
    for row in analysis.strategies:
        assert all(share(row[label]) for label in ("algorithm_improvement", "static_analysis",
                                                   "strategic_debugging", "dynamic_testing", "other"))
    assert analysis.strategy_validation_n >= 40  # the committed hand-labelled set
    scored = {(row["mode"], row["label"]) for row in analysis.strategy_validation}
    assert {("rules", "micro"), ("rules", "macro")} <= scored
    assert all(math.isnan(row["precision"]) or share(row["precision"]) for row in analysis.strategy_validation)


@pytest.mark.parametrize("script", PAIRS, ids=lambda p: p.stem)
def test_every_library_name_a_notebook_uses_exists(script: Path) -> None:
    """``module.name`` in a notebook resolves in the library (caught in seconds, not in the smoke run)."""
    import importlib

    tree = ast.parse(script.read_text())
    modules = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("criticlab"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                try:
                    modules[alias.asname or alias.name] = importlib.import_module(full)
                except ModuleNotFoundError:  # a name, not a module: it must exist in its module
                    assert hasattr(importlib.import_module(node.module), alias.name), f"{script.name}: {full}"
    missing = sorted(
        f"{node.value.id}.{node.attr}" for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
        and not hasattr(modules[node.value.id], node.attr)
    )
    assert not missing, f"{script.name} uses names the library does not have: {missing}"

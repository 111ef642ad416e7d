"""07's metrics record, built from the evaluation's tables rather than by the notebook.

The record keeps the headline tables as rows (final-round Pass@1/Δ↑/Δ↓, Pass@k, discrimination,
differences, Maj@k, JudgeBench, repairability, Best-of-N) and the counts that say what they cover.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from criticlab import stages
from criticlab.config import EvaluationSection
from criticlab.evaluation.judgebench import JudgeBenchRun
from criticlab.evaluation.metrics import ROUND_COLUMNS
from criticlab.evaluation.repairability import CEILING
from criticlab.rollout import prompts
from criticlab.rollout.trajectory import Trajectory


def parser_disagreements(trajectories: Sequence[Trajectory]) -> int:
    """How many critiques of ``trajectories`` the workbook's last-line parse and critic-rl's
    substring test read differently (:func:`criticlab.rollout.prompts.parser_disagreements`)."""
    return prompts.parser_disagreements(
        (r.critique for t in trajectories for r in t.rounds if r.critique), "judgment"
    )


def evaluation_metrics(
    *,
    problems: int,
    settings: EvaluationSection,
    methods: Sequence[str],
    skipped: Mapping[str, str],
    excluded: Mapping[str, int],
    final: pd.DataFrame,
    pass_at_k: pd.DataFrame,
    discrimination: pd.DataFrame,
    differences: pd.DataFrame,
    pairs: int,
    majority: pd.DataFrame,
    judgebench: JudgeBenchRun,
    curve: Sequence[Trajectory] = (),
    trajectories: Sequence[Trajectory] = (),
    repairability: pd.DataFrame | None = None,
    selection: pd.DataFrame | None = None,
) -> stages.EvaluationMetrics:
    """The :class:`~criticlab.stages.EvaluationMetrics` of one evaluation run.

    ``final`` is the final-round table in percent (:func:`percent` of :func:`final_rows`),
    ``excluded`` the trajectories left out for infrastructure errors, ``pairs`` the own-sample
    pairs of Maj@k, ``curve`` the trajectories of the multi-round curve (empty: none was run),
    ``trajectories`` the methods' (their critiques give :func:`parser_disagreements`),
    ``repairability`` and ``selection`` the tables of those sections;
    the throughput is left to the stage's watch (:meth:`criticlab.outputs.StageOutputs.finish`).
    """
    return stages.EvaluationMetrics(
        problems=problems,
        rounds=settings.rounds,
        curve_rounds=settings.curve_rounds if curve else 0,
        curve_problems=len({t.problem_id for t in curve}),
        methods=list(methods),
        skipped=dict(skipped),
        excluded_infra=dict(excluded),
        final=final[["source", *ROUND_COLUMNS, *(c for c in [CEILING] if c in final)]].to_dict(
            orient="records"
        ),
        pass_at_k=pass_at_k.to_dict(orient="records"),
        parser_disagreements=parser_disagreements(trajectories),
        differences=differences.to_dict(orient="records"),
        discrimination=discrimination.to_dict(orient="records"),
        pairs=pairs,
        majority=majority.to_dict(orient="records"),
        judgebench_pairs=len(judgebench.pairs),
        judgebench_too_long=judgebench.too_long,
        judgebench_critiques=judgebench.critiques,
        judgebench=judgebench.majority.to_dict(orient="records"),
        judgebench_pairwise=judgebench.pairwise.to_dict(orient="records"),
        repairability=[] if repairability is None else repairability.to_dict(orient="records"),
        selection=[] if selection is None else selection.to_dict(orient="records"),
    )

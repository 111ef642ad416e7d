"""08's metrics record, built from the analysis results rather than by the notebook.

The record keeps each table as its rows and a few summaries (mean similarity per method, the
loops simulated); building it here keeps the notebook to calls and the conversions under test.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from criticlab import stages
from criticlab.analysis.critics import Compounding
from criticlab.analysis.strategies import Agreement


def simulated_loops(compounding: Compounding) -> list[str]:
    """``<critic> · <loop>`` of every simulated loop, in the order of the curves."""
    curves = compounding.curves
    if not len(curves):
        return []
    return list(dict.fromkeys(f"{c} · {loop}" for c, loop in zip(curves["critic"], curves["loop"])))


def analysis_metrics(
    *,
    trajectories: int,
    methods: Sequence[str],
    rates: pd.DataFrame,
    compounding: Compounding,
    distribution: pd.DataFrame,
    agreement: Agreement | None,
    validation: pd.DataFrame,
    validation_n: int,
    similarity: pd.DataFrame,
) -> stages.AnalysisMetrics:
    """The :class:`~criticlab.stages.AnalysisMetrics` of one analysis run.

    ``rates`` is :func:`markov_table`'s, ``compounding`` :func:`compounding_by_critic`'s,
    ``distribution`` :func:`strategy_distribution`'s, ``agreement`` the rules-vs-LLM agreement
    (None without the LLM labeller), ``validation`` the scores on the hand-labelled set of
    ``validation_n`` critiques, ``similarity`` :func:`revision_similarity`'s.
    """
    return stages.AnalysisMetrics(
        trajectories=trajectories,
        methods=list(methods),
        transition_rates=rates.to_dict(orient="records"),
        strategies=distribution.to_dict(orient="records") if len(distribution) else [],
        strategy_agreement=None
        if agreement is None
        else {"n": agreement.n, "percent": agreement.percent, "kappa": agreement.kappa},
        similarity_mean=similarity.groupby("method")["similarity"].mean().to_dict()
        if len(similarity)
        else {},
        critic_rates=compounding.rates.to_dict(orient="records"),
        simulated=simulated_loops(compounding),
        not_simulated=dict(compounding.skipped),
        strategy_validation=validation.to_dict(orient="records"),
        strategy_validation_n=validation_n,
    )

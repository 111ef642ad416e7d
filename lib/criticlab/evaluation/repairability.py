"""Repairability: can the generator turn feedback into a fix at all?

A critic raises Pass@1 only through the generator's revisions, so Δ↑ is bounded by what the
generator does with the best feedback it can get. This module measures that bound for a generator
and a kind of feedback, as three shares of revisions:

- **fixed**: of the revisions of failing solutions, the share that pass — the ceiling of Δ↑ that
  critics of this kind can reach with this generator (execution feedback and the hinted oracle
  critique know exactly what failed);
- **broken**: of the revisions of passing solutions, the share that fail (the floor of Δ↓);
- **same code**: of all revisions, the share that return the solution's code unchanged (after
  :func:`normalized_code`): a generator that ignores feedback shows it here first.

Feedback kinds (:data:`FEEDBACKS`; ``critic:<name>`` for any critic engine):

- ``execution_feedback`` — the raw test result, as notebook 07's baseline feeds it back;
- ``hinted`` — notebook 03's hinted critique: the critic (by default the generator) writes a
  critique told the execution result and the judgment to reach, the oracle critique of CTRL's
  stage I;
- ``self_critique`` — the generator critiques its own solution without execution;
- ``critic:<name>`` — a trained critic's critique.

Each solution gets one critique and ``1 + k`` revisions under it: the greedy revision (draw 0, the
one 07's Δ↑ counts) and ``k`` sampled ones (draws 1…k, the revision sampled at the solution's
temperature). :func:`from_trajectories` reads the same records off 07's trajectories (round 0 →
round 1 of every revising method), so the ceiling and Δ↑ come from one definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from criticlab.data.types import Problem
from criticlab.evaluation.metrics import AVERAGE, POOLED
from criticlab.llm.base import Completion, Conversation, Engine, SamplingParams
from criticlab.rollout import prompts
from criticlab.rollout.loop import execute
from criticlab.rollout.trajectory import STOP_SUFFIX, Round, Trajectory
from criticlab.sandbox.base import Executor
from criticlab.stats import bootstrap_ratio, wilson_interval

EXECUTION_FEEDBACK = "execution_feedback"
HINTED = "hinted"
SELF_CRITIQUE = "self_critique"
FEEDBACKS: tuple[str, ...] = (EXECUTION_FEEDBACK, HINTED, SELF_CRITIQUE)
CRITIC_PREFIX = "critic:"
GREEDY, SAMPLED = "greedy", "sampled"
SHARES: dict[str, tuple[str, str]] = {
    "fixed": ("fixed", "failing"),
    "broken": ("broken", "passing"),
    "same code": ("same", "revisions"),
}
"""Each reported share → (its count column, the count it is a share of)."""
COLUMNS = [
    "feedback",
    "revision",
    "failing",
    "fixed",
    "fixed share",
    "fixed lo",
    "fixed hi",
    "passing",
    "broken",
    "broken share",
    "broken lo",
    "broken hi",
    "revisions",
    "same",
    "same code share",
    "same code lo",
    "same code hi",
    "excluded",
]


@dataclass(frozen=True)
class Repair:
    """One revision of one solution under one kind of feedback, and what execution made of both."""

    problem_id: str
    sample: int
    feedback: str
    draw: int
    """0 for the greedy revision, 1…k for the sampled ones."""
    passed_before: bool
    passed_after: bool
    same_code: bool
    judgment: str | None = None
    """The critique's parsed judgment of the solution (the tests' own for execution feedback)."""
    infra: bool = False
    """The solution or its revision met an infrastructure failure: left out of every share."""

    @property
    def revision(self) -> str:
        return GREEDY if self.draw == 0 else SAMPLED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Repair:
        return cls(**row)


def normalized_code(code: str | None) -> str | None:
    """The code with trailing spaces and blank lines dropped: a revision that only re-indents
    nothing and re-wraps no line but adds a blank line is still the same code."""
    if code is None:
        return None
    return "\n".join(line.rstrip() for line in code.strip().splitlines() if line.strip())


def same_code(before: str | None, after: str | None) -> bool:
    """Whether a revision returned the solution's code (a revision without code never does)."""
    return after is not None and normalized_code(before) == normalized_code(after)


def is_feedback(name: str) -> bool:
    return name in FEEDBACKS or (name.startswith(CRITIC_PREFIX) and len(name) > len(CRITIC_PREFIX))


def critiques(
    feedback: str,
    problems: Sequence[Problem],
    solutions: Sequence[Round],
    critic: Engine | None,
    sampling: SamplingParams,
) -> list[Completion]:
    """One critique of each solution under ``feedback`` (a critic engine writes all but execution
    feedback: the generator for ``hinted`` and ``self_critique``, the critic for ``critic:<name>``)."""
    if not is_feedback(feedback):
        raise ValueError(f"unknown feedback {feedback!r}: one of {', '.join(FEEDBACKS)} or critic:<name>")
    if feedback == EXECUTION_FEEDBACK:
        return [Completion(text=prompts.execution_feedback_message(r.result)) for r in solutions]
    if critic is None:
        raise ValueError(f"feedback {feedback!r} needs a critic engine")
    convs: list[Conversation] = []
    for problem, rnd in zip(problems, solutions):
        code = rnd.code if rnd.code is not None else rnd.response
        hint = prompts.execution_hint(rnd.result) if feedback == HINTED else None
        convs.append(prompts.critique_conversation(problem, code, hint=hint))
    rows = critic.generate(convs, sampling, n=1) if convs else []
    texts = [row[0] for row in rows]
    if feedback == HINTED:  # as 03 keeps it: cut after the first judgment line
        texts = [Completion(prompts.through_judgment(c.text), c.finish_reason) for c in texts]
    return texts


def revise(
    feedback: str,
    problems: Sequence[Problem],
    solutions: Sequence[tuple[int, Round]],
    generator: Engine,
    executor: Executor,
    *,
    critic: Engine | None = None,
    critique_sampling: SamplingParams,
    revision_sampling: SamplingParams,
    sampled_revisions: int = 0,
    sampled_temperature: float = 0.7,
    request: prompts.ParserRule = "workbook",
) -> list[Repair]:
    """Critique each solution once under ``feedback``, revise it greedily and ``sampled_revisions``
    times at ``sampled_temperature``, run every revision; one :class:`Repair` per revision.

    ``problems[i]`` is the problem of ``solutions[i] = (sample, round)``. Solutions whose own run
    met an infrastructure failure are recorded as excluded and not revised.
    """
    keep = [i for i, (_, rnd) in enumerate(solutions) if not rnd.result.is_infra_error]
    repairs = [
        Repair(problems[i].id, sample, feedback, draw, False, False, False, infra=True)
        for i, (sample, rnd) in enumerate(solutions)
        if rnd.result.is_infra_error
        for draw in range(1 + sampled_revisions)
    ]
    if not keep:
        return repairs
    kept_problems = [problems[i] for i in keep]
    kept = [solutions[i] for i in keep]
    written = critiques(feedback, kept_problems, [rnd for _, rnd in kept], critic, critique_sampling)
    return repairs + revise_under(
        feedback,
        kept_problems,
        kept,
        [c.text for c in written],
        generator,
        executor,
        revision_sampling=revision_sampling,
        draws=range(1 + sampled_revisions),
        sampled_temperature=sampled_temperature,
        request=request,
    )


def revise_under(
    feedback: str,
    problems: Sequence[Problem],
    solutions: Sequence[tuple[int, Round]],
    critique_texts: Sequence[str],
    generator: Engine,
    executor: Executor,
    *,
    revision_sampling: SamplingParams,
    draws: Iterable[int],
    sampled_temperature: float = 0.7,
    request: prompts.ParserRule = "workbook",
) -> list[Repair]:
    """Revise each solution under its given critique: draw 0 greedily (``revision_sampling``), draws
    ≥ 1 sampled at ``sampled_temperature`` (sample *i* of a request is seeded ``seed + i``, so draw
    *d* is the same whether or not the others are asked for); run every revision."""
    draws = sorted(set(draws))
    sampled = [d for d in draws if d > 0]
    convs = [
        prompts.revision_conversation(p, rnd.response, text, request=request)
        for p, (_, rnd), text in zip(problems, solutions, critique_texts)
    ]
    answers: list[dict[int, Completion]] = [{} for _ in convs]
    if convs and 0 in draws:
        for row, (greedy,) in zip(answers, generator.generate(convs, revision_sampling, n=1)):
            row[0] = greedy
    if convs and sampled:
        at_temperature = revision_sampling.with_(temperature=sampled_temperature)
        for row, more in zip(answers, generator.generate(convs, at_temperature, n=max(sampled))):
            row.update({d: more[d - 1] for d in sampled})
    flat = [(j, d) for j, row in enumerate(answers) for d in sorted(row)]
    rounds = execute(executor, [problems[j] for j, _ in flat], [answers[j][d] for j, d in flat])
    repairs = []
    for (j, draw), after in zip(flat, rounds):
        sample, before = solutions[j]
        if feedback == EXECUTION_FEEDBACK:
            judgment: str | None = "correct" if before.result.accepted else "incorrect"
        else:
            judgment = prompts.parse_judgment(critique_texts[j])
        repairs.append(
            Repair(
                problem_id=problems[j].id,
                sample=sample,
                feedback=feedback,
                draw=draw,
                passed_before=before.result.accepted,
                passed_after=after.result.accepted,
                same_code=same_code(before.code, after.code),
                judgment=judgment,
                infra=after.result.is_infra_error,
            )
        )
    return repairs


def from_trajectories(trajectories: Iterable[Trajectory]) -> list[Repair]:
    """The greedy repairs 07's methods made: round 0 → round 1 of every trajectory that was revised
    (zero-shot has none). The feedback is the method's name. ``+stop`` methods are left out: they
    revise only what their critic judged Incorrect, so their shares would be of a chosen subset."""
    repairs = []
    for t in revised(trajectories):
        before, after = t.rounds[0], t.rounds[1]
        repairs.append(
            Repair(
                problem_id=t.problem_id,
                sample=t.sample,
                feedback=t.method,
                draw=0,
                passed_before=before.result.accepted,
                passed_after=after.result.accepted,
                same_code=same_code(before.code, after.code),
                judgment=before.judgment,
                infra=before.result.is_infra_error or after.result.is_infra_error,
            )
        )
    return repairs


def revised(trajectories: Iterable[Trajectory]) -> list[Trajectory]:
    """The trajectories :func:`from_trajectories` reads: revised at least once, no ``+stop`` method."""
    return [t for t in trajectories if len(t.rounds) >= 2 and not t.method.endswith(STOP_SUFFIX)]


def sampled_from_trajectories(
    trajectories: Iterable[Trajectory],
    problems: Sequence[Problem],
    generator: Engine,
    executor: Executor,
    *,
    revision_sampling: SamplingParams,
    sampled_revisions: int,
    sampled_temperature: float = 0.7,
    request: prompts.ParserRule = "workbook",
) -> list[Repair]:
    """Draws 1…k beside the greedy revision each of 07's methods made: every revised round-0
    solution revised again, sampled, under the same critique (round 0's). No critique is written."""
    by_id = {p.id: p for p in problems}
    methods: dict[str, list[Trajectory]] = {}
    for t in revised(trajectories):
        if not t.rounds[0].result.is_infra_error:
            methods.setdefault(t.method, []).append(t)
    repairs: list[Repair] = []
    for method, group in methods.items():
        repairs += revise_under(
            method,
            [by_id[t.problem_id] for t in group],
            [(t.sample, t.rounds[0]) for t in group],
            [t.rounds[0].critique or "" for t in group],
            generator,
            executor,
            revision_sampling=revision_sampling,
            draws=range(1, sampled_revisions + 1),
            sampled_temperature=sampled_temperature,
            request=request,
        )
    return repairs


def repairability_table(repairs: Iterable[Repair], *, resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per feedback and revision kind (greedy, sampled): the fixed, broken and same-code shares with
    95% intervals; infrastructure failures are counted in ``excluded`` and nowhere else.

    The interval is the wider of the percentile bootstrap over problems (all of a problem's
    solutions and revisions move together, as they are correlated) and the Wilson interval of the
    count: at 0 of 37 every bootstrap replicate is 0, and the bootstrap's [0, 0] would claim a
    certainty 37 revisions cannot give (Wilson's upper bound there is 9.4%)."""
    groups: dict[tuple[str, str], list[Repair]] = {}
    for r in repairs:
        groups.setdefault((r.feedback, r.revision), []).append(r)
    rows = []
    for (feedback, revision), group in groups.items():
        counted = [r for r in group if not r.infra]
        ids = sorted({r.problem_id for r in counted})
        index = {pid: i for i, pid in enumerate(ids)}
        # per problem: fixed, broken, same | failing, passing, revisions
        counts = np.zeros((len(ids), 6))
        for r in counted:
            row = counts[index[r.problem_id]]
            row += [
                (not r.passed_before) and r.passed_after,
                r.passed_before and not r.passed_after,
                r.same_code,
                not r.passed_before,
                r.passed_before,
                1,
            ]
        lo, hi = bootstrap_ratio(counts[:, :3], counts[:, 3:], resamples=resamples, seed=seed)
        totals = counts.sum(axis=0)
        row: dict[str, Any] = {"feedback": feedback, "revision": revision}
        for k, (name, (count, of)) in enumerate(SHARES.items()):
            row[of], row[count] = int(totals[3 + k]), int(totals[k])
            row[f"{name} share"] = totals[k] / totals[3 + k] if totals[3 + k] else np.nan
            w_lo, w_hi = wilson_interval(int(totals[k]), int(totals[3 + k]))
            row[f"{name} lo"], row[f"{name} hi"] = np.fmin(lo[k], w_lo), np.fmax(hi[k], w_hi)
        row["excluded"] = len(group) - len(counted)
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def ceiling(table: pd.DataFrame, feedback: str = EXECUTION_FEEDBACK, revision: str = GREEDY) -> float:
    """The fixed share of ``feedback``'s ``revision`` rows (pooled when the table has a pooled
    row set): the share of failing solutions this generator repairs when told what failed."""
    rows = table[(table["feedback"] == feedback) & (table["revision"] == revision)]
    if "source" in rows and len(rows) > 1:
        rows = rows[rows["source"] == POOLED]
    if rows.empty:
        return float("nan")
    return float(rows["fixed share"].iloc[0])


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """One cell per share, ``count/of = percent [lo, hi]``: the table as the README and notes show it."""

    def cell(row: pd.Series, name: str) -> str:
        count, of = SHARES[name]
        if not row[of]:
            return "—"
        return (
            f"{row[count]}/{row[of]} = {100 * row[f'{name} share']:.1f}% "
            f"[{100 * row[f'{name} lo']:.1f}, {100 * row[f'{name} hi']:.1f}]"
        )

    keys = [c for c in ("source", "feedback", "revision") if c in table]
    out = table[keys].copy()
    for name in SHARES:
        out[name] = [cell(row, name) for _, row in table.iterrows()]
    out["excluded"] = table["excluded"]
    return out


CEILING = "Δ↑ ceiling"
"""The column 07's final table gives every method: the most any measured feedback repaired."""


def ceilings(table: pd.DataFrame) -> dict[str, float]:
    """Per benchmark (``source``; one entry, :data:`POOLED`, for a table without it): the largest
    share of *all* solutions that any feedback's greedy revision fixed — the oracles (execution
    feedback, the hinted critique), self-critique and every critic measured — in Δ↑'s own units,
    so a method's Δ↑ is read against it directly. The oracles are not always the best feedback a
    generator gets (the 0.5B coder fixed 2 of 37 failing solutions under self-critique and none
    under either oracle), so the ceiling takes every feedback, not the oracles alone. NaN where
    nothing was measured."""
    rows = table[table["revision"] == GREEDY]
    sources = rows["source"] if "source" in rows else pd.Series(POOLED, index=rows.index)
    out: dict[str, float] = {}
    for source, group in rows.groupby(sources, sort=False):
        counted = group["failing"] + group["passing"]
        shares = (group["fixed"] / counted.where(counted > 0)).dropna()
        out[str(source)] = float(shares.max()) if len(shares) else float("nan")
    return out


def with_ceiling(final: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``final`` (07's rows per benchmark and method) with the :data:`CEILING` of its benchmark on
    every row; an :data:`~criticlab.evaluation.metrics.AVERAGE` row gets the mean over benchmarks."""
    values = ceilings(table)
    benchmarks = [v for s, v in values.items() if s != POOLED]
    values.setdefault(AVERAGE, float(np.mean(benchmarks)) if benchmarks else float("nan"))
    out = final.copy()
    sources = out["source"] if "source" in out else pd.Series(POOLED, index=out.index)
    out[CEILING] = sources.map(values).astype(float)
    out.attrs.update(final.attrs)
    return out

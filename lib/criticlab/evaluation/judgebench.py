"""JudgeBench: the critics as generative reward models, on its real response pairs.

Each :class:`~criticlab.data.JudgePair` is a question, two responses and which one is better. Two
protocols run on the same pairs:

- **Pointwise, Maj@k** (the papers' JudgeBench number). The critic writes K critiques of each
  response (:func:`~criticlab.rollout.prompts.answer_critique_prompt`: the critique format of the
  code critic, for a question of any kind), each ending in ``Overall judgment: Correct`` or
  ``Incorrect`` (:func:`~criticlab.rollout.prompts.parse_judgment`). A pair is won when its better
  response collects more Correct votes than the other; the headline counts a tie as not correct
  (JudgeBench's rule; CTRL's 22.6% at 2 votes fits only it), ``accuracy (ties ½)`` counts it ½.
- **Pairwise, both orders.** The critic sees the two responses and names the better one
  (:func:`~criticlab.rollout.prompts.preference_prompt`), once in the pair's order (A, B) and once
  swapped (B, A), greedily, so the two answers differ only by the order. The headline accuracy is
  JudgeBench's (``utils/metrics.py``): +1 for a right pick, −1 for a wrong one, 0 for an unparsed
  one, and the pair is correct only when the sum is > 0, so an inconsistent pair scores 0. The
  average of the two orders stays as ``accuracy (order average)``; *position-swap consistency* is
  the share of pairs whose two picks name the same response.

Counting rules (each a choice, stated here once):

- **Unparsed judgments are no vote.** A critique without a judgment line (or an engine error,
  such as a prompt longer than the context) stays among the K critiques but never counts as
  Correct, as :func:`~criticlab.evaluation.metrics.pair_score` counts the own-sample pairs. The
  share of such critiques is reported (``unparsed``), so a critic that rarely finishes with a
  judgment shows up as such instead of hiding in the ties. An unparsed pick of the pairwise mode
  is neither correct nor consistent.
- **Maj@k for k < K is averaged over subsets**, the estimator of :mod:`criticlab.evaluation.majority`
  that 07's own-sample Maj@k table uses too: the exact average over every choice of k critiques of
  each response.
- **k runs over 1, 2, 4, …** and always ends at K (:func:`majority_ks`).
- **Intervals** (95%): percentile bootstrap over pairs for accuracies (a pair's score is a fraction;
  :func:`criticlab.stats.bootstrap_ratio`), Wilson for consistency (a count of pairs). Differences
  between critics use :func:`criticlab.stats.paired_bootstrap` over the pairs both judged.
- **Categories** follow the JudgeBench paper: MMLU-Pro (``mmlu-pro-*``) is *knowledge*,
  ``livebench-reasoning`` *reasoning*, ``livebench-math`` *math*, ``livecodebench`` *coding*.
  Every table has one row set per category and one over all pairs (``pooled``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from criticlab import stages
from criticlab.config import Profile
from criticlab.data import JudgePair, id_score, load_judgebench, read_pairs
from criticlab.evaluation.majority import (
    TIES_HALF,
    correct_votes,
    judgebench_pair_score,
    majority_ks,
    majority_score,
)
from criticlab.evaluation.metrics import DIFFERENCE_COLUMNS, POOLED
from criticlab.io import write_jsonl
from criticlab.llm import sampling_for
from criticlab.llm.base import Engine, SamplingParams
from criticlab.rollout import prompts
from criticlab.stats import bootstrap_ratio, paired_bootstrap, wilson_interval

CATEGORIES = ("knowledge", "reasoning", "math", "coding")
SOURCE = "judgebench"
"""The ``source`` of JudgeBench rows in the difference table."""
ORDER_AVERAGE = "accuracy (order average)"
"""The pairwise mode's secondary accuracy: the mean of the two orders' picks."""
MAJORITY_COLUMNS = (
    "critic",
    "category",
    "k",
    "accuracy",
    "lo",
    "hi",
    TIES_HALF,
    "ties",
    "unparsed",
    "errors",
    "pairs",
)
PREFERENCE_COLUMNS = (
    "critic",
    "category",
    "accuracy",
    "lo",
    "hi",
    ORDER_AVERAGE,
    "accuracy (A,B)",
    "accuracy (B,A)",
    "consistency",
    "consistency lo",
    "consistency hi",
    "unparsed",
    "pairs",
)
PAIRWISE = "JudgeBench pairwise"


def category_of(source: str) -> str:
    """JudgeBench's four categories from a pair's upstream ``source``; an unknown source is kept as is."""
    if source.startswith("mmlu-pro"):
        return "knowledge"
    if source == "livebench-reasoning":
        return "reasoning"
    if source == "livebench-math":
        return "math"
    if source.startswith("livecodebench"):
        return "coding"
    return source


# --------------------------------------------------------------------------------------------
# Which pairs
# --------------------------------------------------------------------------------------------


def load_pairs(profile: Profile) -> tuple[list[JudgePair], str]:
    """The JudgeBench pairs of a profile and where they came from.

    Notebook 01 writes ``data/judge_pairs.jsonl`` when the profile loads the ``judgebench`` source
    (its location, split, ``judgebench_category`` and cap); without it, the 350 GPT-4o pairs
    shipped with the package, filtered by ``data.judgebench_category`` like 01 would.
    """
    written = profile.paths.data_dir / stages.JUDGE_PAIRS
    if written.is_file():
        return read_pairs(written), str(written)
    result = load_judgebench(category_prefix=profile.data.judgebench_category)
    return result.records, f"{result.location} (shipped)"


def pair_chars(pair: JudgePair) -> int:
    """Characters of the question and both responses: what the pairwise prompt must hold."""
    return len(pair.question) + len(pair.response_a) + len(pair.response_b)


def select_pairs(
    pairs: Sequence[JudgePair], limit: int | None = None, max_chars: int | None = None, seed: int | str = 0
) -> tuple[list[JudgePair], int]:
    """At most ``limit`` pairs no longer than ``max_chars``, and how many were too long.

    Pairs are taken in turn from each category (in :data:`CATEGORIES` order, then any other),
    each category's in id-hash order, so a small ``limit`` still covers every category; the
    result keeps the input order.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"evaluation.judgebench_pairs must be >= 0 or null, got {limit}")
    fitting = [p for p in pairs if max_chars is None or pair_chars(p) <= max_chars]
    too_long = len(pairs) - len(fitting)
    if limit is None or limit >= len(fitting):
        return fitting, too_long
    queues: dict[str, list[JudgePair]] = {}
    for pair in sorted(fitting, key=lambda p: (id_score(p.id, f"judgebench-{seed}"), p.id)):
        queues.setdefault(category_of(pair.category), []).append(pair)
    order = [c for c in CATEGORIES if c in queues] + sorted(set(queues) - set(CATEGORIES))
    chosen: set[str] = set()
    while len(chosen) < limit:
        for category in order:
            if queues[category] and len(chosen) < limit:
                chosen.add(queues[category].pop(0).id)
    return [p for p in fitting if p.id in chosen], too_long


# --------------------------------------------------------------------------------------------
# Judging
# --------------------------------------------------------------------------------------------


@dataclass
class JudgeRecord:
    """One critic's judgments of one pair: K pointwise judgments per response, two pairwise picks."""

    critic: str
    pair_id: str
    category: str
    better: str
    """``"A"`` or ``"B"`` (:attr:`criticlab.data.JudgePair.better`)."""
    judgments_a: list[str | None] = field(default_factory=list)
    """Pointwise judgments of response A (``correct``/``incorrect``/None), in critique order."""
    judgments_b: list[str | None] = field(default_factory=list)
    pick_ab: int | None = None
    """The pairwise pick (1 or 2; None: unparsed) with A shown first."""
    pick_ba: int | None = None
    """The pairwise pick with B shown first (1 means B)."""
    errors: int = 0
    """Generations the engine failed (their judgments are None)."""

    @property
    def good(self) -> list[str | None]:
        """Judgments of the better response."""
        return self.judgments_a if self.better == "A" else self.judgments_b

    @property
    def bad(self) -> list[str | None]:
        return self.judgments_b if self.better == "A" else self.judgments_a

    def chosen(self) -> tuple[str | None, str | None]:
        """The response (``A``/``B``) picked in each order, None where the pick is unparsed."""
        first = {1: "A", 2: "B"}.get(self.pick_ab) if self.pick_ab else None
        second = {1: "B", 2: "A"}.get(self.pick_ba) if self.pick_ba else None
        return first, second

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> JudgeRecord:
        return cls(**row)


def judge_pairs(
    pairs: Sequence[JudgePair],
    critic: Engine,
    name: str,
    sampling: SamplingParams,
    critiques: int,
    *,
    chunk_size: int = 8,
    progress: Callable[[int], None] | None = None,
) -> list[JudgeRecord]:
    """``critiques`` pointwise critiques of each response and a greedy pick in each order, per pair.

    Pairs go ``chunk_size`` at a time: every pointwise critique of a chunk is one engine request
    (the engine batches the sequences), its pairwise judgments a second one, so a cached engine
    keeps what finished chunks generated if the run stops.
    """
    if critiques < 1:
        raise ValueError(f"evaluation.judgebench_critiques must be >= 1, got {critiques}")
    greedy = sampling.with_(temperature=0.0, top_p=1.0)
    records = []
    for start in range(0, len(pairs), chunk_size):
        chunk = pairs[start : start + chunk_size]
        pointwise = [
            prompts.answer_critique_conversation(p.question, response)
            for p in chunk
            for response in (p.response_a, p.response_b)
        ]
        shown = [
            prompts.preference_conversation(p.question, *order)
            for p in chunk
            for order in ((p.response_a, p.response_b), (p.response_b, p.response_a))
        ]
        written = critic.generate(pointwise, sampling, n=critiques)
        picked = critic.generate(shown, greedy, n=1)
        for i, pair in enumerate(chunk):
            rows = (written[2 * i], written[2 * i + 1], picked[2 * i], picked[2 * i + 1])
            records.append(
                JudgeRecord(
                    critic=name,
                    pair_id=pair.id,
                    category=category_of(pair.category),
                    better=pair.better,
                    judgments_a=[prompts.parse_judgment(c.text) if c.ok else None for c in rows[0]],
                    judgments_b=[prompts.parse_judgment(c.text) if c.ok else None for c in rows[1]],
                    pick_ab=prompts.parse_preference(rows[2][0].text) if rows[2][0].ok else None,
                    pick_ba=prompts.parse_preference(rows[3][0].text) if rows[3][0].ok else None,
                    errors=sum(not c.ok for row in rows for c in row),
                )
            )
        if progress:
            progress(len(chunk))
    return records


# --------------------------------------------------------------------------------------------
# Maj@k
# --------------------------------------------------------------------------------------------


def _scores(records: Sequence[JudgeRecord], ks: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Pairs × ks matrices of the chance the better response wins Maj@k (a tie is not a win) and of a tie."""
    win = np.zeros((len(records), len(ks)))
    tie = np.zeros_like(win)
    for i, r in enumerate(records):
        for j, k in enumerate(ks):
            win[i, j], tie[i, j] = majority_score(
                correct_votes(r.good), correct_votes(r.bad), len(r.good), k, len(r.bad)
            )
    return win, tie


def _groups(records: Sequence[JudgeRecord]) -> dict[tuple[str, str], list[JudgeRecord]]:
    """Records per (critic, category), categories in :data:`CATEGORIES` order, then ``pooled``."""
    out: dict[tuple[str, str], list[JudgeRecord]] = {}
    critics = list(dict.fromkeys(r.critic for r in records))
    for critic in critics:
        mine = [r for r in records if r.critic == critic]
        present = {r.category for r in mine}
        for category in [c for c in CATEGORIES if c in present] + sorted(present - set(CATEGORIES)):
            out[(critic, category)] = [r for r in mine if r.category == category]
        out[(critic, POOLED)] = mine
    return out


def majority_table(
    records: Sequence[JudgeRecord],
    ks: Sequence[int] | None = None,
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Maj@k accuracy per critic, category (and ``pooled``) and k, with a bootstrap interval over pairs.

    ``ks`` defaults to :func:`majority_ks` of the fewest critiques any response has. ``accuracy``
    (and its interval) counts a tie as not correct; ``accuracy (ties ½)`` counts it ½; ``ties`` is
    the expected share of tied pairs; ``unparsed`` the share of
    critiques without a judgment; ``errors`` the generations the engine failed (pointwise and
    pairwise, e.g. prompts longer than the context), whose judgments count as unparsed.
    """
    if not records:
        return pd.DataFrame(columns=MAJORITY_COLUMNS)
    available = min(min(len(r.good), len(r.bad)) for r in records)
    ks = list(ks) if ks is not None else majority_ks(available)
    rows = []
    for (critic, category), group in _groups(records).items():
        score, tie = _scores(group, ks)
        lo, hi = bootstrap_ratio(
            score, np.ones(len(group)), resamples=resamples, seed=seed, confidence=confidence
        )
        half = score + 0.5 * tie
        judgments = [j for r in group for j in (*r.judgments_a, *r.judgments_b)]
        unparsed = sum(j is None for j in judgments) / len(judgments) if judgments else math.nan
        for j, k in enumerate(ks):
            rows.append(
                dict(
                    zip(
                        MAJORITY_COLUMNS,
                        (
                            critic,
                            category,
                            k,
                            float(score[:, j].mean()),
                            float(lo[j]),
                            float(hi[j]),
                            float(half[:, j].mean()),
                            float(tie[:, j].mean()),
                            unparsed,
                            sum(r.errors for r in group),
                            len(group),
                        ),
                    )
                )
            )
    return pd.DataFrame(rows, columns=MAJORITY_COLUMNS)


# --------------------------------------------------------------------------------------------
# Pairwise mode
# --------------------------------------------------------------------------------------------


def preference_scores(record: JudgeRecord) -> tuple[float, float, bool]:
    """Whether each order's pick names the better response (1.0/0.0), and whether the two agree."""
    first, second = record.chosen()
    return (
        float(first == record.better),
        float(second == record.better),
        first is not None and first == second,
    )


def judgebench_score(record: JudgeRecord) -> float:
    """JudgeBench's score of the pair's two picks (:func:`~criticlab.evaluation.majority.judgebench_pair_score`):
    1.0 when right picks outnumber wrong ones, so an inconsistent pair scores 0."""
    return judgebench_pair_score(record.chosen(), record.better)


def preference_table(
    records: Sequence[JudgeRecord], *, resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> pd.DataFrame:
    """Pairwise accuracy per critic and category (and ``pooled``): JudgeBench's score (``accuracy``,
    with a bootstrap interval over pairs), the average of the two orders and each order, and
    position-swap consistency with a Wilson interval."""
    rows = []
    for (critic, category), group in _groups(records).items():
        scores = np.array([preference_scores(r) for r in group], dtype=float)
        headline = np.array([judgebench_score(r) for r in group])
        lo, hi = bootstrap_ratio(
            headline, np.ones(len(group)), resamples=resamples, seed=seed, confidence=confidence
        )
        consistent = int(scores[:, 2].sum())
        c_lo, c_hi = wilson_interval(consistent, len(group), confidence)
        unparsed = sum((r.pick_ab is None) + (r.pick_ba is None) for r in group) / (2 * len(group))
        rows.append(
            dict(
                zip(
                    PREFERENCE_COLUMNS,
                    (
                        critic,
                        category,
                        float(headline.mean()),
                        float(lo[0]),
                        float(hi[0]),
                        float(scores[:, :2].mean()),
                        float(scores[:, 0].mean()),
                        float(scores[:, 1].mean()),
                        consistent / len(group),
                        c_lo,
                        c_hi,
                        unparsed,
                        len(group),
                    ),
                )
            )
        )
    return pd.DataFrame(rows, columns=PREFERENCE_COLUMNS)


# --------------------------------------------------------------------------------------------
# Against a baseline critic
# --------------------------------------------------------------------------------------------


def majority_statistic(k: int) -> str:
    """The difference table's name of JudgeBench accuracy at Maj@k."""
    return f"JudgeBench Maj@{k}"


def judgebench_differences(
    records: Sequence[JudgeRecord],
    baseline: str,
    k: int | None = None,
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Every critic against ``baseline`` on the pairs both judged: the paired difference of Maj@k
    accuracy (a tie not correct; ``k`` defaults to the most critiques every response has) and of
    pairwise accuracy (JudgeBench's score),
    with a bootstrap interval over pairs (one draw serves both critics).

    Rows have the columns of :func:`criticlab.evaluation.difference_table` behind ``source`` =
    :data:`SOURCE`; ``problems`` counts pairs.
    """
    columns = ["source", *DIFFERENCE_COLUMNS]
    by_critic: dict[str, dict[str, JudgeRecord]] = {}
    for r in records:
        by_critic.setdefault(r.critic, {})[r.pair_id] = r
    if baseline not in by_critic:
        return pd.DataFrame(columns=columns)
    if k is None:
        k = min(min(len(r.good), len(r.bad)) for r in records)
    rows = []
    for critic, mine in by_critic.items():
        if critic == baseline:
            continue
        ids = sorted(set(mine) & set(by_critic[baseline]))
        ours = [mine[i] for i in ids]
        theirs = [by_critic[baseline][i] for i in ids]
        statistics = {
            majority_statistic(k): (_scores(ours, [k])[0][:, 0], _scores(theirs, [k])[0][:, 0]),
            PAIRWISE: tuple(np.array([judgebench_score(r) for r in side]) for side in (ours, theirs)),
        }
        for name, (a, b) in statistics.items():

            def statistic(index: np.ndarray, a: np.ndarray = a, b: np.ndarray = b) -> tuple[float, float]:
                return (
                    (float(a[index].mean()), float(b[index].mean())) if len(index) else (math.nan, math.nan)
                )

            d = paired_bootstrap(statistic, len(ids), resamples=resamples, seed=seed, confidence=confidence)
            rows.append(
                dict(
                    zip(
                        columns,
                        (
                            SOURCE,
                            critic,
                            baseline,
                            name,
                            d.a,
                            d.b,
                            d.difference,
                            d.lo,
                            d.hi,
                            d.excludes_zero,
                            len(ids),
                        ),
                    )
                )
            )
    return pd.DataFrame(rows, columns=columns)


def write_records(path: str | Path, records: Iterable[JudgeRecord]) -> Path:
    """Every critic's judgments, one line per (critic, pair): what the tables are computed from."""
    return write_jsonl(path, (r.to_dict() for r in records))


# --------------------------------------------------------------------------------------------
# 07's JudgeBench section, whole
# --------------------------------------------------------------------------------------------


@dataclass
class JudgeBenchRun:
    """What 07's JudgeBench section produced: the pairs judged, every critic's records, and the
    tables made from them (Maj@k, pairwise mode, and the difference rows against the baseline)."""

    pairs: list[JudgePair]
    origin: str
    """Where the pairs came from (:func:`load_pairs`)."""
    too_long: int
    """Pairs left out as longer than ``evaluation.judgebench_max_chars``."""
    max_chars: int | None
    critiques: int
    records: list[JudgeRecord]
    ks: list[int]
    majority: pd.DataFrame
    pairwise: pd.DataFrame
    differences: pd.DataFrame

    def summary(self) -> str:
        """One line: how many pairs, from where, and how many were too long."""
        left_out = (
            f" ({self.too_long} left out as longer than {self.max_chars} characters)" if self.too_long else ""
        )
        return f"JudgeBench: {len(self.pairs)} pairs from {self.origin}{left_out}"

    def pooled(self) -> pd.DataFrame:
        """The Maj@k rows over all pairs (category ``pooled``): the curve of the figure."""
        return self.majority[self.majority["category"] == POOLED]

    def at_most_critiques(self) -> pd.DataFrame:
        """The Maj@k rows at the largest k (every critique of a response)."""
        return self.majority[self.majority["k"] == self.ks[-1]]

    def extend(self, differences: pd.DataFrame) -> pd.DataFrame:
        """``differences`` with the JudgeBench rows added after it (unchanged when there are none)."""
        if not len(self.differences):
            return differences
        return pd.concat([differences, self.differences], ignore_index=True)


def run_judgebench(
    profile: Profile,
    critics: Mapping[str, Engine],
    path: str | Path,
    baseline: str,
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> JudgeBenchRun:
    """Judge the profile's JudgeBench pairs with every critic, save the records to ``path`` and
    make the tables.

    The pairs are :func:`load_pairs`' chosen by :func:`select_pairs` (``evaluation.judgebench_pairs``
    and ``judgebench_max_chars``, in the profile's seed order); each critic writes
    ``evaluation.judgebench_critiques`` critiques per response at the critique sampling; intervals
    use ``resamples`` bootstrap draws with ``seed``; differences are against ``baseline``.
    """
    from tqdm.auto import tqdm

    settings = profile.evaluation
    pairs, origin = load_pairs(profile)
    pairs, too_long = select_pairs(
        pairs, settings.judgebench_pairs, settings.judgebench_max_chars, profile.seed
    )
    records: list[JudgeRecord] = []
    for name, critic in critics.items():
        with tqdm(total=len(pairs), desc=f"JudgeBench {name}", disable=not profile.progress) as bar:
            records += judge_pairs(
                pairs,
                critic,
                name,
                sampling_for(profile, "critique"),
                settings.judgebench_critiques,
                progress=bar.update,
            )
    write_records(path, records)
    ks = majority_ks(settings.judgebench_critiques)
    bootstrap = {"resamples": resamples, "seed": seed}
    return JudgeBenchRun(
        pairs=list(pairs),
        origin=origin,
        too_long=too_long,
        max_chars=settings.judgebench_max_chars,
        critiques=settings.judgebench_critiques,
        records=records,
        ks=ks,
        majority=majority_table(records, ks, **bootstrap),
        pairwise=preference_table(records, **bootstrap),
        differences=judgebench_differences(records, baseline, settings.judgebench_critiques, **bootstrap),
    )

"""Notebook 01 in one call: load the profile's sources, filter, cap, split, decontaminate.

Order of operations (each step's counts end up in :meth:`PreparedData.metrics`):

1. load every source (evaluation side first, so TACO can be checked against CodeContests);
2. filter: every source loses problems without a usable test and exact duplicates; TACO-style
   sources (taco, apps) get the paper's full preprocessing (:mod:`criticlab.data.filters`), with
   the token window when they are used for training and the CodeContests exclusion when a
   CodeContests evaluation set is loaded;
3. cap each source (``max_problems`` / ``max_problems_per_source``) by id hash;
4. split ``sources`` entries by id hash; ``train_sources``/``eval_sources`` go whole to one side;
5. compare train with eval (exact + near duplicates) and, with ``drop_contaminated``, remove the
   training problems that match;
6. hold out ``validation_fraction`` of the training problems (by id hash, seeded with
   ``split_seed``) as the validation split: the problems settings are chosen on and the held-out
   prompts GRPO is measured on, never trained on.

A source entry may name a split (``mbpp:test``; see :mod:`criticlab.data.sources`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from criticlab.data.decontam import DecontamReport, decontamination_report
from criticlab.data.filters import FilterReport, preprocess
from criticlab.data.judgebench import JudgePair
from criticlab.data.livecodebench import parse_date, release_files
from criticlab.data.loading import LoadResult
from criticlab.data.sources import Role, get_source, load_sources, source_cap, source_name
from criticlab.data.splits import sample_by_id, split_by_id
from criticlab.data.stats import split_table
from criticlab.data.text import Tokenizer
from criticlab.data.types import PROBLEM_KINDS, Problem
from criticlab.stages import DataMetrics

if TYPE_CHECKING:
    from criticlab.config import DataSection


@dataclass
class PreparedData:
    """The result of :func:`prepare_data`: the two problem sets, judge pairs, and every report."""

    train: list[Problem]
    eval: list[Problem]
    validation: list[Problem] = field(default_factory=list)
    """Held out of ``train`` (``validation_fraction``) for choosing settings and held-out measurements."""
    judge_pairs: list[JudgePair] = field(default_factory=list)
    roles: dict[str, Role] = field(default_factory=dict)
    loads: dict[str, LoadResult] = field(default_factory=dict)
    filters: dict[str, FilterReport] = field(default_factory=dict)
    capped: dict[str, int] = field(default_factory=dict)
    """Problems removed by the per-source cap."""
    decontamination: DecontamReport | None = None
    removed_contaminated: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def table(self, tokenizer: Tokenizer | None = None) -> pd.DataFrame:
        """One row per problem with its split (see :func:`criticlab.data.stats.problem_table`)."""
        return split_table({"train": self.train, "validation": self.validation, "eval": self.eval}, tokenizer)

    def counts(self) -> dict[str, Any]:
        by_source: dict[str, dict[str, int]] = {}
        splits = (("train", self.train), ("validation", self.validation), ("eval", self.eval))
        for split, problems in splits:
            for source, n in Counter(p.source for p in problems).items():
                by_source.setdefault(source, {"train": 0, "validation": 0, "eval": 0})[split] = n
        if self.judge_pairs:
            by_source["judgebench"] = {"train": 0, "validation": 0, "eval": 0, "pairs": len(self.judge_pairs)}
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "eval": len(self.eval),
            "judge_pairs": len(self.judge_pairs),
            "by_source": dict(sorted(by_source.items())),
            "by_kind": {
                split: dict(sorted(Counter(p.kind for p in problems).items())) for split, problems in splits
            },
        }

    def metrics(self) -> dict[str, Any]:
        """Everything ``metrics.json`` records: counts, loads, filters, caps, decontamination."""
        return {
            "counts": self.counts(),
            "roles": dict(self.roles),
            "loads": {name: result.summary() for name, result in self.loads.items()},
            "filters": {name: report.to_dict() for name, report in self.filters.items()},
            "capped": dict(self.capped),
            "decontamination": self.decontamination.summary() if self.decontamination else None,
            "removed_contaminated": len(self.removed_contaminated),
            "removed_contaminated_ids": self.removed_contaminated[:50],
            "settings": self.settings,
        }

    def record(self, written: Mapping[str, str | os.PathLike], root: str | os.PathLike) -> DataMetrics:
        """01's metrics record: :meth:`metrics` and the files written, relative to the output
        ``root`` (so the record reads the same wherever the outputs are moved)."""
        return DataMetrics(
            **self.metrics(), written={k: str(Path(v).relative_to(root)) for k, v in written.items()}
        )


def _filter(
    name: str,
    role: Role,
    problems: list[Problem],
    cfg: DataSection,
    exclude: list[Problem],
    tokenizer: Tokenizer | None,
) -> tuple[list[Problem], FilterReport]:
    spec = get_source(name)
    if not spec.competitive:
        return preprocess(problems, drop_images=False, drop_html=False)
    training = role in ("train", "both")
    return preprocess(
        problems,
        kinds=cfg.taco_kinds,
        drop_images=cfg.taco_drop_images,
        drop_html=cfg.taco_drop_html,
        min_tokens=cfg.taco_min_tokens if training else None,
        max_tokens=cfg.taco_max_tokens if training else None,
        tokenizer=tokenizer,
        dedup=cfg.taco_dedup,
        exclude=exclude if cfg.taco_exclude_codecontests else None,
        ngram=cfg.decontam_ngram,
        threshold=cfg.near_duplicate_threshold,
    )


def check_settings(cfg: DataSection) -> None:
    """Value checks the profile's type checks cannot make; errors name the ``data.`` key."""
    problems = []
    if not 0.0 <= cfg.eval_fraction <= 1.0:
        problems.append(f"data.eval_fraction must be within [0, 1], got {cfg.eval_fraction}")
    if not 0.0 <= cfg.validation_fraction < 1.0:
        problems.append(f"data.validation_fraction must be within [0, 1), got {cfg.validation_fraction}")
    if not 0.0 < cfg.near_duplicate_threshold <= 1.0:
        problems.append(
            f"data.near_duplicate_threshold must be within (0, 1], got {cfg.near_duplicate_threshold}"
        )
    if cfg.decontam_ngram < 1:
        problems.append(f"data.decontam_ngram must be >= 1, got {cfg.decontam_ngram}")
    unknown_kinds = sorted(set(cfg.taco_kinds) - set(PROBLEM_KINDS))
    if unknown_kinds:
        problems.append(f"data.taco_kinds has unknown kind(s) {unknown_kinds}; use {list(PROBLEM_KINDS)}")
    for key in ("max_problems", "max_tests", "max_solutions", "taco_min_tokens", "taco_max_tokens"):
        value = getattr(cfg, key)
        if value is not None and value < 0:
            problems.append(f"data.{key} must be >= 0 or null, got {value}")
    for name, value in (cfg.max_problems_per_source or {}).items():
        if value < 0:
            problems.append(f"data.max_problems_per_source.{name} must be >= 0, got {value}")
    for key in ("livecodebench_start_date", "livecodebench_end_date"):
        value = getattr(cfg, key)
        if value is not None:
            try:
                parse_date(value)
            except ValueError:
                problems.append(f"data.{key} must be a YYYY-MM-DD date, got {value!r}")
    try:
        release_files(cfg.livecodebench_release)
    except ValueError as err:
        problems.append(f"data.livecodebench_release: {err}")
    if problems:
        raise ValueError("; ".join(problems))


def prepare_data(
    cfg: DataSection, *, tokenizer: Tokenizer | None = None, progress: bool = False
) -> PreparedData:
    """Run steps 1-5 above for a ``DataSection`` (``cfg.data`` of a profile).

    ``tokenizer`` replaces the proxy token count of the length window; ``progress`` shows a bar
    over the sources being loaded (a TACO-sized source takes a while).
    """
    check_settings(cfg)
    loaded = load_sources(cfg, progress=progress)
    prepared = PreparedData(
        train=[],
        eval=[],
        settings={
            "eval_fraction": cfg.eval_fraction,
            "validation_fraction": cfg.validation_fraction,
            "split_seed": cfg.split_seed,
            "max_problems": cfg.max_problems,
            "token_counter": "proxy (words + punctuation)"
            if tokenizer is None
            else cfg.taco_tokenizer or "custom tokenizer",
        },
    )
    exclude: list[Problem] = []
    for name, (role, result) in loaded.items():
        prepared.roles[name] = role
        prepared.loads[name] = result
        cap = source_cap(cfg, name)
        if get_source(name).records == "pairs":
            pairs = sample_by_id(result.records, cap, cfg.split_seed)
            prepared.capped[name] = len(result.records) - len(pairs)
            prepared.judge_pairs.extend(pairs)
            continue
        kept, report = _filter(name, role, result.records, cfg, exclude, tokenizer)
        prepared.filters[name] = report
        capped = sample_by_id(kept, cap, cfg.split_seed)
        prepared.capped[name] = len(kept) - len(capped)
        if role == "both":
            train, evaluation = split_by_id(capped, cfg.eval_fraction, cfg.split_seed)
        elif role == "train":
            train, evaluation = capped, []
        else:
            train, evaluation = [], capped
        prepared.train.extend(train)
        prepared.eval.extend(evaluation)
        if source_name(name) == "codecontests" and role == "eval":
            exclude.extend(evaluation)
    prepared.decontamination = decontamination_report(
        prepared.train, prepared.eval, ngram=cfg.decontam_ngram, threshold=cfg.near_duplicate_threshold
    )
    if cfg.drop_contaminated:
        dirty = prepared.decontamination.contaminated_train_ids()
        prepared.removed_contaminated = sorted(dirty)
        prepared.train = [p for p in prepared.train if p.id not in dirty]
    prepared.train, prepared.validation = split_by_id(
        prepared.train, cfg.validation_fraction, validation_seed(cfg.split_seed)
    )
    return prepared


def validation_seed(split_seed: int) -> str:
    """The id-hash seed of the validation split: derived from ``split_seed`` but distinct from the
    train/eval split's, so the two hold-outs are independent draws."""
    return f"validation-{split_seed}"


def write_outputs(
    prepared: PreparedData,
    train_path: Any,
    eval_path: Any,
    pairs_path: Any = None,
    validation_path: Any = None,
) -> dict[str, str]:
    """Write train/eval JSONL, the validation split (when ``validation_path`` is given; empty
    without ``validation_fraction``) and the judge pairs (when there are any); returns what was written."""
    from criticlab.data.storage import write_pairs, write_problems

    written = {
        "train": str(write_problems(train_path, prepared.train)),
        "eval": str(write_problems(eval_path, prepared.eval)),
    }
    if validation_path is not None:
        written["validation"] = str(write_problems(validation_path, prepared.validation))
    if prepared.judge_pairs and pairs_path is not None:
        written["judge_pairs"] = str(write_pairs(pairs_path, prepared.judge_pairs))
    return written

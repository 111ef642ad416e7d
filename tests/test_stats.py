"""The scoring helpers every stage shares: Pass@k per group, spread over seeds, round-robin orders."""

from __future__ import annotations

import math
import random

import pytest

from criticlab import crl, evaluation, stats


def test_mean_pass_at_k_averages_problems_with_enough_samples() -> None:
    per_problem = {"a": [True, False], "b": [False, False], "c": [True]}
    assert stats.mean_pass_at_k(per_problem, 1) == (pytest.approx((0.5 + 0.0 + 1.0) / 3), 3)
    assert stats.mean_pass_at_k(per_problem, 2) == (pytest.approx(0.5), 2)  # c has one sample: left out
    mean, problems = stats.mean_pass_at_k(per_problem, 3)
    assert math.isnan(mean) and problems == 0


def test_the_pooled_group_has_one_name() -> None:
    assert evaluation.POOLED is crl.POOLED is stats.POOLED


def test_over_seeds_skips_or_keeps_missing_values() -> None:
    spread = stats.over_seeds([0.1, 0.3, math.nan])
    assert (spread.min, spread.max, spread.seeds) == (0.1, 0.3, 2)
    assert spread.mean == pytest.approx(0.2) and spread.sd == pytest.approx(math.sqrt(0.02))
    strict = stats.over_seeds([0.1, 0.3, math.nan], skip_nan=False)
    assert math.isnan(strict.mean) and math.isnan(strict.sd) and strict.seeds == 3
    one = stats.over_seeds([0.4])
    assert one.mean == 0.4 and math.isnan(one.sd)
    assert math.isnan(stats.over_seeds([]).mean) and stats.over_seeds([]).seeds == 0


def test_interleave_takes_one_of_each_queue_in_turn() -> None:
    assert stats.interleave([[1, 2, 3], [], ["a"], ["x", "y"]]) == [1, "a", "x", 2, "y", 3]
    assert stats.interleave([[1, 2, 3], ["a"]], limit=3) == [1, "a", 2]
    assert stats.interleave([]) == []


def test_round_robin_spreads_every_prefix_over_the_groups() -> None:
    members = [("p", i) for i in range(3)] + [("q", i) for i in range(2)] + [("r", 0)]
    ordered = stats.round_robin(members, lambda m: m[0], random.Random(5))
    assert sorted(ordered) == sorted(members)
    assert {m[0] for m in ordered[:3]} == {"p", "q", "r"}  # the first round holds one of each group
    assert {m[0] for m in ordered[3:5]} == {"p", "q"} and ordered[5][0] == "p"
    assert ordered == stats.round_robin(members, lambda m: m[0], random.Random(5))  # seeded

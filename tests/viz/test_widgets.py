"""The trajectory browser: transitions, filters, the round view and the rendered page."""

from __future__ import annotations

import pytest
from scripted import ADD

from criticlab import stages
from criticlab.rollout.trajectory import Round, Trajectory
from criticlab.sandbox.types import ExecResult, Verdict
from criticlab.viz import widgets

GOOD = "def add(a, b):\n    return a + b\n"
BAD = "def add(a, b):\n    return a - b\n"


def rnd(code: str, critique: str | None = None, judgment: str | None = None) -> Round:
    ok = code == GOOD
    result = ExecResult(verdict=Verdict.ACCEPTED if ok else Verdict.WRONG_ANSWER, passed=int(ok), total=1)
    return Round(
        response=f"```python\n{code}```", code=code, result=result, critique=critique, judgment=judgment
    )


def talked_out_of_it() -> Trajectory:
    """A correct solution the critic wrongly calls incorrect; the revision breaks it, then a fix."""
    return Trajectory(
        "add",
        0,
        "self_critique",
        [
            rnd(GOOD, "Subtract instead.\nOverall judgment: Incorrect", "incorrect"),
            rnd(BAD, "Add instead.\nOverall judgment: Incorrect", "incorrect"),
            rnd(GOOD),
        ],
    )


def test_transitions_and_verdicts_per_round() -> None:
    t = talked_out_of_it()
    assert [widgets.transition(t, k) for k in range(4)] == [None, "c→i", "i→c", None]
    assert [widgets.critique_judgment(t, k) for k in range(4)] == [None, "incorrect", "incorrect", None]
    unparsed = Trajectory("add", 1, "x", [rnd(BAD, "no judgment here"), rnd(BAD)])
    assert widgets.critique_judgment(unparsed, 1) == "none"
    assert widgets.critique_judgment(Trajectory("add", 0, "zero_shot", [rnd(GOOD)]), 1) is None


def test_filters() -> None:
    t = talked_out_of_it()
    assert widgets.matches(t, 1, transition_="c→i", judgment="incorrect", method="self_critique")
    assert not widgets.matches(t, 2, transition_="c→i")
    assert not widgets.matches(t, 1, judgment="correct")
    assert not widgets.matches(t, 1, method="ctrl_grpo")
    assert widgets.matches(t, 0)  # "any" everywhere keeps all


def test_round_view_and_render() -> None:
    t = talked_out_of_it()
    view = widgets.round_view(t, 1, ADD)
    assert (view.solution, view.revision, view.transition) == (GOOD, BAD, "c→i")
    assert "Subtract instead" in view.critique and view.judgment == "incorrect"
    assert "-    return a + b" in view.diff and "+    return a - b" in view.diff
    assert view.prompt == ADD.question
    zero = widgets.round_view(t, 0)
    assert zero.revision == "" and zero.diff == "" and zero.critique == ""
    assert widgets.round_view(t, 9).round == 2  # clamped to the last round
    page = widgets.render(view)
    assert "correct→incorrect" in page and "&lt;" not in GOOD and "Subtract instead" in page
    assert widgets.code_diff(GOOD, GOOD) == ""
    assert "identical" in widgets.render(
        widgets.round_view(Trajectory("add", 0, "m", [rnd(GOOD, "fine", "correct"), rnd(GOOD)]), 1)
    )


def test_browser_widgets_follow_the_filters(tmp_path) -> None:
    pytest.importorskip("ipywidgets")
    from criticlab.io import write_jsonl

    other = Trajectory(
        "add", 1, "ctrl_grpo", [rnd(BAD, "Add.\nOverall judgment: Incorrect", "incorrect"), rnd(GOOD)]
    )
    write_jsonl(tmp_path / "self_critique.jsonl", [talked_out_of_it().to_dict()])
    write_jsonl(tmp_path / "ctrl_grpo.jsonl", [other.to_dict()])
    pool = Trajectory("add", 0, "pairwise_pool", [rnd(GOOD), rnd(BAD)])
    write_jsonl(tmp_path / stages.PAIRWISE_POOL, [pool.to_dict()])
    browser = widgets.TrajectoryBrowser.from_stage(tmp_path, [ADD])
    # the pairwise pool holds samples for Maj@k, not a critic's trajectories
    assert len(browser.trajectories) == 2 and browser.method.value == widgets.ANY
    assert "pairwise_pool" not in browser.method.options
    browser.transition.value = "i→c"
    assert [t.method for t in browser.selected()] == ["ctrl_grpo"]
    assert "ctrl_grpo" in browser.view.value and "incorrect→correct" in browser.view.value
    browser.round.value = 2
    assert [t.method for t in browser.selected()] == ["self_critique"]
    browser.method.value = "ctrl_grpo"
    assert browser.selected() == [] and "no trajectory" in browser.view.value

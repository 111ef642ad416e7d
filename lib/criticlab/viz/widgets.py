"""An interactive browser over trajectories: read what the critic said and what the generator did.

Pick a critic (method), a problem, a sample and a round; the browser shows the problem, the
solution with its execution result, the critique with its judgment, and the revision with its
result, side by side, and the diff from solution to revision. Filters keep only trajectories whose
critique judgment or whose correctness transition (``c→i``, correct→incorrect …) at the chosen round
matches, so the cases a paper discusses — a good solution talked into a bad one — are one click
away.

The selection logic (:func:`transition`, :func:`matches`, :func:`round_view`, :func:`code_diff`)
is plain Python and tested; :class:`TrajectoryBrowser` only lays it out with ipywidgets::

    from criticlab.viz.widgets import TrajectoryBrowser
    TrajectoryBrowser.from_stage(cfg.paths.stage_dir(stages.EVALUATION), problems)
"""

from __future__ import annotations

import difflib
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from criticlab.data.types import Problem
from criticlab.rollout.outcomes import TRANSITION_NAMES, TRANSITIONS, transition_of
from criticlab.rollout.trajectory import Round, Trajectory, load_stage_trajectories

ANY = "any"
JUDGMENTS = ("correct", "incorrect", "none")


def transition(trajectory: Trajectory, k: int) -> str | None:
    """How round ``k``'s revision changed correctness relative to the solution it revised
    (``c→i`` …, :data:`criticlab.rollout.outcomes.TRANSITIONS`); None for round 0 or a round the
    trajectory did not reach."""
    if k < 1 or k >= len(trajectory.rounds):
        return None
    return transition_of(trajectory.rounds[k - 1].correct, trajectory.rounds[k].correct)


def critique_judgment(trajectory: Trajectory, k: int) -> str | None:
    """The critic's judgment on the solution that round ``k`` revised (``none`` when unparseable);
    None when there is no critique (round 0, zero-shot, execution feedback)."""
    if k < 1 or k >= len(trajectory.rounds):
        return None
    judged = trajectory.rounds[k - 1]
    if judged.critique is None:
        return None
    return judged.judgment or "none"


def matches(
    trajectory: Trajectory, k: int, *, method: str = ANY, judgment: str = ANY, transition_: str = ANY
) -> bool:
    """Whether a trajectory passes the browser's filters at round ``k`` (``any`` keeps all)."""
    if method != ANY and trajectory.method != method:
        return False
    if judgment != ANY and critique_judgment(trajectory, k) != judgment:
        return False
    return not (transition_ != ANY and transition(trajectory, k) != transition_)


def code_diff(before: str | None, after: str | None, context: int = 3) -> str:
    """Unified diff of two solutions' code (empty when they are identical)."""
    a = (before or "").splitlines(keepends=True)
    b = (after or "").splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, "solution", "revision", n=context))


@dataclass
class RoundView:
    """Everything the browser shows for one (trajectory, round)."""

    problem_id: str
    method: str
    sample: int
    round: int
    prompt: str
    solution: str
    solution_result: str
    critique: str
    judgment: str | None
    revision: str
    revision_result: str
    transition: str | None
    diff: str


def _code_or_text(r: Round) -> str:
    return r.code if r.code is not None else r.response


def round_view(trajectory: Trajectory, k: int, problem: Problem | None = None) -> RoundView:
    """Round ``k`` of a trajectory: the solution it revised (round k-1), the critique of that
    solution, and the revision (round k). Round 0 shows the zero-shot solution alone."""
    rounds = trajectory.rounds
    k = max(0, min(k, len(rounds) - 1))
    before = rounds[max(k - 1, 0)]
    after = rounds[k] if k >= 1 else None
    return RoundView(
        problem_id=trajectory.problem_id,
        method=trajectory.method,
        sample=trajectory.sample,
        round=k,
        prompt=problem.question if problem is not None else "",
        solution=_code_or_text(before),
        solution_result=before.result.summary(),
        critique=(before.critique or "") if after is not None else "",
        judgment=critique_judgment(trajectory, k),
        revision=_code_or_text(after) if after is not None else "",
        revision_result=after.result.summary() if after is not None else "",
        transition=transition(trajectory, k),
        diff=code_diff(before.code, after.code) if after is not None else "",
    )


def _pre(text: str, title: str) -> str:
    return (
        f"<div style='flex:1;min-width:0'><b>{html.escape(title)}</b>"
        f"<pre style='white-space:pre-wrap;font-size:11px'>{html.escape(text)}</pre></div>"
    )


def _diff_html(diff: str) -> str:
    colors = {"+": "#e6ffec", "-": "#ffebe9", "@": "#ddf4ff"}
    lines = []
    for line in diff.splitlines():
        color = colors.get(line[:1], "transparent") if not line.startswith(("+++", "---")) else "transparent"
        lines.append(f"<span style='background:{color}'>{html.escape(line)}</span>")
    body = "\n".join(lines) if lines else "(the revision's code is identical)"
    return f"<b>diff solution → revision</b><pre style='font-size:11px'>{body}</pre>"


def render(view: RoundView) -> str:
    """The HTML of one round: header, three columns, diff."""
    head = (
        f"<h4>{html.escape(view.problem_id)} · {html.escape(view.method)} · sample {view.sample} · "
        f"round {view.round}"
        + (f" · {TRANSITION_NAMES[view.transition]}" if view.transition else "")
        + "</h4>"
    )
    problem = (
        f"<details><summary>problem</summary><pre>{html.escape(view.prompt)}</pre></details>"
        if view.prompt
        else ""
    )
    columns = [
        _pre(
            view.solution + "\n\n# " + view.solution_result,
            "solution" if view.round else "zero-shot solution",
        )
    ]
    if view.round:
        columns.append(_pre(view.critique, f"critique (judgment: {view.judgment})"))
        columns.append(_pre(view.revision + "\n\n# " + view.revision_result, "revision"))
    row = "<div style='display:flex;gap:8px'>" + "".join(columns) + "</div>"
    return head + problem + row + (_diff_html(view.diff) if view.round else "")


class TrajectoryBrowser:
    """ipywidgets browser: filters (critic, judgment, transition), then problem, sample and round."""

    def __init__(
        self, trajectories: Sequence[Trajectory], problems: Mapping[str, Problem] | Sequence[Problem] = ()
    ) -> None:
        import ipywidgets as w

        self.trajectories = list(trajectories)
        self.problems = dict(problems) if isinstance(problems, Mapping) else {p.id: p for p in problems}
        rounds = max((len(t.rounds) - 1 for t in self.trajectories), default=0)
        methods = sorted({t.method for t in self.trajectories})
        self.method = w.Dropdown(
            options=[ANY, *methods], value=methods[0] if len(methods) == 1 else ANY, description="critic"
        )
        self.judgment = w.Dropdown(options=[ANY, *JUDGMENTS], description="judgment")
        self.transition = w.Dropdown(
            options=[(ANY, ANY), *((TRANSITION_NAMES[t], t) for t in TRANSITIONS)], description="transition"
        )
        self.round = w.IntSlider(min=0, max=rounds, value=min(1, rounds), description="round")
        self.item = w.Dropdown(options=[], description="trajectory", layout=w.Layout(width="420px"))
        self.count = w.HTML()
        self.view = w.HTML()
        for control in (self.method, self.judgment, self.transition, self.round):
            control.observe(self._refilter, names="value")
        self.item.observe(self._show, names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.method, self.judgment, self.transition]),
                w.HBox([self.round, self.item, self.count]),
                self.view,
            ]
        )
        self._refilter()

    @classmethod
    def from_stage(
        cls, stage_dir: str | Path, problems: Mapping[str, Problem] | Sequence[Problem] = ()
    ) -> TrajectoryBrowser:
        """Every method's trajectories in an evaluation stage directory (the pairwise pool is not a critic)."""
        return cls([t for t in load_stage_trajectories(stage_dir) if t.rounds], problems)

    def selected(self) -> list[Trajectory]:
        """The trajectories that pass the filters at the chosen round."""
        k = self.round.value
        return [
            t
            for t in self.trajectories
            if matches(
                t,
                k,
                method=self.method.value,
                judgment=self.judgment.value,
                transition_=self.transition.value,
            )
        ]

    def _refilter(self, *_: Any) -> None:
        chosen = self.selected()
        self.count.value = f"{len(chosen)} of {len(self.trajectories)}"
        options = [(f"{t.problem_id} · s{t.sample} · {t.method}", i) for i, t in enumerate(chosen)]
        self._chosen = chosen
        self.item.options = options
        self.item.value = 0 if options else None
        self._show()

    def _show(self, *_: Any) -> None:
        if self.item.value is None or not self._chosen:
            self.view.value = "<i>no trajectory matches these filters</i>"
            return
        t = self._chosen[self.item.value]
        self.view.value = render(round_view(t, self.round.value, self.problems.get(t.problem_id)))

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

"""Critics side by side on the held-out prompts, beside always-Correct: the evidence of a choice.

``python -m criticlab.tools.critic_choice`` (which model to train as the critic) and
``python -m criticlab.tools.grpo_settings`` (which GRPO setting to train) both score candidates
with :func:`score_candidates` and print :func:`choice_table`, so the two choices read the same
numbers the same way, and neither tool imports the other.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from criticlab import stages
from criticlab.ctrl.datasets import grpo_rows
from criticlab.ctrl.grpo import heldout_score
from criticlab.ctrl.heldout import heldout_sampling
from criticlab.io import read_jsonl
from criticlab.llm import engine_for
from criticlab.rollout.outcomes import ALWAYS_CORRECT
from criticlab.sandbox import make_executor

if TYPE_CHECKING:
    from criticlab.config import GRPOSection, Profile


def always_correct(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The base rate: every solution judged Correct (its accuracy is the passing share)."""
    passing = sum(bool(r["passed"]) for r in rows)
    return {
        "candidate": ALWAYS_CORRECT,
        "prompts": len(rows),
        "accuracy": passing / len(rows),
        "accuracy_correct": 1.0 if passing else float("nan"),
        "accuracy_incorrect": 0.0 if passing < len(rows) else float("nan"),
        "unparsed": 0.0,
    }


def score_candidates(
    profile: Profile,
    candidates: Sequence[str],
    critiques: int,
    log_dir: Path,
    grpo: Sequence[GRPOSection] | None = None,
) -> list[dict[str, Any]]:
    """Always-Correct, then each candidate's :class:`~criticlab.stages.HeldoutScore` on the profile's
    held-out prompts (03's ``rl_heldout.jsonl``, first ``grpo.heldout_prompts``), as rows.

    ``grpo`` gives each candidate the GRPO section it is sampled with (:func:`heldout_sampling`:
    temperature, completion length; and its judgment gate), e.g. each trained setting its own;
    default the profile's for all. Each row records the ``max_tokens`` its critiques were allowed
    and the seconds its scoring took."""
    path = profile.paths.stage_dir(stages.SYNTHESIS) / stages.RL_HELDOUT
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no held-out prompts; run notebook 03 for profile {profile.name} first"
        )
    rows = read_jsonl(path)[: profile.grpo.heldout_prompts]
    if not rows:
        raise ValueError(f"{path} holds no prompt")
    prompts = grpo_rows(rows, str(path))
    sections = list(grpo) if grpo is not None else [profile.grpo] * len(candidates)
    if len(sections) != len(candidates):
        raise ValueError(f"{len(sections)} GRPO sections for {len(candidates)} candidates")
    out = [always_correct(rows)]
    with make_executor(profile.sandbox) as executor:
        generator = engine_for(profile, "generator")
        for i, (candidate, section) in enumerate(zip(candidates, sections)):
            started = time.perf_counter()
            score = heldout_score(
                profile,
                candidate,
                prompts,
                generator,
                executor,
                log_dir / f"candidate_{i}.jsonl",
                grpo=section,
                critiques=critiques,
            )
            assert score is not None  # rows is not empty
            out.append(
                {
                    "candidate": candidate,
                    **dataclasses.asdict(score),
                    "max_tokens": heldout_sampling(section, profile.seed).max_tokens,
                    "seconds": time.perf_counter() - started,
                }
            )
            print(
                f"{candidate}: accuracy {score.accuracy:.3f} [{score.accuracy_lo:.3f}, {score.accuracy_hi:.3f}], "
                f"reward {score.reward:.3f}, no judgment {score.unparsed:.3f}",
                flush=True,
            )
    return out


def outputs_name(profile: Profile, reference: str) -> str:
    """A reference inside the profile's outputs as those name it (``checkpoints/sft/final``), so a
    saved table carries no path of the machine it ran on; any other reference unchanged."""
    path = Path(reference)
    return str(path.relative_to(profile.paths.root)) if path.is_relative_to(profile.paths.root) else reference


CHOICE_COLUMNS = (
    "prompts",
    "critiques",
    "max_tokens",
    "accuracy",
    "accuracy_correct",
    "accuracy_incorrect",
    "reward",
    "unparsed",
    "seconds",
    "sft_seconds",
)
"""The columns of :func:`choice_table`, after the candidate."""


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return ""
    if f"{key}_lo" in row:
        return f"{value:.3f} [{row[f'{key}_lo']:.3f}, {row[f'{key}_hi']:.3f}]"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def choice_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows of :func:`score_candidates` as a Markdown table, intervals beside their values."""
    lines = ["| candidate | " + " | ".join(CHOICE_COLUMNS) + " |", "|---" * (len(CHOICE_COLUMNS) + 1) + "|"]
    lines += [
        f"| {row['candidate']} | " + " | ".join(_cell(row, k) for k in CHOICE_COLUMNS) + " |" for row in rows
    ]
    return "\n".join(lines)

"""Choose GRPO's settings on the validation prompts, never on the curve or the table that is reported.

Each setting of a small grid (``--grid grpo.learning_rate=1e-5,5e-5 grpo.max_steps=8,16``: every
combination) trains the critic as notebook 05 trains its first seed — from notebook 04's SFT
checkpoint (the base critic without one), on notebook 03's GRPO prompts, with the profile's seed —
into ``checkpoints/grpo_settings/<setting>/``. Then the starting critic and every trained one are
scored on the held-out prompts beside always-Correct (:func:`criticlab.ctrl.score_candidates`:
zero-shot solutions to the *validation* problems, which nothing trains on, sampled as 05 samples),
and the setting with the highest held-out verdict accuracy (``--by reward``: CTRL reward) is the
pick, ties to the earlier setting in the grid. Write the pick into the profile and run 05 and 07:
the evaluation problems took no part in the choice. 05's own held-out numbers for the chosen
setting are then no longer unbiased (the same prompts chose it); 07's are.

    python -m criticlab.tools.grpo_settings --profile cpu \\
        --grid grpo.learning_rate=1e-5,5e-5 grpo.max_steps=8,16 --out outputs/cpu/grpo-settings

A trained setting is kept and not trained again when the tool runs again (delete its directory to
retrain). The held-out prompts are few on a CPU profile (8–16): read the intervals before the pick.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from criticlab import config, ctrl, records, stages
from criticlab.io import read_jsonl, write_json, write_text
from criticlab.llm import engine_for, vllm_server
from criticlab.sandbox import make_executor

SETTINGS_DIR = "grpo_settings"
CRITERIA = ("accuracy", "reward")


def parse_grid(items: Sequence[str]) -> list[dict[str, Any]]:
    """``["grpo.learning_rate=1e-5,5e-5", "grpo.max_steps=8"]`` → every combination as ``{key: value}``
    (keys of the ``grpo`` section; values parsed as YAML scalars, so ``1e-5`` is a number)."""
    axes: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        section, _, name = key.strip().partition(".")
        if not sep or section != "grpo" or not name or not values.strip():
            raise ValueError(f"--grid {item!r}: expected grpo.<key>=<value>[,<value>...]")
        if name in axes:
            raise ValueError(f"--grid {item!r}: grpo.{name} is given twice")
        axes[name] = [records.parse_scalar(v) for v in values.split(",")]
    return [dict(zip(axes, combination)) for combination in itertools.product(*axes.values())]


def setting_name(setting: dict[str, Any]) -> str:
    """A directory name for a setting, e.g. ``learning_rate=1e-05_max_steps=16``."""
    return "_".join(f"{key}={value}" for key, value in setting.items()) or "profile"


def setting_profile(profile_ref: str, setting: dict[str, Any]) -> config.Profile:
    """The profile with one setting of the grid over its ``grpo`` section."""
    return config.load_profile(profile_ref, overrides={"grpo": dict(setting)})


def train_settings(profile_ref: str, settings: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], Path]]:
    """Train the critic once per setting (as 05's first seed) and return each setting's final checkpoint."""
    base = config.load_profile(profile_ref)
    synthesis = base.paths.stage_dir(stages.SYNTHESIS)
    rl_path = synthesis / stages.RL_ROWS
    if not rl_path.is_file():
        raise FileNotFoundError(f"{rl_path}: no GRPO prompts; run notebook 03 for profile {base.name} first")
    rows = ctrl.grpo_rows(read_jsonl(rl_path), str(rl_path))
    start = ctrl.grpo_start(base)
    trained = []
    with vllm_server.if_served(base), make_executor(base.sandbox) as executor:
        generator = engine_for(base, "generator")
        for setting in settings:
            profile = setting_profile(profile_ref, setting)
            out = base.paths.checkpoints_dir / SETTINGS_DIR / setting_name(setting)
            if not (out / stages.FINAL).is_dir():
                print(f"training {setting_name(setting)} from {start}", flush=True)
                reward = ctrl.reward_for(profile, generator, executor, out / stages.REWARDS)
                ctrl.train_critic(profile, start, rows, reward, out)
            trained.append((setting, out / stages.FINAL))
    return trained


def pick(rows: Sequence[dict[str, Any]], by: str = "accuracy") -> dict[str, Any] | None:
    """The trained setting's row with the best held-out ``by`` (then the other criterion); None if none
    scored. Rows without a ``setting`` (the start, always-Correct) are context, not candidates."""
    if by not in CRITERIA:
        raise ValueError(f"by must be one of {CRITERIA}, got {by!r}")
    other = CRITERIA[1 - CRITERIA.index(by)]

    def key(row: dict[str, Any]) -> tuple[float, float]:
        return tuple(-math.inf if math.isnan(row.get(k, math.nan)) else row[k] for k in (by, other))

    candidates = [
        row for row in rows if row.get("setting") is not None and not math.isnan(row.get(by, math.nan))
    ]
    return max(candidates, key=key) if candidates else None  # max keeps the first of equal keys


def choose(
    profile_ref: str,
    settings: Sequence[dict[str, Any]],
    critiques: int,
    by: str = "accuracy",
    heldout: int | None = None,
) -> dict[str, Any]:
    """Train every setting, score them with the start and always-Correct, and pick one (see the module).
    ``heldout``: how many of 03's held-out prompts to score on (default: the profile's ``grpo.heldout_prompts``)."""
    trained = train_settings(profile_ref, settings)
    profile = config.load_profile(profile_ref, overrides={"grpo": {"heldout_prompts": heldout}})
    sections = [setting_profile(profile_ref, setting).grpo for setting, _ in trained]
    rows = ctrl.score_candidates(
        profile,
        [ctrl.grpo_start(profile), *(str(path) for _, path in trained)],
        critiques,
        profile.paths.checkpoints_dir / SETTINGS_DIR / "scores",
        grpo=[profile.grpo, *sections],
    )  # each setting sampled as it trained
    for row, (setting, _) in zip(rows[2:], trained):  # rows: always-Correct, the start, then each setting
        row["setting"] = setting_name(setting)
        row["candidate"] = row["setting"]
    rows[1]["candidate"] = f"start ({ctrl.outputs_name(profile, rows[1]['candidate'])})"
    chosen = pick(rows, by)
    return {
        "profile": profile.name,
        "by": by,
        "critiques": critiques,
        "heldout_prompts": profile.grpo.heldout_prompts,
        "rows": rows,
        "pick": None if chosen is None else chosen["setting"],
        "settings": {setting_name(s): s for s, _ in trained},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m criticlab.tools.grpo_settings", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--profile", default=None, help="profile name or YAML path (notebooks 03 and 04 must have run)"
    )
    parser.add_argument(
        "--grid", nargs="+", required=True, help="grpo.<key>=<v1>,<v2>... (every combination)"
    )
    parser.add_argument("--critiques", type=int, default=2, help="critiques per held-out prompt (default 2)")
    parser.add_argument(
        "--heldout",
        type=int,
        default=None,
        help="held-out prompts to score on (default: the profile's grpo.heldout_prompts)",
    )
    parser.add_argument(
        "--by", choices=CRITERIA, default="accuracy", help="what the pick maximises (default accuracy)"
    )
    parser.add_argument("--out", type=Path, default=None, help="write table.md and scores.json here")
    args = parser.parse_args(argv)
    try:
        settings = parse_grid(args.grid)
    except ValueError as err:
        parser.error(str(err))
    result = choose(args.profile, settings, args.critiques, args.by, args.heldout)
    text = ctrl.choice_table(result["rows"]) + f"\n\nPick (held-out {args.by}): {result['pick']}"
    print(text)
    if args.out:
        write_text(args.out / "table.md", text + "\n")
        write_json(args.out / "scores.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

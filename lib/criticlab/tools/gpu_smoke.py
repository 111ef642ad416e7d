"""The GPU smoke run: every GPU component once, on one CUDA card, with a small local model.

    make gpu-smoke MODEL=/path/to/Qwen2.5-0.5B-Instruct
    python -m criticlab.tools.gpu_smoke --model /path/to/Qwen2.5-0.5B-Instruct

It writes a profile extending ``params/gpu-smoke.yaml`` with that model (a local directory: no
hub at run time), runs notebooks 01 → 07 (01 and 02 prepare the data 03 → 07 use), then prints
one PASS/FAIL line per component (:data:`COMPONENTS`), read from what the run wrote, and a last
line ``gpu-smoke: N passed, M failed``. On a machine without a CUDA card, without the gpu extra,
or without the model directory it stops at once with one sentence saying so (exit code 2).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the rest of the project is imported after the preflight, which needs none of it
    from criticlab import config

COMPONENTS = (
    "memory plan",
    "vLLM generation",
    "SFT with LoRA",
    "unsloth",
    "GRPO with vLLM rollouts",
    "trained critic through vLLM",
    "verl export",
)
NOTEBOOKS = ["01", "02", "03", "04", "05", "06", "07"]


@dataclass
class Check:
    component: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.component}: {self.detail}"


def preflight(cuda: bool | None, model: str | None, importable: Callable[[str], bool]) -> str | None:
    """The one sentence that stops the run before anything starts, or None when it can run.
    ``cuda``: whether torch sees a CUDA device (None: torch itself is missing)."""
    if cuda is None:
        return "make gpu-smoke needs the project's GPU environment and this Python has no torch: run `make setup-gpu` first."
    if not cuda:
        return (
            "make gpu-smoke needs a CUDA GPU and this machine has none (torch sees no CUDA device); "
            "run it on a GPU machine after `make setup-gpu`."
        )
    missing = [name for name in ("vllm", "unsloth") if not importable(name)]
    if missing:
        return (
            f"make gpu-smoke needs the gpu extra ({', '.join(missing)} not installed in {sys.prefix}): "
            "run `make setup-gpu` first (it installs into .venv-gpu)."
        )
    if not model:
        return "make gpu-smoke needs a local model directory: make gpu-smoke MODEL=/path/to/Qwen2.5-0.5B-Instruct"
    if not (Path(model) / "config.json").is_file():
        return f"MODEL={model} is not a model directory (it has no config.json); put a small model there first (no hub at run time)."
    return None


def write_profile(model: str, directory: Path) -> Path:
    """A profile ``gpu-smoke.yaml`` in ``directory`` that extends the shipped one with ``model``."""
    from criticlab import config

    base = config.project_root() / "params" / "gpu-smoke.yaml"
    path = directory / "gpu-smoke.yaml"
    directory.mkdir(parents=True, exist_ok=True)
    model = str(Path(model).resolve())
    path.write_text(
        f"extends: {base}\nmodels:\n  generator: {model}\n  critic: {model}\ngpu:\n  weights_gb: {{}}\n",
        encoding="utf-8",
    )
    return path


def _policy(root: Path, checkpoints: str) -> dict:
    from criticlab import stages
    from criticlab.io import read_json
    from criticlab.training.trainers import POLICY_FILE

    path = root / stages.CHECKPOINTS_DIR / checkpoints / POLICY_FILE
    return read_json(path) if path.is_file() else {}


def check_outputs(profile: config.Profile, root: Path, card_gb: float | None) -> list[Check]:
    """One check per component, from what the run wrote under ``root`` (outputs/<profile>)."""
    from criticlab import stages
    from criticlab.llm.adapters import read_adapter

    checks = []
    declared = profile.gpu.memory_gb
    plan_ok = card_gb is not None and declared is not None and card_gb >= declared
    card = "unknown" if card_gb is None else f"{card_gb:.1f}"
    checks.append(Check("memory plan", plan_ok, f"profile plans for {declared} GiB, the card has {card} GiB"))
    synthesis = stages.read_metrics(root, stages.SYNTHESIS)
    critiques = getattr(synthesis, "critiques", 0)
    checks.append(
        Check(
            "vLLM generation",
            profile.models.engine == "vllm" and critiques > 0,
            f"engine {profile.models.engine}, {critiques} critiques written in 03",
        )
    )
    sft = stages.read_metrics(root, stages.SFT)
    sft_run = getattr(sft, "run", None)
    adapter = read_adapter(sft_run.checkpoint) if sft_run and sft_run.checkpoint else None
    checks.append(
        Check(
            "SFT with LoRA",
            bool(sft_run and sft_run.trained and sft_run.steps > 0 and adapter),
            f"{getattr(sft_run, 'steps', 0)} steps, adapter {'saved' if adapter else 'missing'}",
        )
    )
    loaders = [
        _policy(root, stages.SFT_CHECKPOINTS).get("loader"),
        _policy(root, stages.GRPO_CHECKPOINTS).get("loader"),
    ]
    checks.append(Check("unsloth", loaders == ["unsloth", "unsloth"], f"04 and 05 loaded with {loaders}"))
    grpo = stages.read_metrics(root, stages.GRPO)
    grpo_run = getattr(grpo, "run", None)
    rollouts = _policy(root, stages.GRPO_CHECKPOINTS).get("rollouts")
    checks.append(
        Check(
            "GRPO with vLLM rollouts",
            bool(grpo_run and grpo_run.trained and grpo_run.steps > 0) and rollouts == "vllm",
            f"{getattr(grpo_run, 'steps', 0)} steps, rollouts by {rollouts}",
        )
    )
    evaluation = stages.read_metrics(root, stages.EVALUATION)
    methods = list(getattr(evaluation, "methods", []))
    skipped = dict(getattr(evaluation, "skipped", {}))
    trained = [m for m in ("ctrl_sft", "ctrl_grpo") if m in methods and m not in skipped]
    checks.append(
        Check(
            "trained critic through vLLM",
            trained == ["ctrl_sft", "ctrl_grpo"],
            f"07 evaluated {trained or 'no trained critic'}" + (f"; skipped {skipped}" if skipped else ""),
        )
    )
    parquet = root / stages.GRPO / stages.VERL_TRAIN
    columns: list[str] = []
    if parquet.is_file():
        import pandas as pd

        columns = list(pd.read_parquet(parquet).columns)
    expected = ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    checks.append(Check("verl export", columns == expected, f"{parquet.name} columns {columns or 'missing'}"))
    return checks


def _cuda() -> tuple[bool | None, float | None]:
    try:
        import torch
    except ImportError:
        return None, None
    except Exception:  # a torch whose CUDA libraries are broken: no usable device
        return False, None
    if not torch.cuda.is_available():
        return False, None
    return True, torch.cuda.get_device_properties(0).total_memory / 2**30


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m criticlab.tools.gpu_smoke", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", default="", help="a local model directory (e.g. Qwen2.5-0.5B-Instruct)")
    args = parser.parse_args(argv)
    cuda, card_gb = _cuda()
    problem = preflight(cuda, args.model, lambda name: importlib.util.find_spec(name) is not None)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from criticlab import config
    from criticlab.tools.run import RunError, run_profile

    try:
        path = write_profile(args.model, config.outputs_root())
        profile = config.load_profile(path)
    except config.ConfigError as err:
        print(f"gpu-smoke: {err}", file=sys.stderr)
        return 2
    try:
        run_profile(str(path), NOTEBOOKS, False, False)
    except RunError as err:  # the checks below say which components did not get there
        print(f"gpu-smoke: the run stopped: {err}", file=sys.stderr)
    checks = check_outputs(profile, profile.paths.root, card_gb)
    for check in checks:
        print(check.line())
    passed = sum(c.ok for c in checks)
    print(f"gpu-smoke: {passed} passed, {len(checks) - passed} failed")
    return 0 if passed == len(checks) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The GPU smoke run: every GPU component once, on one CUDA card, with a small local model.

    make gpu-smoke MODEL=/path/to/Qwen2.5-0.5B-Instruct
    python -m criticlab.tools.gpu_smoke --model /path/to/Qwen2.5-0.5B-Instruct

It writes a profile extending ``params/gpu-smoke.yaml`` with that model (a local directory: no
hub at run time), runs notebooks 01 → 07 (01 and 02 prepare the data 03 → 07 use), then prints
one PASS/FAIL line per component (:data:`COMPONENTS`), read from what the run wrote, and a last
line ``gpu-smoke: N passed, M failed``. On a machine without a CUDA card, without the gpu extra,
or without the model directory it stops at once with one sentence saying so (exit code 2). When
torch sees no card, that sentence names the NVIDIA driver's version and the CUDA release torch was
built for: PyPI's torch 2.13.0 is a CUDA 13.0 build that needs an R580 or newer driver, and an
older driver looks to torch exactly like a machine without a card.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
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
NO_DRIVER = "no nvidia driver found"
DRIVER_FOR_CUDA = {12: 525, 13: 580}
"""The oldest NVIDIA Linux driver branch that runs each CUDA major release (CUDA 12.x: R525,
CUDA 13.x: R580), for the hint when torch sees no card."""
GIB = 2**30
MEMORY_TOLERANCE = 0.05
"""How far below its declared size a card may report and still be that card: cards are sold in
decimal GB (a "16 GB" card holds 16 × 10⁹ bytes = 14.9 GiB) and the driver keeps a little of it
(a 16 GB T4 reports about 14.7 GiB to torch, an 80 GB A100 about 79.2 GiB)."""


@dataclass
class Check:
    component: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.component}: {self.detail}"


def preflight(
    cuda: bool | None, model: str | None, importable: Callable[[str], bool], diagnosis: str = ""
) -> str | None:
    """The one sentence that stops the run before anything starts, or None when it can run.
    ``cuda``: whether torch sees a CUDA device (None: torch itself is missing); ``diagnosis``: the
    driver and torch's CUDA build (:func:`cuda_diagnosis`), said when torch sees no device."""
    if cuda is None:
        return "make gpu-smoke needs the project's GPU environment and this Python has no torch: run `make setup-gpu` first."
    if not cuda:
        return (
            "make gpu-smoke needs a CUDA GPU and torch sees no CUDA device"
            + (f" ({diagnosis})" if diagnosis else "")
            + "; run it on a GPU machine after `make setup-gpu`."
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


def driver_version() -> str:
    """The NVIDIA driver's version as ``nvidia-smi`` reports it; what nvidia-smi said when it could
    not ask the driver (installed but not loaded, or a mismatch); :data:`NO_DRIVER` without it."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return NO_DRIVER
    try:
        out = subprocess.run(
            [exe, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"nvidia-smi failed ({err})"
    lines = out.stdout.strip().splitlines()
    if out.returncode == 0 and lines:
        return lines[0].strip()
    said = (out.stderr.strip() or out.stdout.strip() or f"exit code {out.returncode}").splitlines()[0]
    return f"nvidia-smi failed: {said}"


def _major(version: str) -> int | None:
    head = version.strip().split(".")[0]
    return int(head) if head.isdigit() else None


def cuda_diagnosis(driver: str, torch_cuda: str | None) -> str:
    """The driver and torch's CUDA build in a few words, so that a driver too old for torch's CUDA
    (or a CPU build of torch) is not taken for a missing card. ``torch_cuda``: ``torch.version.cuda``."""
    if torch_cuda is None:
        return f"NVIDIA driver: {driver}; torch CUDA: none, this torch is a CPU build"
    said = f"NVIDIA driver: {driver}; torch built for CUDA {torch_cuda}"
    needed = DRIVER_FOR_CUDA.get(_major(torch_cuda) or 0)
    if needed is None:
        return said
    have = _major(driver)
    if have is not None and have < needed:
        return f"{said}, which needs driver {needed} or newer: update the driver"
    return f"{said}, which needs driver {needed} or newer"


def least_card_gib(declared_gb: float) -> float:
    """The least memory (GiB, as torch reports it) a card declared as ``declared_gb`` may have:
    the declared size read as the decimal GB cards are sold in, less :data:`MEMORY_TOLERANCE`."""
    return declared_gb * 1e9 / GIB * (1 - MEMORY_TOLERANCE)


def card_matches(declared_gb: float | None, card_gib: float | None) -> bool:
    """Whether the card torch reports (``card_gib``) is at least the profile's declared card."""
    return declared_gb is not None and card_gib is not None and card_gib >= least_card_gib(declared_gb)


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
    card = "unknown" if card_gb is None else f"{card_gb:.1f}"
    planned = (
        "profile plans for no card (gpu.memory_gb unset)"
        if declared is None
        else f"profile plans for a {declared:g} GB card (at least {least_card_gib(declared):.1f} GiB)"
    )
    checks.append(
        Check("memory plan", card_matches(declared, card_gb), f"{planned}, the card has {card} GiB")
    )
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


def _cuda() -> tuple[bool | None, float | None, str]:
    """Whether torch sees a CUDA device, the card's memory (GiB) and, without a device, why."""
    try:
        import torch
    except ImportError:
        return None, None, ""
    except Exception as err:  # a torch whose CUDA libraries are broken: no usable device
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return False, None, f"NVIDIA driver: {driver_version()}; importing torch failed: {first}"
    if not torch.cuda.is_available():
        return False, None, cuda_diagnosis(driver_version(), torch.version.cuda)
    return True, torch.cuda.get_device_properties(0).total_memory / GIB, ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m criticlab.tools.gpu_smoke", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", default="", help="a local model directory (e.g. Qwen2.5-0.5B-Instruct)")
    args = parser.parse_args(argv)
    cuda, card_gb, diagnosis = _cuda()
    problem = preflight(cuda, args.model, lambda name: importlib.util.find_spec(name) is not None, diagnosis)
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

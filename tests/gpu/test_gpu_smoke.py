"""make gpu-smoke: the preflight sentence (tested for real here, a machine without CUDA) with the
driver and torch's CUDA build it names, the profile it writes, and the per-component checks on
outputs laid out as a GPU run writes them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from criticlab import config, stages
from criticlab.stages import (
    DatasetReport,
    EvaluationMetrics,
    GRPOMetrics,
    SFTMetrics,
    SynthesisMetrics,
    TrainingRun,
)
from criticlab.tools import gpu_smoke
from criticlab.training.trainers import POLICY_FILE

ROOT = Path(__file__).resolve().parents[2]


def test_without_cuda_make_gpu_smoke_stops_at_once_with_one_sentence() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA card: make gpu-smoke would run")
    out = subprocess.run(
        ["make", "-s", "gpu-smoke", f"GPU_PY={sys.executable}", "MODEL=/nowhere"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "Traceback" not in out.stderr + out.stdout
    sentence = [line for line in out.stderr.splitlines() if not line.startswith(("make:", "make["))]
    diagnosis = gpu_smoke.cuda_diagnosis(gpu_smoke.driver_version(), torch.version.cuda)
    assert sentence == [
        f"make gpu-smoke needs a CUDA GPU and torch sees no CUDA device ({diagnosis}); "
        "run it on a GPU machine after `make setup-gpu`."
    ]
    assert "NVIDIA driver: " in diagnosis and "CUDA" in diagnosis


def test_preflight_sentences(tmp_path: Path) -> None:
    def every(name: str) -> bool:
        return True

    assert "has no torch" in gpu_smoke.preflight(None, "m", every)
    assert "needs a CUDA GPU" in gpu_smoke.preflight(False, "m", every)
    assert "device (NVIDIA driver: 575.64; torch" in gpu_smoke.preflight(
        False, "m", every, gpu_smoke.cuda_diagnosis("575.64", "13.0")
    )
    assert "(vllm, unsloth not installed in " in gpu_smoke.preflight(True, "m", lambda name: False)
    assert "MODEL=/path/to/Qwen2.5-0.5B-Instruct" in gpu_smoke.preflight(True, "", every)
    assert "has no config.json" in gpu_smoke.preflight(True, str(tmp_path), every)
    (tmp_path / "config.json").write_text("{}")
    assert gpu_smoke.preflight(True, str(tmp_path), every) is None


def test_the_written_profile_uses_the_local_model_and_its_plan_fits(tmp_path: Path, monkeypatch) -> None:
    model = tmp_path / "Qwen2.5-0.5B-Instruct"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"\0" * 1024)
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path / "outputs"))
    profile = config.load_profile(gpu_smoke.write_profile(str(model), tmp_path / "outputs"))
    assert profile.name == "gpu-smoke" and profile.models.generator == profile.models.critic == str(
        model.resolve()
    )
    assert profile.models.engine == "vllm" and profile.grpo.use_vllm and profile.grpo.use_unsloth
    assert profile.sft.lora and profile.grpo.from_adapter == "continue"
    assert {"ctrl_sft", "ctrl_grpo"} <= set(profile.evaluation.methods)


def lay_out_a_run(root: Path, adapter: Path, *, unsloth: bool = True) -> None:
    stages.write_metrics(
        root,
        SynthesisMetrics(
            problems=2, datasets=DatasetReport(), zero_shot_pass_rate=0.5, critiques=4, revisions_passed=2
        ),
    )
    stages.write_metrics(root, SFTMetrics(rows=4, run=TrainingRun(True, 4, str(adapter))))
    stages.write_metrics(
        root, GRPOMetrics(rl_rows=2, start=str(adapter), run=TrainingRun(True, 3, str(adapter)))
    )
    stages.write_metrics(
        root,
        EvaluationMetrics(
            problems=2,
            rounds=1,
            methods=["zero_shot", "ctrl_sft", "ctrl_grpo"],
            skipped={},
            excluded_infra={},
            final=[],
            discrimination=[],
            pairs=0,
            majority=[],
        ),
    )
    for run, rollouts in ((stages.SFT_CHECKPOINTS, None), (stages.GRPO_CHECKPOINTS, "vllm")):
        path = root / stages.CHECKPOINTS_DIR / run / POLICY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps({"loader": "unsloth" if unsloth else "transformers", "rollouts": rollouts})
        )
    from criticlab.training import write_verl_parquet

    (root / stages.GRPO).mkdir(parents=True, exist_ok=True)
    write_verl_parquet(
        [{"task": "crl", "problem": "{}", "prompt": [{"role": "user", "content": "x"}], "label": True}],
        root / stages.GRPO / stages.VERL_TRAIN,
    )


@pytest.fixture
def adapter(tmp_path: Path) -> Path:
    path = tmp_path / "adapter"
    path.mkdir()
    (path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "m", "r": 16}))
    return path


def test_checks_pass_on_a_complete_run(tmp_path: Path, adapter: Path) -> None:
    lay_out_a_run(tmp_path, adapter)
    checks = gpu_smoke.check_outputs(config.load_profile("gpu-smoke"), tmp_path, card_gb=23.6)
    assert [c.component for c in checks] == list(gpu_smoke.COMPONENTS)
    assert all(c.ok for c in checks), [c.line() for c in checks if not c.ok]
    assert checks[0].line() == (
        "PASS  memory plan: profile plans for a 16 GB card (at least 14.2 GiB), the card has 23.6 GiB"
    )


def test_checks_name_what_failed(tmp_path: Path, adapter: Path) -> None:
    lay_out_a_run(tmp_path, adapter, unsloth=False)
    (tmp_path / stages.GRPO / stages.VERL_TRAIN).unlink()
    checks = {
        c.component: c
        for c in gpu_smoke.check_outputs(config.load_profile("gpu-smoke"), tmp_path, card_gb=8.0)
    }
    assert not checks["memory plan"].ok and "the card has 8.0 GiB" in checks["memory plan"].detail
    assert not checks["unsloth"].ok and "transformers" in checks["unsloth"].detail
    assert not checks["verl export"].ok and checks["verl export"].line().startswith("FAIL  verl export")
    assert checks["SFT with LoRA"].ok and checks["GRPO with vLLM rollouts"].ok


class NvidiaSmi:
    """A stand-in ``nvidia-smi``: what it prints, its exit code, and the arguments it was given."""

    def __init__(self, stdout: str = "", stderr: str = "", returncode: int = 0) -> None:
        self.out = subprocess.CompletedProcess([], returncode, stdout, stderr)
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        self.calls.append(args)
        return self.out


def a_driver(monkeypatch: pytest.MonkeyPatch, smi: NvidiaSmi | None) -> None:
    monkeypatch.setattr(
        gpu_smoke.shutil,
        "which",
        lambda name: "/usr/bin/nvidia-smi" if smi and name == "nvidia-smi" else None,
    )
    if smi is not None:
        monkeypatch.setattr(gpu_smoke.subprocess, "run", smi)


def test_driver_version_from_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    a_driver(monkeypatch, None)
    assert gpu_smoke.driver_version() == "no nvidia driver found"
    smi = NvidiaSmi("570.133.20\n")
    a_driver(monkeypatch, smi)
    assert gpu_smoke.driver_version() == "570.133.20"
    assert smi.calls == [["/usr/bin/nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]]
    # installed, but the kernel module is not loaded: what nvidia-smi says, not "no driver"
    a_driver(
        monkeypatch,
        NvidiaSmi(
            "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n", returncode=9
        ),
    )
    assert gpu_smoke.driver_version() == (
        "nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
    )


def test_cuda_diagnosis_tells_an_old_driver_from_a_missing_card() -> None:
    assert gpu_smoke.cuda_diagnosis("570.133.20", "13.0") == (
        "NVIDIA driver: 570.133.20; torch built for CUDA 13.0, which needs driver 580 or newer: update the driver"
    )
    assert gpu_smoke.cuda_diagnosis("580.65.06", "13.0") == (
        "NVIDIA driver: 580.65.06; torch built for CUDA 13.0, which needs driver 580 or newer"
    )
    assert gpu_smoke.cuda_diagnosis("no nvidia driver found", "12.8").endswith("needs driver 525 or newer")
    assert gpu_smoke.cuda_diagnosis("no nvidia driver found", None) == (
        "NVIDIA driver: no nvidia driver found; torch CUDA: none, this torch is a CPU build"
    )


def test_without_a_device_main_names_the_driver_and_torchs_cuda(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A machine whose card torch cannot use (here: a driver older than torch's CUDA 13.0 needs)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    a_driver(monkeypatch, NvidiaSmi("550.54.15\n"))
    assert gpu_smoke.main(["--model", "/nowhere"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "make gpu-smoke needs a CUDA GPU and torch sees no CUDA device (NVIDIA driver: 550.54.15; torch "
        "built for CUDA 13.0, which needs driver 580 or newer: update the driver); run it on a GPU "
        "machine after `make setup-gpu`."
    ]


@pytest.mark.parametrize(
    ("declared", "card_gib", "ok"),
    [
        (16, 14.75, True),  # a "16 GB" T4 as torch reports it
        (16, 14.9, True),  # exactly 16 × 10⁹ bytes
        (16, 14.16, True),  # the tolerance's edge: 16 × 10⁹ B in GiB, less 5 %
        (16, 14.15, False),
        (16, 11.7, False),  # a 12 GB card
        (80, 79.2, True),  # an 80 GB A100
        (80, 70.7, False),
        (None, 23.6, False),  # no declared card: nothing to check against
        (16, None, False),
    ],
)
def test_the_memory_check_reads_the_declared_card_as_sold(
    declared: float | None, card_gib: float | None, ok: bool
) -> None:
    assert gpu_smoke.card_matches(declared, card_gib) is ok
    if declared is not None:
        assert gpu_smoke.least_card_gib(declared) == pytest.approx(declared * 1e9 / 2**30 * 0.95)


def test_a_16_gb_card_reporting_about_15_gib_passes_the_smoke_profiles_check(
    tmp_path: Path, adapter: Path
) -> None:
    lay_out_a_run(tmp_path, adapter)
    profile = config.load_profile("gpu-smoke")
    assert profile.gpu.memory_gb == 16
    passed = gpu_smoke.check_outputs(profile, tmp_path, card_gb=14.75)[0]
    assert passed.ok, passed.line()
    failed = gpu_smoke.check_outputs(profile, tmp_path, card_gb=14.0)[0]
    assert not failed.ok and failed.line() == (
        "FAIL  memory plan: profile plans for a 16 GB card (at least 14.2 GiB), the card has 14.0 GiB"
    )

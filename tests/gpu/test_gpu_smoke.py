"""make gpu-smoke: the preflight sentence (tested for real here, a machine without CUDA), the
profile it writes, and the per-component checks on outputs laid out as a GPU run writes them."""

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
    assert sentence == [
        "make gpu-smoke needs a CUDA GPU and this machine has none (torch sees no CUDA device); "
        "run it on a GPU machine after `make setup-gpu`."
    ]


def test_preflight_sentences(tmp_path: Path) -> None:
    def every(name: str) -> bool:
        return True

    assert "has no torch" in gpu_smoke.preflight(None, "m", every)
    assert "needs a CUDA GPU" in gpu_smoke.preflight(False, "m", every)
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
    assert checks[0].line() == "PASS  memory plan: profile plans for 16.0 GiB, the card has 23.6 GiB"


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

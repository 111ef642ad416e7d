"""bf16 on CUDA: one rule, compute capability 8 or newer, for the policy, the trainers and vLLM.

A T4 or V100 (7.x) says yes to ``torch.cuda.is_bf16_supported()`` through emulation; here that
answer is faked to yes on every card, so only the capability can decide.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from criticlab.config import GRPOSection, SFTSection
from criticlab.llm import precision, vllm_engine
from criticlab.training import grpo_args, policy_dtype, sft_args

LIB = Path(__file__).resolve().parents[2] / "lib" / "criticlab"


def a_card(monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: capability)


@pytest.mark.parametrize(
    ("card", "capability", "bf16"),
    [
        ("V100", (7, 0), False),
        ("T4", (7, 5), False),
        ("A100", (8, 0), True),
        ("RTX 4090", (8, 9), True),
        ("H100", (9, 0), True),
    ],
)
def test_bf16_only_from_compute_capability_8(
    monkeypatch: pytest.MonkeyPatch, card: str, capability: tuple[int, int], bf16: bool
) -> None:
    a_card(monkeypatch, capability)
    assert precision.cuda_bf16() is bf16, card
    assert precision.native_bf16() is bf16
    # every user of the rule agrees: vLLM's dtype, the policy's dtype, the trainers' bf16 flag
    assert vllm_engine.vllm_dtype(vllm_engine._cuda_bf16()) == ("bfloat16" if bf16 else "float16")
    assert policy_dtype(True, precision.cuda_bf16()) == ("bfloat16" if bf16 else "float16")
    assert sft_args(SFTSection(), Path("x"))["bf16"] is bf16
    assert grpo_args(GRPOSection(), Path("x"))["bf16"] is bf16


def test_no_cuda_is_no_cuda_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert precision.cuda_bf16() is False


def test_a_profiles_explicit_bf16_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    a_card(monkeypatch, (7, 5))
    assert sft_args(SFTSection(bf16=True), Path("x"))["bf16"] is True


def test_nothing_else_asks_torch_whether_cuda_has_bf16() -> None:
    """The rule lives in llm/precision.py alone: a new ``is_bf16_supported()`` elsewhere would
    bring back the emulated-bf16 answer on T4/V100 cards."""
    callers = [
        str(path.relative_to(LIB))
        for path in sorted(LIB.rglob("*.py"))
        if re.search(r"is_bf16_supported\(|get_device_capability\(", path.read_text(encoding="utf-8"))
    ]
    assert callers == ["llm/precision.py"]

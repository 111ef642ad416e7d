"""Which float precision a model should run in on this machine.

On CUDA one question decides bf16 everywhere — the policy's dtype, the trainers' ``bf16`` flag,
vLLM's dtype: :func:`cuda_bf16`. Asking it in one place keeps them agreeing; a card where they
disagree fails at the first step (unsloth loads fp16 while the trainer was told bf16, vLLM refuses
bf16 outright).
"""

from __future__ import annotations

BF16_MIN_CAPABILITY = 8
"""The first CUDA compute capability with bf16 in hardware (Ampere: A100, A10, RTX 30xx; later)."""


def cuda_bf16() -> bool:
    """Whether this machine has a CUDA card that computes bf16 natively: compute capability 8.0
    or newer. Not ``torch.cuda.is_bf16_supported()``: that says True on a T4 or V100 (7.x), which
    only emulate bf16; vLLM then refuses bf16 and unsloth loads fp16, as they go by capability."""
    import torch

    if not torch.cuda.is_available():
        return False
    major, _minor = torch.cuda.get_device_capability()
    return major >= BF16_MIN_CAPABILITY


def native_bf16() -> bool:
    """Whether this machine computes bf16 natively: a CUDA card of compute capability 8 or newer
    (:func:`cuda_bf16`), or a CPU with AMX or AVX512-BF16 (there torch's bf16 matmuls run several
    times faster than fp32; measured on a 2-core AMX VM: 1.66 TFLOPS bf16 vs 0.19 fp32 for a
    1024×2048×2048 matmul)."""
    import torch

    if torch.cuda.is_available():
        return cuda_bf16()
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(bool(check()) for check in checks if check is not None)


def resolve_dtype(dtype: str) -> str:
    """``auto``: bfloat16 where :func:`native_bf16`, else float32; any other name unchanged."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if native_bf16() else "float32"

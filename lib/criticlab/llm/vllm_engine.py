"""In-process vLLM backend (GPU). Imported only when used: vLLM is an optional extra.

Kept thin on purpose: conversation → request expansion, seeding, result conversion and the
engine's arguments (its memory share, precision, LoRA slots) live in :func:`expand_requests`,
:func:`to_completion` and :func:`engine_args`, which the CPU test suite exercises; only the calls
into vLLM itself run on a GPU machine alone.

An engine takes ``gpu_memory_utilization`` of the card, never vLLM's default 0.9, so a second
engine (TRL's rollouts, a critic) can start beside it (the shares come from the profile's memory
plan, :func:`criticlab.gpu_plan.memory_plan`). A trained LoRA critic is a :class:`LoRAEngine`: the
base model's engine, asked with a LoRA request.
"""

from __future__ import annotations

import gc
import time
from typing import TYPE_CHECKING, Any

from criticlab.llm.adapters import Adapter, lora_rank_slot
from criticlab.llm.base import (
    ClosingEngine,
    Completion,
    Conversation,
    EngineError,
    SamplingParams,
    finish_text,
)

if TYPE_CHECKING:
    from criticlab.llm.backends import EngineOptions


def expand_requests(conversations: list[Conversation], n: int) -> list[tuple[int, int]]:
    """One request per (conversation, sample index), so sample i is seeded with seed + i."""
    return [(c, i) for c in range(len(conversations)) for i in range(n)]


def to_completion(output: Any, seconds: float = 0.0) -> Completion:
    """A vLLM ``RequestOutput`` (first candidate) → :class:`Completion`."""
    candidate = output.outputs[0]
    reason = getattr(candidate, "finish_reason", "stop") or "stop"
    return Completion(
        text=candidate.text,
        finish_reason="length" if reason == "length" else "stop",
        prompt_tokens=len(getattr(output, "prompt_token_ids", None) or []),
        completion_tokens=len(getattr(candidate, "token_ids", None) or []),
        seconds=seconds,
    )


def vllm_dtype(cuda_bf16: bool) -> str:
    """bf16 where the card computes it, else fp16: never the float32 a dequantized checkpoint's
    config may name (vLLM's ``auto`` would take it and double the memory)."""
    return "bfloat16" if cuda_bf16 else "float16"


def engine_args(
    model: str,
    *,
    max_model_len: int,
    memory_share: float,
    dtype: str,
    lora_rank: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The keyword arguments of ``vllm.LLM`` for one engine of the memory plan.

    ``lora_rank``: serve LoRA adapters up to this rank on this engine (None: no LoRA)."""
    if not 0 < memory_share < 1:
        raise EngineError(f"a vLLM engine's memory share must be between 0 and 1, got {memory_share!r}")
    args: dict[str, Any] = {
        "model": str(model),
        "max_model_len": max_model_len,
        "gpu_memory_utilization": memory_share,
        "dtype": dtype,
        "seed": seed,
    }
    if lora_rank is not None:
        args.update(enable_lora=True, max_lora_rank=lora_rank_slot(lora_rank), max_loras=2)
    return args


def sampling_args(sampling: SamplingParams, sample_index: int) -> dict[str, Any]:
    """``vllm.SamplingParams`` keywords of sample ``sample_index`` (seeded with seed + index)."""
    return {
        "temperature": sampling.temperature,
        "top_p": 1.0 if sampling.greedy else sampling.top_p,
        "max_tokens": sampling.max_tokens,
        "seed": sampling.seed + sample_index,
        "stop": list(sampling.stop) or None,
    }


def _cuda_bf16() -> bool:
    """The project's one bf16 rule (compute capability 8 or newer): vLLM refuses bf16 on the
    older cards that torch's own bf16 check accepts through emulation (T4, V100)."""
    from criticlab.llm.precision import cuda_bf16

    return cuda_bf16()


class VLLMEngine(ClosingEngine):
    """``vllm.LLM`` in this process; ``model`` is a Hugging Face id or a local checkpoint directory.

    ``llm_kwargs`` go to ``vllm.LLM`` (build them with :func:`engine_args`); ``close`` frees the
    card for the next engine of the plan.
    """

    backend = "vllm"

    def __init__(self, model: str, **llm_kwargs: Any) -> None:
        try:
            import vllm
        except ImportError as err:  # the gpu extra is not installed (or no CUDA)
            raise EngineError(
                "the vllm backend needs the gpu extra (`make setup-gpu`) on a CUDA machine"
            ) from err
        self._vllm = vllm
        self.model_id = str(model)
        llm_kwargs.setdefault("dtype", vllm_dtype(_cuda_bf16()))
        self._llm: Any = vllm.LLM(**{**llm_kwargs, "model": str(model)})

    def generate(
        self,
        conversations: list[Conversation],
        sampling: SamplingParams,
        n: int = 1,
        adapter: Adapter | None = None,
    ) -> list[list[Completion]]:
        if self._llm is None:
            raise EngineError(f"{self.model_id}: this vLLM engine was closed")
        jobs = expand_requests(conversations, n)
        params = [self._vllm.SamplingParams(**sampling_args(sampling, i)) for _, i in jobs]
        lora = None
        if adapter is not None:
            from vllm.lora.request import LoRARequest

            lora = LoRARequest(adapter.name, adapter.int_id, str(adapter.path))
        started = time.perf_counter()
        outputs = self._llm.chat(
            [conversations[c] for c, _ in jobs], params, use_tqdm=False, lora_request=lora
        )
        out: list[list[Completion]] = [[] for _ in conversations]
        for (c, _), output in zip(jobs, outputs):
            out[c].append(finish_text(to_completion(output), sampling))
        return self._count(out, sampling.with_(temperature=max(sampling.temperature, 1e-6)), started)

    def close(self) -> None:
        """Shut the engine down and give its memory back to the card."""
        if self._llm is None:
            return
        engine = getattr(self._llm, "llm_engine", None)
        shutdown = getattr(engine, "shutdown", None) or getattr(
            getattr(engine, "engine_core", None), "shutdown", None
        )
        if callable(shutdown):
            shutdown()
        self._llm = None
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class LoRAEngine(ClosingEngine):
    """A trained LoRA critic served by its base model's engine: every request carries the adapter."""

    def __init__(self, base: Any, adapter: Adapter) -> None:
        self.base = base
        self.adapter = adapter
        self.backend = base.backend
        self.model_id = f"{base.model_id}+{adapter.name}"

    def generate(
        self, conversations: list[Conversation], sampling: SamplingParams, n: int = 1
    ) -> list[list[Completion]]:
        return self.base.generate(conversations, sampling, n, adapter=self.adapter)


def build(reference: str, options: EngineOptions) -> VLLMEngine:
    """The ``vllm`` backend's engine (:mod:`criticlab.llm.backends`): its share of the card
    (``options.memory_share``; unset, the profile schema's generator share, never vLLM's default
    0.9), LoRA slots up to ``options.lora_rank``, and the precision the card computes."""
    args = options.vllm_args
    if args is None:
        from criticlab.config import GPUSection

        share = options.memory_share if options.memory_share is not None else GPUSection().generator_memory
        args = engine_args(
            reference,
            max_model_len=options.context_length,
            memory_share=share,
            dtype="auto",
            lora_rank=options.lora_rank,
            seed=options.seed,
        )
        args.pop("dtype")  # the engine picks bf16 or fp16 from the card
    return VLLMEngine(reference, **{k: v for k, v in args.items() if k != "model"})


def with_adapter(engine: VLLMEngine, adapter: Adapter) -> LoRAEngine:
    """A trained LoRA critic as requests on its base model's engine (``lora_requests``)."""
    return LoRAEngine(engine, adapter)

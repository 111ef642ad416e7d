"""In-process vLLM backend (GPU). Imported only when used: vLLM is an optional extra.

Kept thin on purpose: conversation → request expansion, seeding and result conversion live in
:func:`expand_requests` and :func:`to_completion`, which the CPU test suite exercises; only the
two calls into vLLM itself run on a GPU machine alone.
"""

from __future__ import annotations

import time
from typing import Any

from criticlab.llm.base import ClosingEngine, Completion, Conversation, EngineError, SamplingParams


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


class VLLMEngine(ClosingEngine):
    """``vllm.LLM`` in this process; ``model`` is a Hugging Face id or a local checkpoint directory."""

    backend = "vllm"

    def __init__(self, model: str, **llm_kwargs: Any) -> None:
        try:
            import vllm
        except ImportError as err:  # the gpu extra is not installed (or no CUDA)
            raise EngineError(
                "the vllm backend needs the gpu extra (`pip install -e '.[gpu]'`) on a CUDA machine"
            ) from err
        self._vllm = vllm
        self.model_id = str(model)
        self._llm = vllm.LLM(model=str(model), **llm_kwargs)

    def generate(
        self, conversations: list[Conversation], sampling: SamplingParams, n: int = 1
    ) -> list[list[Completion]]:
        jobs = expand_requests(conversations, n)
        params = [
            self._vllm.SamplingParams(
                temperature=sampling.temperature,
                top_p=1.0 if sampling.greedy else sampling.top_p,
                max_tokens=sampling.max_tokens,
                seed=sampling.seed + i,
                stop=list(sampling.stop) or None,
            )
            for _, i in jobs
        ]
        started = time.perf_counter()
        outputs = self._llm.chat([conversations[c] for c, _ in jobs], params, use_tqdm=False)
        out: list[list[Completion]] = [[] for _ in conversations]
        for (c, _), output in zip(jobs, outputs):
            out[c].append(to_completion(output))
        return self._count(out, sampling.with_(temperature=max(sampling.temperature, 1e-6)), started)

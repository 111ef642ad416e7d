"""transformers backend: trained checkpoints, LoRA adapters, Hugging Face ids and dequantized GGUF.

llama.cpp is the fast CPU path, but what training produces is a transformers model (a checkpoint
directory, a peft LoRA adapter, or a model object still in memory). This engine generates from
any of them with the same :class:`~criticlab.llm.base.Engine` contract.

Model references: a ``PreTrainedModel`` object; a checkpoint directory; a peft adapter directory
(its base model is loaded from ``base_model_name_or_path``); a Hugging Face id; a GGUF file or a
registry name (dequantized by transformers, which takes minutes for the 0.5B model, so the result
is saved once as safetensors in the model cache and later loads take seconds). Tests use a tiny
random checkpoint directory (:func:`~criticlab.llm.models.save_tiny_qwen2`) like any other.

Batches are left-padded and decoded with ``model.generate``. Determinism: sampling does not use
torch's global RNG. A logits processor draws each row's token with that row's own
``torch.Generator`` seeded with ``sampling.seed + i`` (temperature, then top-p), so sample ``i`` is
reproducible and independent of the other rows' randomness. Its logits still come from a padded
batch; float32 results of a row can differ in the last bits with the batch's padding, which can
flip a near-tie between two tokens. Same request and same batch → same output, always.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedModel,
    StoppingCriteria,
    StoppingCriteriaList,
)

from criticlab.io import atomic_dir
from criticlab.llm import models
from criticlab.llm.base import (
    ClosingEngine,
    Completion,
    Conversation,
    EngineError,
    SamplingParams,
    error_completion,
    finish_text,
    stop_index,
)

if TYPE_CHECKING:
    from criticlab.llm.backends import EngineOptions

END_OF_TURN = ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>", "<|end|>")
"""Special tokens that end an assistant turn in common chat formats (used when present in the vocab)."""


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def weights_fingerprint(model: torch.nn.Module) -> str:
    """A cheap hash of a model's weights: names, shapes and a strided sample of every tensor.

    Training changes every weight, so the sample changes too; a cache keyed on this never serves
    answers of an earlier checkpoint that was saved under the same name.
    """
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().reshape(-1)
        sample = flat[:: max(1, flat.numel() // 251)].to("cpu", torch.float32)
        digest.update(f"{name}:{tuple(tensor.shape)}:".encode())
        digest.update(sample.numpy().tobytes())
    return digest.hexdigest()[:16]


def _torch_dtype(dtype: str | torch.dtype) -> torch.dtype | str:
    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype):
        raise EngineError(f"unknown dtype {dtype!r}; use float32, bfloat16, float16 or auto")
    return value


def gguf_cache_dir(gguf: Path) -> Path:
    """Where the transformers checkpoint of a GGUF file lives: keyed by the file's content, so a
    changed file with the same name and size is converted anew."""
    return models.cache_dir() / f"{gguf.stem}-{models.content_sha256(gguf)[:16]}-hf"


def gguf_checkpoint(gguf: Path) -> Path:
    """A GGUF model as a transformers checkpoint directory, converted once and cached.

    transformers dequantizes the GGUF (minutes for the 0.5B model); the dense float32 weights are
    saved as safetensors with the tokenizer and its chat template. This backend and vLLM (which
    serves transformers checkpoints, not these GGUF files) load the directory; vLLM casts it to
    its own dtype as it loads.
    """
    target = gguf_cache_dir(gguf)
    if not (target / "config.json").is_file():
        try:
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
            )
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        except Exception as err:  # transformers raises many types for unsupported GGUF architectures
            raise EngineError(f"transformers could not load {gguf} ({type(err).__name__}: {err})") from err
        model = _as_plain_model(model)
        with atomic_dir(target) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
    return target


def load_gguf(gguf: Path, dtype: Any = torch.float32) -> tuple[PreTrainedModel, Any]:
    """A GGUF model loaded from its cached checkpoint (:func:`gguf_checkpoint`)."""
    return _load_pretrained(str(gguf_checkpoint(gguf)), dtype)


def _as_plain_model(model: PreTrainedModel) -> PreTrainedModel:
    """Detach transformers' GGUF quantizer so the dense float32 model saves as a normal checkpoint.

    transformers marks every model loaded with ``gguf_file=`` as quantized and refuses to save it,
    even when (as without the optional ``kernels`` package) it unpacked every weight into plain
    dense layers. Weights still kept in GGUF blocks are dequantized first.
    """
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is None:
        return model
    config = getattr(quantizer, "quantization_config", None)
    if getattr(quantizer, "supported", False) and not getattr(config, "dequantize", True):
        model = model.dequantize(dtype=torch.float32) or model
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model


def _load_pretrained(source: str, dtype: Any) -> tuple[PreTrainedModel, Any]:
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except Exception as err:
        raise EngineError(
            f"could not load a causal LM from {source!r} ({type(err).__name__}: {err})"
        ) from err
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except Exception as err:
        raise EngineError(f"{source!r} has no loadable tokenizer; pass tokenizer= ({err})") from err
    return model, tokenizer


def load_model(reference: str, dtype: Any) -> tuple[PreTrainedModel, Any, str, str | None]:
    """Load any model reference; returns (model, tokenizer, label for the model id, adapter dir)."""
    try:
        resolved = models.resolve(reference)
    except models.ModelFetchError as err:
        raise EngineError(str(err)) from err
    label = reference if reference in models.REGISTRY else None
    if isinstance(resolved, str):  # a Hugging Face id
        model, tokenizer = _load_pretrained(resolved, dtype)
        return model, tokenizer, resolved, None
    path = Path(resolved)
    if path.is_file():
        model, tokenizer = load_gguf(path, dtype)
        return model, tokenizer, label or path.name, None
    adapter_config = path / "adapter_config.json"
    if adapter_config.is_file() and not (path / "config.json").is_file():
        base = json.loads(adapter_config.read_text()).get("base_model_name_or_path")
        if not base:
            raise EngineError(
                f"{adapter_config} names no base_model_name_or_path; pass the base model and adapter="
            )
        model, tokenizer, base_label, _ = load_model(base, dtype)
        if any(path.glob("tokenizer*")):
            tokenizer = AutoTokenizer.from_pretrained(str(path))
        return model, tokenizer, base_label, str(path)
    model, tokenizer = _load_pretrained(str(path), dtype)
    return model, tokenizer, path.name, None


# --------------------------------------------------------------------------------------------
# Sampling and stopping inside model.generate
# --------------------------------------------------------------------------------------------


class SeededSampler(LogitsProcessor):
    """Temperature → top-p → a draw with each row's own generator; all other logits become -inf.

    ``generate`` runs greedily on the result, so it picks exactly the drawn token.
    """

    def __init__(self, temperature: float, top_p: float, seeds: list[int]) -> None:
        self.temperature = temperature
        self.top_p = top_p
        self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        logits = scores.float() / self.temperature
        if 0.0 < self.top_p < 1.0:
            ordered, order = torch.sort(logits, descending=True, dim=-1)
            probs = ordered.softmax(-1)
            drop = probs.cumsum(-1) - probs >= self.top_p  # keep the smallest set reaching top_p
            drop[..., 0] = False
            logits = logits.scatter(-1, order, ordered.masked_fill(drop, float("-inf")))
        probs = logits.softmax(-1).cpu()
        chosen = torch.stack(
            [torch.multinomial(row, 1, generator=g) for row, g in zip(probs, self.generators)]
        )
        out = torch.full_like(scores, float("-inf"))
        return out.scatter(-1, chosen.to(scores.device), 0.0)


class RepetitionPenalty(LogitsProcessor):
    """vLLM's repetition penalty over each row's own tokens (prompt and answer so far): a seen
    token's logit is divided by ``penalty`` when positive, multiplied when negative. Left padding
    is not a token of the row (transformers' own processor would penalise the pad id, often the
    end-of-turn token, in short rows only)."""

    def __init__(self, penalty: float, starts: list[int]) -> None:
        self.penalty = penalty
        self.starts = starts

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.clone()
        for row, start in enumerate(self.starts):
            seen = input_ids[row, start:]
            logits = scores[row].gather(-1, seen)
            scores[row].scatter_(
                -1, seen, torch.where(logits > 0, logits / self.penalty, logits * self.penalty)
            )
        return scores


class RowStopper(StoppingCriteria):
    """Per-row stop on end-of-turn tokens, stop strings and max_tokens; remembers why and when."""

    def __init__(
        self, tokenizer: Any, prompt_len: int, eos: set[int], stops: tuple[str, ...], max_new: int
    ) -> None:
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.eos = eos
        self.stops = tuple(s for s in stops if s)
        self.window = 2 * max((len(s) for s in self.stops), default=0) + 8
        self.max_new = max_new
        self.reason: list[str] = []
        self.count: list[int] = []

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> torch.BoolTensor:
        rows, length = input_ids.shape
        new = length - self.prompt_len
        if not self.reason:
            self.reason, self.count = [""] * rows, [0] * rows
        for r in range(rows):
            if self.reason[r]:
                continue
            token = int(input_ids[r, -1])
            if token in self.eos or any(s in self._tail(input_ids[r]) for s in self.stops):
                self.reason[r], self.count[r] = "stop", new
            elif new >= self.max_new:
                self.reason[r], self.count[r] = "length", new
        return torch.tensor([bool(x) for x in self.reason], device=input_ids.device)

    def _tail(self, row: torch.Tensor) -> str:
        start = max(self.prompt_len, row.shape[0] - self.window)
        return self.tokenizer.decode(row[start:], skip_special_tokens=True)


# --------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------


@dataclass
class _Row:
    conv: int
    sample: int
    ids: list[int]


class HFEngine(ClosingEngine):
    """A transformers causal LM behind the Engine interface (see the module docstring).

    ``model_id`` is the registry name, hub id or directory name, plus a fingerprint of the
    weights (so a retrained checkpoint at the same path never hits stale cache entries), plus
    the adapter and any non-float32 dtype. Pass ``model_id=`` to name an in-memory model yourself.
    """

    backend = "hf"

    def __init__(
        self,
        model: str | os.PathLike | PreTrainedModel,
        tokenizer: Any = None,
        device: str = "cpu",
        dtype: str = "float32",
        adapter: str | os.PathLike | None = None,
        max_batch: int = 8,
        *,
        model_id: str | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self._lock = threading.Lock()
        self.max_batch = max_batch
        self.device = torch.device(device)
        torch_dtype = _torch_dtype(dtype)
        if isinstance(model, PreTrainedModel):
            if tokenizer is None:
                raise EngineError("HFEngine(model=<PreTrainedModel>) needs tokenizer=")
            label, auto_adapter = Path(str(model.name_or_path or "in-memory")).name, None
        else:
            model, loaded_tokenizer, label, auto_adapter = load_model(os.fspath(model), torch_dtype)
            tokenizer = tokenizer or loaded_tokenizer
        if isinstance(tokenizer, (str, os.PathLike)):
            tokenizer = AutoTokenizer.from_pretrained(os.fspath(tokenizer))
        adapter = adapter or auto_adapter
        if adapter is not None:
            model = self._with_adapter(model, Path(adapter))
            label += f"+{Path(adapter).name}"
        self.model = model.to(self.device)
        self.tokenizer = tokenizer
        if model_id is None:
            fixed = label in models.REGISTRY
            model_id = label if fixed and adapter is None else f"{label}@{weights_fingerprint(self.model)}"
            if dtype != "float32":
                model_id += f":{dtype}"
        self.model_id = model_id
        self.eos_ids = self._end_tokens()
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids)
        self.max_positions = int(getattr(self.model.config, "max_position_embeddings", 0) or 0)

    @staticmethod
    def _with_adapter(model: PreTrainedModel, adapter: Path) -> Any:
        from peft import PeftModel

        if not (adapter / "adapter_config.json").is_file():
            raise EngineError(f"{adapter} is not a peft adapter directory (no adapter_config.json)")
        return PeftModel.from_pretrained(model, str(adapter))

    def _end_tokens(self) -> set[int]:
        ids: set[int] = set()
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        for value in (configured, self.tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.add(value)
            elif value:
                ids.update(int(v) for v in value)
        vocab = self.tokenizer.get_vocab()
        ids.update(vocab[t] for t in END_OF_TURN if t in vocab)
        if not ids:
            raise EngineError(f"{self.model_id}: the tokenizer defines no end-of-sequence token")
        return ids

    def apply_chat_template(self, conversation: Conversation) -> str:
        """The prompt text of a conversation, ending with the assistant turn's opening."""
        return self.tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)

    # ----------------------------------------------------------------------------------------

    def generate(
        self, conversations: list[Conversation], sampling: SamplingParams, n: int = 1
    ) -> list[list[Completion]]:
        """For each conversation, ``n`` completions in sample order (greedy: one, repeated)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        results: list[list[Completion | None]] = [[None] * n for _ in conversations]
        rows: list[_Row] = []
        samples = 1 if sampling.greedy else n
        for c, conversation in enumerate(conversations):
            try:
                ids = self.tokenizer(self.apply_chat_template(conversation), add_special_tokens=False)[
                    "input_ids"
                ]
            except Exception as err:
                results[c] = [error_completion(f"could not build the prompt: {err}") for _ in range(n)]
                continue
            if not ids:
                results[c] = [error_completion("the prompt is empty") for _ in range(n)]
            elif self.max_positions and len(ids) >= self.max_positions:
                message = f"the prompt has {len(ids)} tokens and the context is {self.max_positions}"
                results[c] = [Completion("", "error", len(ids), error=message) for _ in range(n)]
            else:
                rows.extend(_Row(c, i, ids) for i in range(samples))
        rows.sort(key=lambda row: len(row.ids))  # similar lengths together: less padding
        started = time.perf_counter()
        with self._lock, torch.inference_mode():
            if self.model is None:
                raise EngineError("this HFEngine is closed")
            training = self.model.training  # an in-memory model may be mid-training: restore its mode
            self.model.eval()
            try:
                for start in range(0, len(rows), self.max_batch):
                    chunk = rows[start : start + self.max_batch]
                    for row, completion in zip(chunk, self._generate_batch(chunk, sampling)):
                        results[row.conv][row.sample] = completion
            finally:
                self.model.train(training)
        if sampling.greedy and n > 1:
            for row in results:
                if row[0] is not None and row[0].ok:
                    row[1:] = [Completion(**row[0].to_dict()) for _ in range(n - 1)]
        done = [[c if c is not None else error_completion("not generated") for c in row] for row in results]
        return self._count(done, sampling, started)

    def _generate_batch(self, rows: list[_Row], sampling: SamplingParams) -> list[Completion]:
        started = time.perf_counter()
        width = max(len(row.ids) for row in rows)
        input_ids = torch.tensor(
            [[self.pad_id] * (width - len(r.ids)) + r.ids for r in rows], device=self.device
        )
        mask = torch.tensor([[0] * (width - len(r.ids)) + [1] * len(r.ids) for r in rows], device=self.device)
        max_new = sampling.max_tokens
        if self.max_positions:
            max_new = max(1, min(max_new, self.max_positions - width))
        stopper = RowStopper(self.tokenizer, width, self.eos_ids, sampling.stop, max_new)
        processors = LogitsProcessorList()
        if sampling.repetition_penalty != 1.0:  # before temperature, as vLLM applies it
            processors.append(
                RepetitionPenalty(sampling.repetition_penalty, [width - len(r.ids) for r in rows])
            )
        if not sampling.greedy:
            seeds = [sampling.seed + row.sample for row in rows]
            processors.append(SeededSampler(sampling.temperature, sampling.top_p, seeds))
        config = GenerationConfig(
            max_new_tokens=max_new,
            do_sample=False,
            num_beams=1,
            repetition_penalty=1.0,
            encoder_repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            min_new_tokens=0,
            renormalize_logits=False,
            eos_token_id=sorted(self.eos_ids),
            pad_token_id=self.pad_id,
        )
        try:
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                generation_config=config,
                logits_processor=processors,
                stopping_criteria=StoppingCriteriaList([stopper]),
            )
        except Exception as err:  # e.g. out of memory: these rows fail, the rest of the batch goes on
            message = f"generation failed: {type(err).__name__}: {err}"
            return [Completion("", "error", len(r.ids), error=message) for r in rows]
        seconds = time.perf_counter() - started
        out = []
        for r, row in enumerate(rows):
            new = output[r, width:].tolist()
            reason = stopper.reason[r] if stopper.reason else ""
            count = stopper.count[r] if reason else len(new)
            text = self.tokenizer.decode(new[:count], skip_special_tokens=True)
            completion = Completion(
                text=text[: stop_index(text, sampling.stop)],
                finish_reason=reason or "length",
                prompt_tokens=len(row.ids),
                completion_tokens=count,
                seconds=seconds,
            )
            out.append(finish_text(completion, sampling))
        return out

    def close(self) -> None:
        """Drop the model so its memory can be reclaimed."""
        with self._lock:
            self.model = None

    def __repr__(self) -> str:
        return f"HFEngine({self.model_id!r}, device={self.device}, max_batch={self.max_batch})"


def build(reference: str, options: EngineOptions) -> HFEngine:
    """The ``hf`` backend's engine (:mod:`criticlab.llm.backends`): the options' adapter, in the
    precision ``options.hf_dtype`` resolves to on this machine."""
    from criticlab.llm.precision import resolve_dtype

    return HFEngine(reference, adapter=options.adapter, dtype=resolve_dtype(options.hf_dtype))

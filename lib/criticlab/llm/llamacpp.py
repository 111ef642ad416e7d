"""llama.cpp backend: the CPU default, on GGUF models, with continuous batching of sequences.

The high-level ``llama_cpp.Llama`` API decodes one sequence at a time. On a CPU, one decoding step
costs little more for several sequences than for one (the weights are read once per step), so
this module drives the low-level API and puts up to ``max_batch`` sequences in each ``llama_batch``:

- one context with ``max_batch`` sequence slots, each with its own KV-cache stream of ``n_ctx``
  cells (``kv_unified=False``), so a sequence never competes with others for context;
- continuous batching: every step decodes one token for each running sequence plus prompt chunks
  of newly admitted ones; when a sequence finishes, the next pending sample takes its slot;
- prefix reuse: a finished slot keeps its KV. A new prompt goes to the free slot whose cached
  tokens share the longest prefix with it, or copies a longer shared prefix from any slot
  (``llama_memory_seq_cp``), and prefills only the rest. Chat prompts share their system prompt
  and instructions, and a critique or revision repeats the earlier turns, so this saves much of
  the prefill. The samples of one conversation admitted together prefill once; the others copy
  the prompt's stream and draw their first token from the same logits;
- per-sample sampler chains (temperature → top-p → seeded dist; greedy when temperature is 0);
  sample ``i`` is seeded with ``sampling.seed + i``. Greedy requests generate one sequence and
  repeat it for all ``n`` samples.

Stopping: end-of-generation tokens of the vocabulary (``llama_vocab_is_eog``: ``<|im_end|>``,
``<|endoftext|>``, ...), ``sampling.stop`` strings (the text is cut before the stop string), the
end of the first Python code block with ``sampling.stop_after_code``, or
``max_tokens`` / the end of the context (``finish_reason="length"``). A prompt that does not fit
the context becomes an error :class:`Completion`; the rest of the batch is unaffected.

Determinism: on the CPU backend a sequence's logits do not depend on what else is in the batch or
in the cache (tested: greedy output alone = in a batch = after prefix reuse), so sample ``i`` of a
request is the same whatever it runs with. Other backends (GPU) may not guarantee this.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import llama_cpp as ll

from criticlab.llm import models
from criticlab.llm.base import (
    ClosingEngine,
    Completion,
    Conversation,
    EngineError,
    SamplingParams,
    code_stop_index,
    error_completion,
    stop_index,
)
from criticlab.machine import usable_cores

if TYPE_CHECKING:
    from criticlab.llm.backends import EngineOptions

log = logging.getLogger(__name__)

MIN_PREFIX_COPY = 8
"""Copying a KV stream costs about as much as prefilling a few tokens; shorter shared prefixes aren't."""

_BACKEND_INIT = threading.Lock()
_backend_ready = False

CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""Fallback for GGUF files without a ``tokenizer.chat_template`` (both embedded models carry one)."""


def _init_backend(verbose: bool) -> None:
    """Initialise llama.cpp once per process and keep its loader chatter out of notebooks."""
    global _backend_ready
    with _BACKEND_INIT:
        if not _backend_ready:
            ll.llama_backend_init()
            _backend_ready = True
    # llama-cpp-python's log callback prints whatever is at or above the level of this logger.
    # Quiet by default: llama.cpp reports even model quirks at error level, while every real
    # failure reaches the caller as an EngineError or an error Completion. verbose=True shows all.
    chatter = logging.getLogger("llama-cpp-python")
    if verbose:
        chatter.setLevel(logging.DEBUG)
    elif chatter.level == logging.NOTSET:
        chatter.setLevel(logging.CRITICAL)


def _has_amx() -> bool:
    """Whether this llama.cpp build has AMX kernels.

    AMX weight buffers are one of llama.cpp's "extra" CPU buffer types (with repacked weights).
    A build with AMX crashed with SIGSEGV in ``ggml_backend_amx_mul_mat`` on the first decode on
    an AMX virtual machine; extra buffers are therefore off for such builds unless asked for
    (``extra_buffers=True``). Builds without AMX keep them: the repacked weights are faster.
    """
    return b"AMX_INT8 = 1" in ll.llama_print_system_info()


def model_identity(reference: str, path: Path) -> str:
    """A stable name of the model for cache keys: the registry name, else file name and size."""
    if reference in models.REGISTRY:
        return reference
    size = path.stat().st_size
    for spec in models.REGISTRY.values():
        if spec.filename == path.name and spec.size == size:
            return spec.name
    return f"{path.name}#{size}"


@functools.lru_cache(maxsize=8)
def _compiled_template(template: str) -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise EngineError(f"chat template error: {message}")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template)


def render_chat_template(template: str, messages: Conversation, *, bos: str = "", eos: str = "") -> str:
    """Render a Hugging Face style jinja chat template (as stored in GGUF metadata) for generation."""
    return _compiled_template(template).render(
        messages=messages, add_generation_prompt=True, bos_token=bos, eos_token=eos, tools=None
    )


def _shared(cached: list[int], prompt: list[int]) -> int:
    """Tokens of ``prompt`` that can come from a cache holding ``cached`` (at least one is left to decode)."""
    n = 0
    for a, b in zip(cached, prompt):
        if a != b:
            break
        n += 1
    return min(n, len(prompt) - 1)


# --------------------------------------------------------------------------------------------
# Scheduling state
# --------------------------------------------------------------------------------------------


@dataclass
class _Job:
    """All samples of one conversation that still have to be generated."""

    conv: int
    tokens: list[int]
    samples: deque[int]


@dataclass
class _Seq:
    """One sample running in one slot (= sequence id = KV stream)."""

    slot: int
    conv: int
    sample: int
    prompt: list[int]
    sampler: Any
    started: float
    source: _Seq | None = None
    """While set, this sequence waits for ``source``'s prefill to provide (part of) its prompt."""
    follows: bool = False
    """Same conversation as ``source``: copy its whole prompt and draw the first token from its logits."""
    prompt_left: list[int] = field(default_factory=list)
    """Prompt tokens still to decode."""
    pos: int = 0
    last: int = -1
    out: list[int] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)

    @property
    def n_prompt(self) -> int:
        return len(self.prompt)

    @property
    def prefilling(self) -> bool:
        return self.source is not None or bool(self.prompt_left)


class LlamaCppEngine(ClosingEngine):
    """A GGUF chat model on llama.cpp, decoding up to ``max_batch`` sequences per step.

    ``model`` is a registry name (``qwen2.5-coder-0.5b-instruct``), a local ``.gguf`` path or a
    hub reference ``owner/repo:file.gguf`` (see :func:`criticlab.llm.models.resolve`). ``n_ctx`` is
    the context of each sequence (prompt + completion). ``threads`` defaults to every usable core.
    ``n_batch`` bounds the tokens sent to llama.cpp per step (prompt chunks are split to fit).
    ``flash_attn``: None lets llama.cpp decide. ``extra_buffers``: llama.cpp's extra CPU weight
    layouts (repacked, AMX); None = on unless the build has AMX (see :func:`_has_amx`).
    Thread-safe: one lock serialises ``generate``. Close it (or use ``with``) to free native memory.
    """

    backend = "llamacpp"

    def __init__(
        self,
        model: str | os.PathLike,
        n_ctx: int = 4096,
        threads: int | None = None,
        max_batch: int = 8,
        *,
        n_batch: int = 512,
        flash_attn: bool | None = None,
        extra_buffers: bool | None = None,
        chat_template: str | None = None,
        verbose: bool = False,
    ) -> None:
        if max_batch < 1 or n_ctx < 8:
            raise ValueError(f"max_batch must be >= 1 and n_ctx >= 8, got {max_batch} and {n_ctx}")
        self._lock = threading.RLock()
        self._model = self._ctx = self._batch = None
        reference = os.fspath(model)
        try:
            path = Path(models.resolve(reference))
        except models.ModelFetchError as err:
            raise EngineError(str(err)) from err
        if not path.is_file():
            raise EngineError(
                f"llamacpp needs a GGUF file, got {reference!r} ({path}); load checkpoint directories "
                "and Hugging Face ids with the hf backend"
            )
        self.path = path
        self.model_id = model_identity(reference, path)
        self.max_batch = max_batch
        self.threads = threads or usable_cores()
        _init_backend(verbose)

        mparams = ll.llama_model_default_params()
        mparams.n_gpu_layers = 0
        mparams.use_extra_bufts = extra_buffers if extra_buffers is not None else not _has_amx()
        self._model = ll.llama_model_load_from_file(os.fsencode(path), mparams)
        if not self._model:
            raise EngineError(f"llama.cpp could not load {path} (not a GGUF model, or an unsupported one)")
        self._vocab = ll.llama_model_get_vocab(self._model)
        n_train = ll.llama_model_n_ctx_train(self._model)
        self.n_ctx = min(n_ctx, n_train) if n_train > 0 else n_ctx

        cparams = ll.llama_context_default_params()
        cparams.n_ctx = self.n_ctx * max_batch
        cparams.n_seq_max = max_batch
        cparams.kv_unified = False
        cparams.n_batch = max(n_batch, max_batch)
        cparams.n_ubatch = cparams.n_batch
        cparams.n_threads = cparams.n_threads_batch = self.threads
        cparams.no_perf = True
        if flash_attn is not None:
            enabled, disabled = ll.LLAMA_FLASH_ATTN_TYPE_ENABLED, ll.LLAMA_FLASH_ATTN_TYPE_DISABLED
            cparams.flash_attn_type = enabled if flash_attn else disabled
        self._ctx = ll.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            self.close()
            raise EngineError(
                f"llama.cpp could not create a context of {max_batch} x {self.n_ctx} tokens for {path} "
                "(out of memory? lower n_ctx or max_batch)"
            )
        self.n_ctx = min(self.n_ctx, ll.llama_n_ctx_seq(self._ctx))
        self.n_batch = ll.llama_n_batch(self._ctx)
        self._mem = ll.llama_get_memory(self._ctx)
        self._batch = ll.llama_batch_init(self.n_batch, 0, 1)
        self._pieces: dict[int, bytes] = {}
        # per slot, the tokens whose K/V its stream holds at positions 0..len-1; kept after a
        # sequence ends, so a later prompt with the same prefix skips that part of the prefill
        self._kv: list[list[int]] = [[] for _ in range(max_batch)]
        # slots receiving a stream copy that llama.cpp performs at the next decode: no donors yet
        self._pending: set[int] = set()
        self.stats = {"prefilled": 0, "reused": 0, "generated": 0}
        """Prompt tokens decoded, prompt tokens taken from the prefix cache, tokens generated."""
        self.chat_template = chat_template or self._template_from_gguf()
        self._bos = ll.llama_vocab_bos(self._vocab)
        self._add_bos = bool(ll.llama_vocab_get_add_bos(self._vocab))

    # ----------------------------------------------------------------------------------------
    # Text ↔ tokens
    # ----------------------------------------------------------------------------------------

    def _template_from_gguf(self) -> str:
        raw = ll.llama_model_chat_template(self._model, None)
        if raw:
            return raw.decode("utf-8")
        log.warning("%s carries no chat template; using ChatML", self.path.name)
        return CHATML_TEMPLATE

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._piece(token, special=True).decode("utf-8", errors="replace")

    def apply_chat_template(self, conversation: Conversation) -> str:
        """The prompt text of a conversation, ending with the assistant turn's opening."""
        return render_chat_template(
            self.chat_template,
            conversation,
            bos=self._token_text(ll.llama_vocab_bos(self._vocab)),
            eos=self._token_text(ll.llama_vocab_eos(self._vocab)),
        )

    def tokenize(self, text: str, *, special: bool = True) -> list[int]:
        """Tokens of ``text``; special tokens written in the text (``<|im_start|>``) are parsed."""
        data = text.encode("utf-8")
        capacity = len(data) + 8
        while True:
            buf = (ll.llama_token * capacity)()
            n = ll.llama_tokenize(self._vocab, data, len(data), buf, capacity, self._add_bos, special)
            if n >= 0:
                tokens = list(buf[:n])
                break
            capacity = -n
        if self._add_bos and len(tokens) > 1 and tokens[0] == tokens[1] == self._bos:
            tokens = tokens[1:]  # the template already wrote the BOS token
        return tokens

    def _piece(self, token: int, special: bool = False) -> bytes:
        key = token if not special else -token - 1
        piece = self._pieces.get(key)
        if piece is None:
            buf = ctypes.create_string_buffer(64)
            n = ll.llama_token_to_piece(self._vocab, token, buf, 64, 0, special)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = ll.llama_token_to_piece(self._vocab, token, buf, -n, 0, special)
            piece = buf.raw[:n]
            self._pieces[key] = piece
        return piece

    # ----------------------------------------------------------------------------------------
    # Generation
    # ----------------------------------------------------------------------------------------

    def generate(
        self, conversations: list[Conversation], sampling: SamplingParams, n: int = 1
    ) -> list[list[Completion]]:
        """For each conversation, ``n`` completions in sample order (see the module docstring)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        results: list[list[Completion | None]] = [[None] * n for _ in conversations]
        if not conversations:
            return []
        started = time.perf_counter()
        with self._lock:
            if self._ctx is None:
                raise EngineError("this LlamaCppEngine is closed")
            jobs = self._prepare(conversations, sampling, n, results)
            if jobs:
                self._run(jobs, sampling, results)
        if sampling.greedy and n > 1:  # one greedy sequence stands for every sample
            for row in results:
                for i in range(1, n):
                    row[i] = _copy(row[0])
        done = [[c if c is not None else error_completion("not generated") for c in row] for row in results]
        return self._count(done, sampling, started)

    def _prepare(
        self,
        conversations: list[Conversation],
        sampling: SamplingParams,
        n: int,
        results: list[list[Completion | None]],
    ) -> deque[_Job]:
        jobs: deque[_Job] = deque()
        samples = 1 if sampling.greedy else n
        for c, conversation in enumerate(conversations):
            try:
                tokens = self.tokenize(self.apply_chat_template(conversation))
            except Exception as err:  # a template or encoding problem is this conversation's outcome
                results[c] = [error_completion(f"could not build the prompt: {err}")] * n
                continue
            if not tokens:
                results[c] = [error_completion("the prompt is empty")] * n
            elif len(tokens) >= self.n_ctx:
                message = (
                    f"the prompt has {len(tokens)} tokens and the context is {self.n_ctx} "
                    "(no room to generate); shorten the prompt or raise n_ctx"
                )
                results[c] = [Completion("", "error", len(tokens), error=message) for _ in range(n)]
            else:
                jobs.append(_Job(c, tokens, deque(range(samples))))
        return jobs

    def _sampler(self, sampling: SamplingParams, sample: int, prompt: list[int]) -> Any:
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        if sampling.repetition_penalty != 1.0:
            # vLLM's repetition penalty: over the prompt and the answer (the chain accepts each
            # sampled token; the prompt's are accepted here), no frequency or presence terms
            vocab = ll.llama_vocab_n_tokens(self._vocab)
            penalties = ll.llama_sampler_init_penalties(
                vocab, self.n_ctx, sampling.repetition_penalty, 0.0, 0.0
            )
            for token in prompt:
                ll.llama_sampler_accept(penalties, token)
            ll.llama_sampler_chain_add(chain, penalties)
        if sampling.greedy:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())
            return chain
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_temp(sampling.temperature))
        if 0.0 < sampling.top_p < 1.0:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_p(sampling.top_p, 1))
        # 0xFFFFFFFF is llama.cpp's "random seed"; keep every seed deterministic.
        seed = (sampling.seed + sample) % 0xFFFFFFFF
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_dist(seed))
        return chain

    def _admit(
        self, jobs: deque[_Job], free: list[int], sampling: SamplingParams, running: list[_Seq]
    ) -> None:
        """Start pending samples in free slots (appended to ``running``), reusing prompt prefixes.

        The first sample of a conversation takes the free slot whose retained KV shares the
        longest prefix with its prompt, copies a longer one from another slot, or, when a prompt
        still being prefilled shares a longer prefix, waits for it. The conversation's other
        samples admitted now wait for the first one's prefill and copy its stream.
        """
        while jobs and free:
            job = jobs[0]
            slot = max(free, key=lambda s: (_shared(self._kv[s], job.tokens), -s))
            free.remove(slot)
            sample = job.samples.popleft()
            now = time.perf_counter()
            leader = _Seq(
                slot, job.conv, sample, job.tokens, self._sampler(sampling, sample, job.tokens), now
            )
            reuse, donor = self._best_cached(slot, job.tokens)
            candidates = [s for s in running if s.prefilling and not s.follows]
            future = max(candidates, key=lambda s: _shared(s.prompt, job.tokens), default=None)
            if future is not None and _shared(future.prompt, job.tokens) >= reuse + MIN_PREFIX_COPY:
                leader.source = future
                self._kv[slot] = []
            else:
                self._start_prefill(leader, donor, reuse)
            running.append(leader)
            while job.samples and free:
                slot = min(free, key=lambda s: (len(self._kv[s]), s))  # keep the richer caches
                free.remove(slot)
                self._kv[slot] = []
                sample = job.samples.popleft()
                sampler = self._sampler(sampling, sample, job.tokens)
                running.append(_Seq(slot, job.conv, sample, job.tokens, sampler, now, leader, follows=True))
            if not job.samples:
                jobs.popleft()

    def _best_cached(self, slot: int, prompt: list[int]) -> tuple[int, int | None]:
        """Prompt tokens reusable in ``slot`` itself, or more from a donor slot (not mid-copy)."""
        reuse, donor = _shared(self._kv[slot], prompt), None
        for other in range(self.max_batch):
            if other != slot and other not in self._pending:
                shared = _shared(self._kv[other], prompt)
                if shared >= reuse + MIN_PREFIX_COPY:
                    reuse, donor = shared, other
        return reuse, donor

    def _start_prefill(self, seq: _Seq, donor: int | None, reuse: int) -> None:
        if donor is not None:  # whole-stream copy (llama.cpp performs it before the next decode)
            ll.llama_memory_seq_cp(self._mem, donor, seq.slot, -1, -1)
            self._pending.add(seq.slot)
        if not ll.llama_memory_seq_rm(self._mem, seq.slot, reuse, -1):
            ll.llama_memory_seq_rm(self._mem, seq.slot, -1, -1)  # this model can't cut a sequence
            reuse = 0
        self._kv[seq.slot] = seq.prompt[:reuse]
        seq.prompt_left, seq.pos = seq.prompt[reuse:], reuse
        self.stats["reused"] += reuse
        self.stats["prefilled"] += seq.n_prompt - reuse

    def _run(
        self, jobs: deque[_Job], sampling: SamplingParams, results: list[list[Completion | None]]
    ) -> None:
        """The continuous-batching loop over all pending samples."""
        free = list(range(self.max_batch))
        running: list[_Seq] = []
        clean = False
        try:
            while jobs or running:
                self._admit(jobs, free, sampling, running)
                outputs = self._fill_batch(running)
                status = ll.llama_decode(self._ctx, self._batch)
                self._pending.clear()
                if status != 0:
                    message = f"llama_decode failed with status {status}"
                    for seq in running:
                        results[seq.conv][seq.sample] = Completion("", "error", seq.n_prompt, error=message)
                        ll.llama_sampler_free(seq.sampler)
                    running = []
                    free[:] = range(self.max_batch)
                    self._forget_cache()
                    continue
                for seq, index in outputs:
                    for target in [seq, *self._hand_over(seq, running)]:
                        token = ll.llama_sampler_sample(target.sampler, self._ctx, index)
                        done = self._accept(target, token, sampling)
                        if done is not None:  # the slot keeps its KV as a prefix cache
                            results[target.conv][target.sample] = done
                            ll.llama_sampler_free(target.sampler)
                            running.remove(target)
                            free.append(target.slot)
                self._release_waiters(running)
            clean = True
        finally:
            for seq in running:
                ll.llama_sampler_free(seq.sampler)
            if not clean:  # interrupted mid-step: the cache bookkeeping may be off by a batch
                self._forget_cache()

    def _fill_batch(self, running: list[_Seq]) -> list[tuple[_Seq, int]]:
        """One batch: a token for each decoding sequence, then prompt chunks up to ``n_batch``."""
        batch, n = self._batch, 0
        outputs: list[tuple[_Seq, int]] = []
        for seq in running:
            if not seq.prefilling:
                self._put(n, seq.last, seq, True)
                outputs.append((seq, n))
                n += 1
        for seq in running:
            if seq.source is None and seq.prompt_left and n < self.n_batch:
                chunk = seq.prompt_left[: self.n_batch - n]
                seq.prompt_left = seq.prompt_left[len(chunk) :]
                for j, token in enumerate(chunk):
                    self._put(n, token, seq, not seq.prompt_left and j == len(chunk) - 1)
                    n += 1
                if not seq.prompt_left:
                    outputs.append((seq, n - 1))
        batch.n_tokens = n
        return outputs

    def _put(self, i: int, token: int, seq: _Seq, logits: bool) -> None:
        batch = self._batch
        batch.token[i] = token
        batch.pos[i] = seq.pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq.slot
        batch.logits[i] = logits
        self._kv[seq.slot].append(token)
        seq.pos += 1

    def _hand_over(self, leader: _Seq, running: list[_Seq]) -> list[_Seq]:
        """After a prefill: give the conversation's waiting samples a copy of the prompt's KV."""
        followers = [s for s in running if s.source is leader and s.follows]
        for follower in followers:
            ll.llama_memory_seq_cp(self._mem, leader.slot, follower.slot, -1, -1)
            self._pending.add(follower.slot)
            self._kv[follower.slot] = list(self._kv[leader.slot])
            self.stats["reused"] += follower.n_prompt
            follower.pos = leader.pos
            follower.source = None
        return followers

    def _release_waiters(self, running: list[_Seq]) -> None:
        """Start the prefill of sequences whose shared prefix is now in some slot's cache."""
        for seq in running:
            source = seq.source
            if source is None or seq.follows or source.slot in self._pending:
                continue
            if source in running and source.prefilling:
                wanted = _shared(source.prompt, seq.prompt)
                if _shared(self._kv[source.slot], seq.prompt) < wanted:
                    continue  # the source has not decoded the shared part yet
            seq.source = None
            reuse, donor = self._best_cached(seq.slot, seq.prompt)
            self._start_prefill(seq, donor, reuse)

    def clear_prefix_cache(self) -> None:
        """Forget the KV kept from earlier prompts (benchmarks use it to time a cold prefill)."""
        with self._lock:
            if self._ctx is not None:
                self._forget_cache()

    def _forget_cache(self) -> None:
        ll.llama_memory_clear(self._mem, False)
        self._kv = [[] for _ in range(self.max_batch)]
        self._pending.clear()

    def _accept(self, seq: _Seq, token: int, sampling: SamplingParams) -> Completion | None:
        """Record a sampled token; return the finished Completion, or None to continue."""
        seq.out.append(token)
        seq.last = token
        self.stats["generated"] += 1
        if ll.llama_vocab_is_eog(self._vocab, token):
            return self._finish(seq, bytes(seq.data), "stop")
        seq.data += self._piece(token)
        if sampling.stop:
            text = seq.data.decode("utf-8", errors="ignore")
            cut = stop_index(text, sampling.stop)
            if cut is not None:
                return self._finish(seq, text[:cut].encode(), "stop")
        if sampling.stop_after_code and b"\n" in self._piece(token):
            text = seq.data.decode("utf-8", errors="ignore")
            cut = code_stop_index(text, complete=False)
            if cut is not None:
                return self._finish(seq, text[:cut].encode(), "stop")
        if len(seq.out) >= sampling.max_tokens or seq.pos + 1 >= self.n_ctx:
            return self._finish(seq, bytes(seq.data), "length")
        return None

    def _finish(self, seq: _Seq, data: bytes, reason: str) -> Completion:
        return Completion(
            text=data.decode("utf-8", errors="replace"),
            finish_reason=reason,
            prompt_tokens=seq.n_prompt,
            completion_tokens=len(seq.out),
            seconds=time.perf_counter() - seq.started,
        )

    # ----------------------------------------------------------------------------------------
    # Lifetime
    # ----------------------------------------------------------------------------------------

    def close(self) -> None:
        """Free the batch, context and model (idempotent)."""
        with self._lock:
            if self._batch is not None:
                ll.llama_batch_free(self._batch)
                self._batch = None
            if self._ctx is not None:
                ll.llama_free(self._ctx)
                self._ctx = None
            if self._model is not None:
                ll.llama_model_free(self._model)
                self._model = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: the library may be gone
            self.close()

    def __repr__(self) -> str:
        return f"LlamaCppEngine({self.model_id!r}, n_ctx={self.n_ctx}, max_batch={self.max_batch})"


def _copy(completion: Completion) -> Completion:
    return Completion(**completion.to_dict())


def build(reference: str, options: EngineOptions) -> LlamaCppEngine:
    """The ``llamacpp`` backend's engine (:mod:`criticlab.llm.backends`): the profile's context per
    sequence, threads and parallel sequences."""
    return LlamaCppEngine(
        reference, n_ctx=options.context_length, threads=options.threads, max_batch=options.parallel
    )

"""Trained checkpoints as GGUF files, so llama.cpp serves a trained critic at the embedded models' speed.

Notebooks 04 and 05 save the critic as a transformers checkpoint (or a LoRA adapter). transformers
generates on a CPU several times slower than llama.cpp, so evaluation with a trained critic would
cost most of a CPU run. :func:`gguf_for_checkpoint` writes the checkpoint as a GGUF file with the
``gguf`` package (a dependency on PyPI, maintained with llama.cpp) and caches it:

- LoRA adapters are merged into their base first (peft's ``merge_and_unload``);
- architectures: ``LlamaForCausalLM`` (SmolLM2) and ``Qwen2ForCausalLM`` (Qwen2.5-Coder). Weights
  are renamed with gguf's own tensor-name map; llama.cpp's ``llama`` graph applies rotary
  embeddings to interleaved pairs where transformers rotates halves, so the query and key rows of
  a Llama model are reordered to match (Qwen2's graph rotates halves, as transformers does);
- the tokenizer: a fine-tuned checkpoint keeps the tokenizer of the model it started from, and the
  CPU profiles start from the embedded GGUF models, so the tokenizer metadata (vocabulary, merges,
  token types, special tokens, and llama.cpp's pre-tokenizer name, which only llama.cpp's own
  converter can otherwise work out) is copied from the embedded model whose vocabulary equals the
  checkpoint's. A checkpoint with any other tokenizer is refused with a message saying so;
- the chat template is the checkpoint's own when it has one;
- precision ``f32``, ``f16`` (default) or ``q8_0``; one-dimensional tensors (norms, biases) stay f32.

The cache is keyed by the checkpoint's content (every file's bytes) and the precision, under the
model cache directory; a file is written under a temporary name and renamed once complete.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from criticlab.llm import models
from criticlab.llm.base import EngineError

FORMAT_VERSION = 1
"""Part of the cache key: bump when the written file changes for the same checkpoint."""

ARCHITECTURES = {"LlamaForCausalLM": "LLAMA", "Qwen2ForCausalLM": "QWEN2"}
PRECISIONS = ("f32", "f16", "q8_0")
CACHE_SUBDIR = "checkpoints-gguf"


class ConversionError(EngineError):
    """A checkpoint that cannot be written as GGUF; the message says what stops it."""


def conversion_available() -> str | None:
    """None when checkpoints can be converted here, else why not (the ``gguf`` package is missing)."""
    try:
        import gguf  # noqa: F401
    except ImportError as err:
        return f"the gguf package is not installed ({err})"
    return None


def checkpoint_hash(directory: str | os.PathLike) -> str:
    """SHA-256 over the names and bytes of every file of a checkpoint directory (sorted)."""
    digest = hashlib.sha256(f"criticlab-gguf-{FORMAT_VERSION}".encode())
    root = Path(directory)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def gguf_for_checkpoint(
    directory: str | os.PathLike, precision: str = "f16", cache: str | os.PathLike | None = None
) -> Path:
    """The cached GGUF file of a checkpoint (or LoRA adapter) directory, converting it on first use."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise ConversionError(f"{directory} is not a checkpoint directory")
    why = conversion_available()
    if why:
        raise ConversionError(why)
    root = Path(cache) if cache else models.cache_dir() / CACHE_SUBDIR
    target = root / f"{directory.name}-{checkpoint_hash(directory)[:16]}-{precision}.gguf"
    if target.is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".convert.") as work:
        source = _merged(directory, Path(work)) if _is_adapter(directory) else directory
        partial = Path(work) / target.name
        write_gguf(source, partial, precision)
        os.replace(partial, target)
    return target


def _is_adapter(directory: Path) -> bool:
    return (directory / "adapter_config.json").is_file() and not (directory / "config.json").is_file()


def _merged(adapter: Path, work: Path) -> Path:
    """Merge a LoRA adapter into its base model and save the result (with the tokenizer) in ``work``."""
    import torch
    from peft import PeftModel

    from criticlab.llm.hf import load_model

    model, tokenizer, _, adapter_dir = load_model(str(adapter), torch.float32)
    merged = PeftModel.from_pretrained(model, adapter_dir or str(adapter)).merge_and_unload()
    out = work / "merged"
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@dataclass(frozen=True)
class _Shape:
    arch: str
    blocks: int
    heads: int
    kv_heads: int
    head_dim: int
    config: dict[str, Any]


def _shape(config: dict[str, Any], where: Path) -> _Shape:
    names = config.get("architectures") or []
    arch = next((ARCHITECTURES[n] for n in names if n in ARCHITECTURES), None)
    if arch is None:
        raise ConversionError(
            f"{where / 'config.json'}: architecture {names} is not one this converter writes "
            f"({', '.join(ARCHITECTURES)})"
        )
    heads = int(config["num_attention_heads"])
    return _Shape(
        arch,
        int(config["num_hidden_layers"]),
        heads,
        int(config.get("num_key_value_heads") or heads),
        int(config.get("head_dim") or config["hidden_size"] // heads),
        config,
    )


def _rope_theta(config: dict[str, Any]) -> float:
    params = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if params.get("rope_type", "default") not in ("default", None):
        raise ConversionError(f"rope scaling {params.get('rope_type')!r} is not supported by this converter")
    return float(params.get("rope_theta") or config.get("rope_theta") or 10000.0)


def _interleave_rope(weight: np.ndarray, heads: int) -> np.ndarray:
    """Reorder a Llama query/key projection's rows from rotate-half pairs (i, i + d/2) to llama.cpp's
    adjacent pairs (2i, 2i + 1), head by head."""
    rows = weight.shape[0]
    return (
        weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def _load_weights(directory: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise ConversionError(f"{directory} holds no *.safetensors weights")
    weights: dict[str, np.ndarray] = {}
    for file in files:
        try:
            weights.update(load_file(str(file)))
        except Exception as err:  # bfloat16 tensors: numpy has no such type, go through torch
            import torch
            from safetensors.torch import load_file as load_torch

            if "bf16" not in str(err).lower() and "bfloat16" not in str(err).lower():
                raise
            weights.update({k: v.to(torch.float32).numpy() for k, v in load_torch(str(file)).items()})
    return weights


def write_gguf(directory: str | os.PathLike, path: str | os.PathLike, precision: str = "f16") -> Path:
    """Write a (merged) Llama or Qwen2 checkpoint directory as one GGUF file at ``path``."""
    import gguf

    directory, path = Path(directory), Path(path)
    config = json.loads((directory / "config.json").read_text())
    shape = _shape(config, directory)
    arch = getattr(gguf.MODEL_ARCH, shape.arch)
    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[arch])
    try:
        writer.add_name(directory.name)
        writer.add_file_type(
            {
                "f32": gguf.LlamaFileType.ALL_F32,
                "f16": gguf.LlamaFileType.MOSTLY_F16,
                "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
            }[precision]
        )
        writer.add_context_length(int(config.get("max_position_embeddings", 4096)))
        writer.add_embedding_length(int(config["hidden_size"]))
        writer.add_block_count(shape.blocks)
        writer.add_feed_forward_length(int(config["intermediate_size"]))
        writer.add_head_count(shape.heads)
        writer.add_head_count_kv(shape.kv_heads)
        writer.add_rope_dimension_count(shape.head_dim)
        writer.add_key_length(shape.head_dim)
        writer.add_value_length(shape.head_dim)
        writer.add_rope_freq_base(_rope_theta(config))
        writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
        writer.add_vocab_size(int(config["vocab_size"]))
        _add_tokenizer(writer, directory, int(config["vocab_size"]))
        _add_tensors(writer, directory, shape, arch, precision)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    return path


def _add_tensors(writer: Any, directory: Path, shape: _Shape, arch: Any, precision: str) -> None:
    import gguf

    names = gguf.get_tensor_name_map(arch, shape.blocks)
    weights = _load_weights(directory)
    tied = bool(shape.config.get("tie_word_embeddings", False))
    for hf_name, tensor in weights.items():
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp reads the output projection from the token embeddings
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ConversionError(f"{directory}: no GGUF name for tensor {hf_name!r} ({shape.arch})")
        data = tensor.astype(np.float32)
        if shape.arch == "LLAMA" and hf_name.endswith("q_proj.weight"):
            data = _interleave_rope(data, shape.heads)
        elif shape.arch == "LLAMA" and hf_name.endswith("k_proj.weight"):
            data = _interleave_rope(data, shape.kv_heads)
        if data.ndim == 1 or precision == "f32":
            writer.add_tensor(name, data)
        elif precision == "f16":
            writer.add_tensor(name, data.astype(np.float16))
        else:
            kind = gguf.GGMLQuantizationType.Q8_0
            writer.add_tensor(name, gguf.quants.quantize(data, kind), raw_shape=data.shape, raw_dtype=kind)


# --------------------------------------------------------------------------------------------
# Tokenizer: copied from the embedded model with the same vocabulary
# --------------------------------------------------------------------------------------------


def checkpoint_tokens(directory: Path) -> list[str]:
    """The checkpoint's tokens by id (``tokenizer.json``: the BPE vocabulary and added tokens)."""
    path = directory / "tokenizer.json"
    if not path.is_file():
        raise ConversionError(f"{directory} has no tokenizer.json (a fast tokenizer is needed)")
    data = json.loads(path.read_text(encoding="utf-8"))
    by_id = {int(i): t for t, i in data["model"]["vocab"].items()}
    by_id.update({int(t["id"]): t["content"] for t in data.get("added_tokens", [])})
    if sorted(by_id) != list(range(len(by_id))):
        raise ConversionError(f"{path}: token ids are not contiguous")
    return [by_id[i] for i in range(len(by_id))]


@functools.lru_cache(maxsize=4)
def _reader(name: str) -> Any:
    """An embedded model's GGUF, parsed once per process (parsing a 150k-token vocabulary takes seconds)."""
    import gguf

    return gguf.GGUFReader(str(models.fetch(name, quiet=True)))


def _tokenizer_donor(tokens: list[str]) -> Any:
    """A reader of the embedded GGUF model whose token list starts with exactly ``tokens``."""
    tried = []
    for spec in sorted(
        models.REGISTRY.values(), key=lambda spec: spec.size
    ):  # smallest (fastest to read) first
        name = spec.name
        field = _reader(name).fields.get("tokenizer.ggml.tokens")
        count = len(field.data) if field is not None else 0
        tried.append(f"{name} ({count} tokens)")
        if field is not None and count >= len(tokens) and field.contents(slice(0, len(tokens))) == tokens:
            return _reader(name)
    raise ConversionError(
        f"the checkpoint's tokenizer ({len(tokens)} tokens) is not that of an embedded model "
        f"({', '.join(tried)}); only checkpoints trained from an embedded model can be converted"
    )


def _add_tokenizer(writer: Any, directory: Path, vocab_size: int) -> None:
    import gguf

    tokens = checkpoint_tokens(directory)
    donor = _tokenizer_donor(tokens)
    for key, field in donor.fields.items():
        if not key.startswith("tokenizer."):
            continue
        if key == gguf.Keys.Tokenizer.CHAT_TEMPLATE and _chat_template(directory) is not None:
            continue
        main = field.types[0]
        if main == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, field.contents(), main, sub_type=field.types[-1])
        else:
            writer.add_key_value(key, field.contents(), main)
    donor_size = len(donor.fields["tokenizer.ggml.tokens"].data)
    if donor_size != vocab_size:
        raise ConversionError(
            f"{directory}: vocab_size {vocab_size} differs from the embedded model's {donor_size} tokens"
        )
    template = _chat_template(directory)
    if template is not None:
        writer.add_chat_template(template)


def _chat_template(directory: Path) -> str | None:
    jinja = directory / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = directory / "tokenizer_config.json"
    if config.is_file():
        template = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
        if isinstance(template, str):
            return template
    return None

"""Trained checkpoints converted to GGUF: llama.cpp computes what transformers computes.

Tiny randomly initialised Llama (SmolLM2's tokenizer) and Qwen2 (Qwen2.5-Coder's tokenizer)
checkpoints are saved with transformers, converted, and their next-token logits on a chat prompt
compared position by position with the transformers model's: f32 weights within 0.5% of the largest
logit (llama.cpp keeps its KV cache in f16), f16 weights within 3%. A LoRA adapter is merged before
conversion, and conversions are cached by content.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("gguf")

import torch

from criticlab import config
from criticlab.llm import checkpoint_as_gguf, models
from criticlab.llm.gguf_export import (
    ConversionError,
    checkpoint_hash,
    gguf_for_checkpoint,
    write_gguf,
)

SMOL = "smollm2-135m-instruct"
QWEN = "qwen2.5-coder-0.5b-instruct"
CHAT = [{"role": "user", "content": "Write a Python function `add(a, b)` that returns a + b."}]


def tokenizer_of(name: str, tmp: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(models.tokenizer_dir(name)))
    except models.ModelFetchError as err:
        pytest.skip(f"{name} is not available: {err}")


def save_tiny_llama(directory: Path, tmp: Path) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tokenizer_of(SMOL, tmp)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        rope_theta=100000.0,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():  # larger weights than the default init: logits that differ by position
        for p in model.parameters():
            p.mul_(8.0 if p.ndim > 1 else 1.0)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def hf_logits(directory: Path, tokens: list[int]) -> np.ndarray:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch.float32).eval()
    with torch.no_grad():
        return model(torch.tensor([tokens])).logits[0].numpy()


def llamacpp_logits(gguf: Path, tokens: list[int]) -> np.ndarray:
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=256, logits_all=True, verbose=False, n_threads=1)
    llm.eval(tokens)
    return np.array(llm.scores[: len(tokens)])


def prompt_tokens(directory: Path) -> list[int]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(directory))
    return tokenizer.apply_chat_template(CHAT, add_generation_prompt=True, tokenize=True, return_dict=False)


def assert_close(gguf: Path, directory: Path, atol: float) -> None:
    tokens = prompt_tokens(directory)
    expected, got = hf_logits(directory, tokens), llamacpp_logits(gguf, tokens)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < atol * max(1.0, float(np.abs(expected).max()))
    assert (got.argmax(-1) == expected.argmax(-1)).mean() >= 0.95
    assert expected.std(0).mean() > 0.1  # the positions' logits differ: the comparison is not vacuous


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("llama")
    return save_tiny_llama(tmp / "final", tmp)


def test_llama_checkpoint_f32_matches_transformers(tiny_llama, tmp_path) -> None:
    gguf = write_gguf(tiny_llama, tmp_path / "tiny.gguf", "f32")
    assert_close(gguf, tiny_llama, atol=5e-3)


def test_llama_checkpoint_f16_matches_transformers(tiny_llama, tmp_path) -> None:
    gguf = write_gguf(tiny_llama, tmp_path / "tiny16.gguf", "f16")
    assert_close(gguf, tiny_llama, atol=3e-2)


def test_qwen2_checkpoint_f32_matches_transformers(tmp_path) -> None:
    tokenizer_of(QWEN, tmp_path)
    directory = models.save_tiny_qwen2(tmp_path / "qwen")
    gguf = write_gguf(directory, tmp_path / "qwen.gguf", "f32")
    assert_close(gguf, directory, atol=5e-3)


def test_conversions_are_cached_by_content_and_lora_is_merged(tiny_llama, tmp_path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    cache = tmp_path / "cache"
    first = gguf_for_checkpoint(tiny_llama, "f32", cache=cache)
    assert gguf_for_checkpoint(tiny_llama, "f32", cache=cache) == first
    assert [p.name for p in cache.iterdir()] == [first.name]  # no temporary left behind

    base = AutoModelForCausalLM.from_pretrained(str(tiny_llama), dtype=torch.float32)
    lora = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    adapter = tmp_path / "adapter"
    lora.save_pretrained(adapter)
    settings = json.loads((adapter / "adapter_config.json").read_text())
    settings["base_model_name_or_path"] = str(tiny_llama)
    (adapter / "adapter_config.json").write_text(json.dumps(settings))
    merged = gguf_for_checkpoint(adapter, "f32", cache=cache)
    assert merged != first and checkpoint_hash(adapter) != checkpoint_hash(tiny_llama)
    merged_dir = tmp_path / "merged"
    lora.merge_and_unload().save_pretrained(merged_dir)
    tokenizer_of(SMOL, tmp_path).save_pretrained(merged_dir)
    assert_close(merged, merged_dir, atol=5e-3)  # the adapter's change is in the file
    assert (
        np.abs(
            hf_logits(merged_dir, prompt_tokens(merged_dir))
            - hf_logits(tiny_llama, prompt_tokens(merged_dir))
        ).max()
        > 1e-3
    )


def test_profile_serves_a_checkpoint_with_llamacpp_unless_turned_off(
    tiny_llama, monkeypatch, tmp_path
) -> None:
    from criticlab.llm import gguf_export

    monkeypatch.setattr(
        gguf_export, "CACHE_SUBDIR", str(tmp_path / "converted")
    )  # absolute: replaces the cache dir
    cfg = config.load_profile("smoke")
    reference, backend = checkpoint_as_gguf(cfg.models, str(tiny_llama))
    assert (
        backend == "llamacpp"
        and reference.endswith("-f16.gguf")
        and Path(reference).parent == tmp_path / "converted"
    )
    cfg.models.checkpoint_gguf = False
    assert checkpoint_as_gguf(cfg.models, str(tiny_llama)) == (str(tiny_llama), "hf")


def test_unknown_architecture_and_tokenizer_are_refused(tiny_llama, tmp_path) -> None:
    odd = tmp_path / "odd"
    odd.mkdir()
    settings = json.loads((tiny_llama / "config.json").read_text())
    (odd / "config.json").write_text(json.dumps({**settings, "architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(ConversionError, match=r"config.json: architecture \['GPT2LMHeadModel'\]"):
        write_gguf(odd, tmp_path / "odd.gguf")
    (odd / "config.json").write_text(json.dumps(settings))
    for name in ("model.safetensors", "tokenizer_config.json"):
        (odd / name).write_bytes((tiny_llama / name).read_bytes())
    tokens = json.loads((tiny_llama / "tokenizer.json").read_text())
    tokens["model"]["vocab"] = {t: i for t, i in list(tokens["model"]["vocab"].items())}
    first = next(iter(tokens["model"]["vocab"]))
    tokens["model"]["vocab"]["renamed"] = tokens["model"]["vocab"].pop(first)
    tokens["added_tokens"] = [t for t in tokens.get("added_tokens", []) if t["content"] != first]
    (odd / "tokenizer.json").write_text(json.dumps(tokens))
    with pytest.raises(ConversionError, match="not that of an embedded model"):
        write_gguf(odd, tmp_path / "odd.gguf")

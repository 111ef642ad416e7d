"""HFEngine on the tiny random Qwen2 model: batching, seeds, stops, adapters, checkpoints, caching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from criticlab.llm import models
from criticlab.llm.base import SamplingParams
from criticlab.llm.cache import CachedEngine
from criticlab.llm.hf import HFEngine

GREEDY = SamplingParams(temperature=0.0, max_tokens=12)
HOT = SamplingParams(temperature=1.0, top_p=0.9, max_tokens=8, seed=3)


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


A = chat("Write a function that adds two numbers.")
B = chat("What is the capital of France? Please answer in one short sentence.")
C = chat("Sort.")


def tiny_checkpoint() -> Path:
    """The tiny random model as a checkpoint directory (saved once in the model cache)."""
    return models.save_tiny_qwen2(models.cache_dir() / models.TINY_RANDOM)


@pytest.fixture(scope="module")
def tiny() -> HFEngine:
    return HFEngine(tiny_checkpoint(), max_batch=4)


def texts(rows) -> list[list[str]]:
    return [[c.text for c in row] for row in rows]


def test_shape_and_identity(tiny: HFEngine) -> None:
    rows = tiny.generate([A, B, C], HOT, n=3)
    assert [len(r) for r in rows] == [3, 3, 3]
    assert all(c.ok and c.completion_tokens > 0 and c.prompt_tokens > 0 for r in rows for c in r)
    assert tiny.backend == "hf" and tiny.model_id.startswith(
        f"{models.TINY_RANDOM}@"
    )  # a checkpoint: its weights
    assert tiny.generate([], HOT) == []


def test_greedy_is_deterministic_and_samples_repeat(tiny: HFEngine) -> None:
    alone = tiny.generate([A], GREEDY, n=2)[0]
    assert alone[0].text == alone[1].text
    assert tiny.generate([A], GREEDY)[0][0].text == alone[0].text
    batched = tiny.generate([C, A, B], GREEDY)
    assert batched[1][0].text == alone[0].text  # left padding does not change this prompt's argmax


def test_seeds(tiny: HFEngine) -> None:
    first = tiny.generate([A], HOT, n=3)[0]
    assert len({c.text for c in first}) == 3
    assert texts([tiny.generate([A], HOT, n=3)[0]]) == texts([first])
    assert tiny.generate([A], HOT.with_(seed=HOT.seed + 1))[0][0].text == first[1].text
    assert texts([tiny.generate([B, A], HOT, n=3)[1]]) == texts([first])


def test_max_tokens_and_stop_strings(tiny: HFEngine) -> None:
    full = tiny.generate([B], HOT.with_(max_tokens=10))[0][0]
    assert full.finish_reason == "length" and full.completion_tokens == 10
    stop = full.text[len(full.text) // 2 : len(full.text) // 2 + 2]
    cut = tiny.generate([B], HOT.with_(max_tokens=10, stop=(stop,)))[0][0]
    assert cut.finish_reason == "stop" and cut.text == full.text[: full.text.find(stop)]
    assert cut.completion_tokens <= 10


def test_overlong_prompt_is_an_error_and_the_batch_goes_on(tiny: HFEngine) -> None:
    rows = tiny.generate([A, chat("word " * 4200)], GREEDY.with_(max_tokens=3))
    assert rows[0][0].ok
    bad = rows[1][0]
    assert bad.finish_reason == "error" and "context is 4096" in bad.error and bad.prompt_tokens > 4096


def test_checkpoint_directory_loads(tiny: HFEngine, tmp_path: Path) -> None:
    directory = models.save_tiny_qwen2(tmp_path / "ckpt")
    engine = HFEngine(str(directory), max_batch=2)
    assert engine.model_id.startswith("ckpt@")
    assert texts(engine.generate([A], GREEDY)) == texts(tiny.generate([A], GREEDY))


def test_lora_adapter_loads_and_changes_the_model(tiny: HFEngine, tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model

    base, _ = models.build_tiny_qwen2()
    config = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    adapter = tmp_path / "adapter"
    get_peft_model(base, config).save_pretrained(adapter)
    engine = HFEngine(tiny_checkpoint(), adapter=str(adapter))
    assert engine.model_id.startswith(f"{models.TINY_RANDOM}+adapter@")
    with_adapter = engine.generate([A, B], GREEDY)
    assert all(r[0].ok for r in with_adapter)
    assert texts(with_adapter) != texts(tiny.generate([A, B], GREEDY))
    # an adapter directory alone names its base model
    settings = json.loads((adapter / "adapter_config.json").read_text())
    settings["base_model_name_or_path"] = str(tiny_checkpoint())
    (adapter / "adapter_config.json").write_text(json.dumps(settings))
    assert texts(HFEngine(str(adapter)).generate([A, B], GREEDY)) == texts(with_adapter)


def test_cached_engine_reuses_answers(tiny: HFEngine, tmp_path: Path) -> None:
    cached = CachedEngine(tiny, tmp_path / "cache.sqlite")
    first = cached.generate([A, B], HOT, n=2)
    calls = cached.calls
    assert calls == 4
    second = cached.generate([A, B], HOT, n=2)
    assert cached.calls == calls and texts(second) == texts(first)
    assert all(c.cached for r in second for c in r)


def test_in_memory_model_needs_a_tokenizer_and_gets_a_weights_id() -> None:
    from criticlab.llm.base import EngineError

    model, tokenizer = models.build_tiny_qwen2()
    with pytest.raises(EngineError, match="tokenizer"):
        HFEngine(model)
    engine = HFEngine(model, tokenizer=tokenizer)
    assert "@" in engine.model_id
    same, _ = models.build_tiny_qwen2()
    assert HFEngine(same, tokenizer=tokenizer).model_id == engine.model_id
    other, _ = models.build_tiny_qwen2(seed=1)
    assert HFEngine(other, tokenizer=tokenizer).model_id != engine.model_id
    model.train()  # generating from a model mid-training leaves it in training mode
    assert engine.generate([A], GREEDY.with_(max_tokens=2))[0][0].ok and model.training
    engine.close()
    with pytest.raises(EngineError, match="closed"):
        engine.generate([A], GREEDY)


def test_gguf_is_dequantized_once_then_loaded_from_the_safetensors_cache(
    tiny: HFEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """transformers' GGUF loading (minutes for real files) is faked; the caching around it is real."""
    from types import SimpleNamespace

    from criticlab.llm import hf

    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF")
    dequantized: list[str] = []
    load_model, load_tokenizer = hf.AutoModelForCausalLM.from_pretrained, hf.AutoTokenizer.from_pretrained

    def model_from(source: str, gguf_file: str | None = None, **kwargs):
        if gguf_file is None:
            return load_model(source, **kwargs)
        dequantized.append(gguf_file)
        model, _ = models.build_tiny_qwen2()
        # what transformers leaves on a model loaded from GGUF: it then refuses to save it
        model.hf_quantizer = SimpleNamespace(quantization_config=SimpleNamespace(dequantize=True))
        return model

    def tokenizer_from(source: str, gguf_file: str | None = None, **kwargs):
        return load_tokenizer(str(models.tokenizer_dir()) if gguf_file else source, **kwargs)

    monkeypatch.setattr(hf.AutoModelForCausalLM, "from_pretrained", model_from)
    monkeypatch.setattr(hf.AutoTokenizer, "from_pretrained", tokenizer_from)
    monkeypatch.setattr(hf, "gguf_cache_dir", lambda path: tmp_path / "cache" / f"{path.stem}-hf")
    first = HFEngine(str(gguf))
    second = HFEngine(str(gguf))
    assert dequantized == ["fake.gguf"] and (tmp_path / "cache" / "fake-hf" / "config.json").is_file()
    assert first.model_id == second.model_id and first.model_id.startswith("fake.gguf@")
    assert texts(second.generate([A], GREEDY)) == texts(tiny.generate([A], GREEDY))


def test_repetition_penalty_skips_left_padding() -> None:
    """vLLM's rule on each row's own tokens: a seen token's positive logit divided by the penalty,
    a negative one multiplied; the left padding of a shorter row is not one of its tokens."""
    from criticlab.llm.hf import RepetitionPenalty

    ids = torch.tensor([[0, 0, 5, 6], [1, 2, 3, 4]])
    scores = torch.tensor([[4.0, 1.0, 1.0, 1.0, 1.0, 4.0, -2.0], [4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]])
    out = RepetitionPenalty(2.0, starts=[2, 0])(ids, scores)
    assert out[0].tolist() == [4.0, 1.0, 1.0, 1.0, 1.0, 2.0, -4.0]  # pad id 0 untouched
    assert out[1].tolist() == [4.0, 2.0, 2.0, 2.0, 2.0, 4.0, 4.0]
    assert scores[0, 5] == 4.0  # the input is not changed in place


def test_repetition_penalty_changes_greedy_answers(tiny: HFEngine) -> None:
    plain = tiny.generate([A], GREEDY)[0][0].text
    assert tiny.generate([A], GREEDY.with_(repetition_penalty=1.0))[0][0].text == plain
    assert tiny.generate([A], GREEDY.with_(repetition_penalty=5.0))[0][0].text != plain

"""LlamaCppEngine on the real embedded GGUF models: batching, seeds, stops, errors, caching.

SmolLM2-135M carries most tests (it is small); one short run covers the Qwen 0.5B default.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

from criticlab.llm import models
from criticlab.llm.base import EngineError, SamplingParams, code_stop_index
from criticlab.llm.cache import CachedEngine
from criticlab.llm.llamacpp import LlamaCppEngine

SMOL = "smollm2-135m-instruct"
QWEN = "qwen2.5-coder-0.5b-instruct"

GREEDY = SamplingParams(temperature=0.0, max_tokens=24)
HOT = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=12, seed=7)


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


A = chat("Write a Python function that adds two numbers.")
B = chat("What is the capital of France?")
C = chat("Name three sorting algorithms.")


def model_path(name: str) -> Path:
    try:
        return Path(models.fetch(name, quiet=True))
    except models.ModelFetchError as err:
        pytest.skip(f"{name} is not available: {err}")


@pytest.fixture(scope="module")
def smol():
    model_path(SMOL)
    with LlamaCppEngine(SMOL, n_ctx=512, max_batch=4) as engine:
        yield engine


def texts(rows) -> list[list[str]]:
    return [[c.text for c in row] for row in rows]


def test_shape_counts_and_identity(smol: LlamaCppEngine) -> None:
    rows = smol.generate([A, B, C], HOT, n=3)
    assert [len(row) for row in rows] == [3, 3, 3]
    for row in rows:
        assert all(c.ok and c.completion_tokens > 0 and c.seconds > 0 for c in row)
        assert len({c.prompt_tokens for c in row}) == 1 and row[0].prompt_tokens > 10
    assert smol.backend == "llamacpp" and smol.model_id == SMOL
    assert smol.generate([], HOT) == []


def test_model_id_is_the_registry_name_whatever_the_reference() -> None:
    with LlamaCppEngine(str(model_path(SMOL)), n_ctx=64, max_batch=1) as engine:
        assert engine.model_id == SMOL


def test_chat_template_comes_from_the_gguf(smol: LlamaCppEngine) -> None:
    prompt = smol.apply_chat_template(B)
    assert prompt.endswith(
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_greedy_is_deterministic_alone_or_in_a_batch(smol: LlamaCppEngine) -> None:
    alone = smol.generate([A], GREEDY)[0][0]
    again = smol.generate([A], GREEDY)[0][0]
    batched = smol.generate([B, A, C, B, C], GREEDY)  # 5 sequences > 4 slots: slots are reused
    assert alone.text == again.text and alone.text
    assert batched[1][0].text == alone.text
    assert batched[0][0].text == batched[3][0].text and batched[2][0].text == batched[4][0].text


def test_greedy_samples_are_all_the_same(smol: LlamaCppEngine) -> None:
    row = smol.generate([B], GREEDY, n=3)[0]
    assert len({c.text for c in row}) == 1


def test_seeds(smol: LlamaCppEngine) -> None:
    first = smol.generate([A], HOT, n=4)[0]
    assert len({c.text for c in first}) > 1, "different seeds should give different samples"
    assert texts([first]) == texts([smol.generate([A], HOT, n=4)[0]])
    # sample i is seeded with seed + i, whatever else runs: alone, shifted seed, or in a batch
    shifted = smol.generate([A], HOT.with_(seed=HOT.seed + 2), n=1)[0][0]
    assert shifted.text == first[2].text
    mixed = smol.generate([C, A, B], HOT, n=4)
    assert texts([mixed[1]]) == texts([first])
    assert smol.generate([A], HOT.with_(seed=99), n=1)[0][0].text != first[0].text


def test_max_tokens_gives_length(smol: LlamaCppEngine) -> None:
    completion = smol.generate([chat("Write a long essay about rivers.")], GREEDY.with_(max_tokens=5))[0][0]
    assert completion.finish_reason == "length" and completion.completion_tokens == 5


def test_end_of_turn_stops(smol: LlamaCppEngine) -> None:
    completion = smol.generate([chat("Say hello.")], GREEDY.with_(max_tokens=100))[0][0]
    assert completion.finish_reason == "stop" and 0 < completion.completion_tokens < 100
    assert "<|im_end|>" not in completion.text and "Hello" in completion.text


def test_stop_strings_cut_the_text(smol: LlamaCppEngine) -> None:
    full = smol.generate([A], GREEDY)[0][0].text
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    assert stop.strip(), full
    cut = smol.generate([A], GREEDY.with_(stop=("NEVER-THERE", stop)))[0][0]
    assert cut.finish_reason == "stop"
    assert cut.text == full[: full.find(stop)]


def test_overlong_prompt_is_an_error_and_the_batch_goes_on(smol: LlamaCppEngine) -> None:
    rows = smol.generate([A, chat("word " * 600), B], GREEDY, n=2)
    bad = rows[1]
    assert all(c.finish_reason == "error" and not c.ok for c in bad)
    assert "context is 512" in bad[0].error and f"has {bad[0].prompt_tokens} tokens" in bad[0].error
    assert bad[0].prompt_tokens > 512
    assert all(c.ok for c in rows[0] + rows[2])


def test_cached_engine_reuses_answers(smol: LlamaCppEngine, tmp_path: Path) -> None:
    cached = CachedEngine(smol, tmp_path / "cache.sqlite")
    first = cached.generate([A, B], HOT, n=2)
    calls = cached.calls
    assert calls == 4
    second = cached.generate([A, B], HOT, n=2)
    assert cached.calls == calls
    assert texts(second) == texts(first) and all(c.cached for row in second for c in row)


def test_close_is_idempotent_and_final() -> None:
    engine = LlamaCppEngine(SMOL, n_ctx=64, max_batch=1)
    engine.close()
    engine.close()
    with pytest.raises(EngineError):
        engine.generate([A], GREEDY)


def test_not_a_gguf_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="hf backend"):
        LlamaCppEngine(str(tmp_path))
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model")
    with pytest.raises(EngineError, match="could not load"):
        LlamaCppEngine(str(bogus))


def test_qwen_short_batched_run() -> None:
    model_path(QWEN)
    with LlamaCppEngine(QWEN, n_ctx=256, max_batch=4) as engine:
        assert engine.model_id == QWEN
        rows = engine.generate([A, B], HOT.with_(max_tokens=6), n=2)
        assert [len(r) for r in rows] == [2, 2] and all(c.ok for r in rows for c in r)
        greedy = SamplingParams(temperature=0.0, max_tokens=8)
        assert engine.generate([B, A], greedy)[1][0].text == engine.generate([A], greedy)[0][0].text


def test_prefix_cache_reuses_prompts_without_changing_answers(smol: LlamaCppEngine) -> None:
    follow_up = [
        *A,
        {"role": "assistant", "content": "def add(a, b):\n    return a + b"},
        *chat("Add a docstring."),
    ]
    smol.generate([A], GREEDY)
    before = dict(smol.stats)
    warm = smol.generate([follow_up, A], GREEDY)
    reused = smol.stats["reused"] - before["reused"]
    assert reused >= len(smol.tokenize(smol.apply_chat_template(A)))  # both found most of A's prompt cached
    with LlamaCppEngine(SMOL, n_ctx=512, max_batch=4) as fresh:
        assert texts(fresh.generate([follow_up, A], GREEDY)) == texts(warm)


def test_conversations_admitted_together_share_their_common_prefix(smol: LlamaCppEngine) -> None:
    system = {"role": "system", "content": "You are a careful reviewer of Python code. " * 6}
    convs = [[system, *chat(q)] for q in ("Is 1 odd?", "Is 2 odd?", "Is 3 odd?")]
    shared = len(smol.tokenize(smol.apply_chat_template([system])))
    smol.clear_prefix_cache()
    before = dict(smol.stats)
    together = smol.generate(convs, GREEDY)
    assert smol.stats["reused"] - before["reused"] >= 2 * (shared - 4)  # the 2nd and 3rd copy the prefix
    alone = []
    for conv in convs:
        smol.clear_prefix_cache()
        alone.append(smol.generate([conv], GREEDY)[0])
    assert texts(together) == texts(alone)


def test_concurrent_callers_are_serialised(smol: LlamaCppEngine) -> None:
    import threading

    expected = texts(smol.generate([A, B], HOT))
    got: list[list[list[str]]] = []
    threads = [
        threading.Thread(target=lambda: got.append(texts(smol.generate([A, B], HOT)))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == [expected] * 3


def test_stop_after_code_ends_at_the_first_code_block(smol: LlamaCppEngine) -> None:
    sampling = GREEDY.with_(max_tokens=160)
    full = smol.generate([A], sampling)[0][0]
    end = code_stop_index(full.text)
    assert end is not None and len(full.text) > end + 20, f"expected code then prose, got {full.text!r}"
    cut = smol.generate([A], sampling.with_(stop_after_code=True))[0][0]
    assert cut.text == full.text[:end] and cut.text.endswith("```")
    assert cut.finish_reason == "stop" and cut.completion_tokens < full.completion_tokens


def test_repetition_penalty_counts_the_prompt_and_the_answer(smol: LlamaCppEngine) -> None:
    """vLLM's repetition penalty on llama.cpp: a penalty of 1.0 is no penalty; a strong one moves
    the greedy answer away from the tokens already seen, the prompt's included."""
    echo = chat("Repeat after me, exactly: the cat sat on the mat, the cat sat on the mat.")
    plain = smol.generate([echo], GREEDY.with_(max_tokens=24))[0][0].text
    assert smol.generate([echo], GREEDY.with_(max_tokens=24, repetition_penalty=1.0))[0][0].text == plain
    penalised = smol.generate([echo], GREEDY.with_(max_tokens=24, repetition_penalty=3.0), n=2)[0]
    assert penalised[0].text != plain and penalised[0].text == penalised[1].text
    assert plain.lower().count("cat") > penalised[0].text.lower().count("cat")

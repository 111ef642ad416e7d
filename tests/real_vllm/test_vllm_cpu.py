"""The vllm backend against the real vLLM, on the CPU build (``make setup-vllm``; ``.venv-vllm``).

One engine of the embedded 0.5B coder serves the module (its start-up is most of the time): chat
templates, seeded samples, stopping after the code block, a LoRA critic as a request, an over-long
prompt in a batch. The last test closes it and starts a second engine in the same process.
In the main venv, without vLLM, the module is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="vLLM is installed in .venv-vllm (make setup-vllm)")

from criticlab.llm import models
from criticlab.llm.adapters import read_adapter
from criticlab.llm.backends import EngineOptions, get_backend
from criticlab.llm.base import SamplingParams, code_block_span
from criticlab.llm.vllm_engine import LoRAEngine, VLLMEngine, servable

MODEL = models.QWEN_CODER_05B.name
CONTEXT = 1024
TASK = [
    {"role": "system", "content": "You are a helpful Python programmer."},
    {"role": "user", "content": "Write a Python function `add(a, b)` that returns a + b, in one code block."},
]
OPEN = [{"role": "user", "content": "Write one short sentence about the sea."}]


@pytest.fixture(scope="module")
def engine() -> Iterator[VLLMEngine]:
    options = EngineOptions(context_length=CONTEXT, lora_rank=8, kv_cache_gb=1.0, seed=0)
    built = get_backend("vllm").build(MODEL, options)
    yield built
    built.close()


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rank-8 LoRA adapter of the 0.5B with random (not zero) B matrices, so it changes answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = servable(MODEL)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    torch.manual_seed(0)
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, weight in peft_model.named_parameters():
            if "lora_B" in name:
                weight.normal_(0, 0.05)
    path = tmp_path_factory.mktemp("critic") / "final"
    peft_model.save_pretrained(path)
    return path


def test_the_embedded_model_is_served_from_its_converted_checkpoint(engine: VLLMEngine) -> None:
    assert engine.model_id == MODEL and engine.backend == "vllm"
    converted = Path(servable(MODEL))
    assert (converted / "config.json").is_file() and (converted / "chat_template.jinja").is_file()
    assert converted.name.startswith("qwen2.5-coder-0.5b-instruct-q4_k_m-")


def test_chat_template_and_a_greedy_answer(engine: VLLMEngine) -> None:
    [[answer]] = engine.generate([TASK], SamplingParams(temperature=0.0, max_tokens=96, stop_after_code=True))
    assert answer.ok, answer
    block = code_block_span(answer.text)
    assert block is not None and "def add" in answer.text[block.start : block.end]
    # the prompt is the model's chat template: system and user turns, and the assistant's header
    assert answer.prompt_tokens == engine.prompt_length(TASK) and answer.prompt_tokens > 20
    assert "<|im_start|>" not in answer.text


def test_samples_are_seeded_per_index(engine: VLLMEngine) -> None:
    sampling = SamplingParams(temperature=1.0, top_p=1.0, max_tokens=24, seed=11)
    first = [c.text for c in engine.generate([OPEN], sampling, n=3)[0]]
    again = [c.text for c in engine.generate([OPEN], sampling, n=3)[0]]
    assert first == again  # same seeds, same answers
    assert len(set(first)) > 1  # sample i is seeded with seed + i: not one answer copied
    shifted = [c.text for c in engine.generate([OPEN], sampling.with_(seed=12), n=2)[0]]
    assert shifted == first[1:]  # seed 12's sample 0 is seed 11's sample 1


def test_greedy_samples_decode_once(engine: VLLMEngine) -> None:
    before = engine.meter.sequences
    row = engine.generate([OPEN], SamplingParams(temperature=0.0, max_tokens=16), n=3)[0]
    assert len({c.text for c in row}) == 1 and engine.meter.sequences - before == 1


EXPLAINED = [{"role": "user", "content": TASK[1]["content"] + " Then explain it in three sentences."}]
BASH_FIRST = [
    {
        "role": "user",
        "content": "First show the shell command to install numpy in a ```bash block, "
        "then a Python function add(a, b) in a ```python block.",
    }
]


def test_stop_after_code(engine: VLLMEngine) -> None:
    """Ends at the closing fence of the first Python block, generating no further; a fence that
    closed a block of another language is passed and the answer continued from there. (The
    continuation can differ from an answer never stopped: the stop string may end inside a token,
    ``\n\n`` after a fence, and the rest is then generated from the shorter text.)"""
    sampling = SamplingParams(temperature=0.0, max_tokens=150)
    free, bash_free = (row[0] for row in engine.generate([EXPLAINED, BASH_FIRST], sampling))
    cut, bash_cut = (
        row[0] for row in engine.generate([EXPLAINED, BASH_FIRST], sampling.with_(stop_after_code=True))
    )

    block = code_block_span(free.text)
    assert block is not None and block.close is not None
    assert cut.text == free.text[: block.close] and cut.finish_reason == "stop"
    assert cut.completion_tokens < free.completion_tokens  # it stopped generating, not only cut

    first_close = bash_free.text.find("```\n", bash_free.text.find("```bash"))
    assert bash_free.text.find("```bash") >= 0 and first_close > 0, bash_free.text
    assert "```python" not in bash_free.text[:first_close], bash_free.text
    assert bash_cut.text.startswith(bash_free.text[: first_close + 4])
    assert len(bash_cut.text) > first_close + 4  # it went on past the bash block's closing fence
    block = code_block_span(bash_cut.text)
    if block is not None and block.close is not None:  # a Python block came: the answer ends with it
        assert len(bash_cut.text) == block.close and bash_cut.finish_reason == "stop"
    else:
        assert bash_cut.finish_reason == "length" and bash_cut.completion_tokens == sampling.max_tokens


def test_an_over_long_prompt_is_its_own_error_sample(engine: VLLMEngine) -> None:
    long = [{"role": "user", "content": "word " * (CONTEXT + 50)}]
    rows = engine.generate([TASK, long, OPEN], SamplingParams(temperature=0.0, max_tokens=8), n=2)
    assert [c.ok for c in rows[0]] == [True, True] and [c.ok for c in rows[2]] == [True, True]
    assert [c.finish_reason for c in rows[1]] == ["error", "error"]
    assert "no room to generate" in rows[1][0].error and rows[1][0].prompt_tokens > CONTEXT


def test_a_lora_critic_is_a_request_on_the_base_engine(engine: VLLMEngine, adapter_dir: Path) -> None:
    adapter = read_adapter(adapter_dir)
    assert adapter is not None and adapter.rank == 8
    critic = get_backend("vllm").with_adapter(engine, adapter)
    assert isinstance(critic, LoRAEngine) and critic.model_id == f"{MODEL}+{adapter.name}"
    sampling = SamplingParams(temperature=0.0, max_tokens=24)
    base = engine.generate([OPEN], sampling)[0][0].text
    tuned = critic.generate([OPEN], sampling)[0][0].text
    assert tuned != base  # the adapter's weights took part
    assert critic.generate([OPEN], sampling)[0][0].text == tuned
    assert engine.generate([OPEN], sampling)[0][0].text == base  # the base engine is untouched


def test_rl_rollouts_are_token_ids_and_their_logprobs(engine: VLLMEngine, adapter_dir: Path) -> None:
    """What GRPO's vLLM rollouts on the CPU take (:mod:`criticlab.training.vllm_rollouts`)."""
    adapter = read_adapter(adapter_dir)
    tokenizer = engine._llm.get_tokenizer()
    text = tokenizer.apply_chat_template(OPEN, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    sampling = SamplingParams(temperature=1.0, top_p=1.0, max_tokens=12, seed=5)
    [group] = engine.sample_tokens([ids], sampling, [3], adapter=adapter)
    assert len(group) == 3 and all(0 < len(tokens) == len(logprobs) <= 12 for tokens, logprobs in group)
    assert all(lp <= 0.0 for _, logprobs in group for lp in logprobs)
    assert len({tuple(tokens) for tokens, _ in group}) > 1  # seeded per sample
    [again] = engine.sample_tokens([ids], sampling, [3], adapter=adapter)  # same seeds, same draws
    assert [t for t, _ in again] == [t for t, _ in group]
    # the log-probabilities agree to float noise: the second prefill comes from the prefix cache
    assert all(abs(a - b) < 0.05 for (_, la), (_, lb) in zip(again, group) for a, b in zip(la, lb))
    [base] = engine.sample_tokens([ids], sampling, [3])
    assert [t for t, _ in base] != [t for t, _ in group]  # the adapter took part


def test_repetition_penalty_moves_greedy_answers(engine: VLLMEngine) -> None:
    echo = [
        {
            "role": "user",
            "content": "Repeat after me, exactly: the cat sat on the mat, the cat sat on the mat.",
        }
    ]
    greedy = SamplingParams(temperature=0.0, max_tokens=24)
    plain = engine.generate([echo], greedy)[0][0].text
    assert engine.generate([echo], greedy.with_(repetition_penalty=1.0))[0][0].text == plain
    penalised = engine.generate([echo], greedy.with_(repetition_penalty=3.0))[0][0].text
    assert penalised != plain and plain.lower().count("cat") > penalised.lower().count("cat")


def test_closing_and_starting_another_engine_in_one_process(engine: VLLMEngine) -> None:
    engine.close()
    with pytest.raises(Exception, match="closed"):
        engine.generate([OPEN], SamplingParams(max_tokens=4))
    options = EngineOptions(context_length=512, kv_cache_gb=0.25)
    with get_backend("vllm").build(models.SMOLLM2_135M.name, options) as second:
        [[answer]] = second.generate([OPEN], SamplingParams(temperature=0.0, max_tokens=8))
        assert answer.ok and answer.completion_tokens > 0 and second.model_id == models.SMOLLM2_135M.name

"""``stop_after_code``: where an answer ends after its first Python code block, on every backend."""

from __future__ import annotations

from criticlab.llm.base import Completion, SamplingParams, code_block_span, code_stop_index, finish_text

ANSWER = "Here it is:\n```python\ndef f():\n    return 1\n```\n\nThis returns 1.\n```python\nprint(f())\n```"


def test_the_first_python_block_ends_the_answer() -> None:
    end = code_stop_index(ANSWER)
    assert ANSWER[:end] == "Here it is:\n```python\ndef f():\n    return 1\n```"
    block = code_block_span(ANSWER)
    assert block is not None and ANSWER[block.start : block.end] == "def f():\n    return 1\n"


def test_blocks_in_other_languages_are_skipped() -> None:
    text = "```text\nusage: f\n```\n```\nx = 1\n```\nmore"
    assert text[: code_stop_index(text)] == "```text\nusage: f\n```\n```\nx = 1\n```"
    assert code_stop_index("```bash\nls\n") is None  # an unterminated block of another language


def test_no_block_or_an_open_one_does_not_stop() -> None:
    assert code_stop_index("def f():\n    return 1") is None
    assert code_stop_index("```python\ndef f():\n") is None


def test_while_generating_the_closing_fence_needs_its_line_break() -> None:
    text = "```python\nx = 1\n```"
    assert code_stop_index(text) == len(text)  # a finished answer: the fence ends it
    assert code_stop_index(text, complete=False) is None  # it might still become "```python"
    assert code_stop_index(text + "\n", complete=False) == len(text)


def test_finish_text_cuts_only_when_asked() -> None:
    answer = Completion(ANSWER, finish_reason="length", completion_tokens=40)
    assert finish_text(answer, SamplingParams()) is answer
    cut = finish_text(answer, SamplingParams(stop_after_code=True))
    assert cut.text == ANSWER[: code_stop_index(ANSWER)] and cut.finish_reason == "stop"
    assert cut.completion_tokens == 40  # what was generated, not what was kept
    error = Completion("", finish_reason="error", error="boom")
    assert finish_text(error, SamplingParams(stop_after_code=True)) is error


def test_cache_keys_of_requests_without_it_are_unchanged() -> None:
    assert "stop_after_code" not in SamplingParams().to_dict()
    assert SamplingParams(stop_after_code=True).to_dict()["stop_after_code"] is True

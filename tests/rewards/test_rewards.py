"""CTRL, CRL and code rewards on the real sandbox (scripted generator), in TRL's calling convention."""

from __future__ import annotations

import json

import pytest
from scripted import ADD, BROKEN, ECHO, RIGHT, WRONG, ScriptedEngine, fenced

from criticlab.io import read_jsonl
from criticlab.rewards import (
    REWARDS,
    CodeReward,
    CRLReward,
    CTRLReward,
    LoggedReward,
    MixedReward,
    completion_text,
)


def as_chat(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


CRITIQUES = [
    "Analysis: wrong sign.\nOverall judgment: Incorrect",  # judgment → revised → passes → 1
    "Analysis: I am not sure.",  # no judgment: still revised (the paper)
    "Overall judgment: Correct",
]  # judgment → revised → 1


def ctrl_reward_of_critiques(executor, tmp_path, **options):
    generator = ScriptedEngine()
    reward = CTRLReward(generator, executor, log_path=tmp_path / "r.jsonl", **options)
    rows = [json.dumps(ADD.to_dict()), json.dumps(ECHO.to_dict()), json.dumps(ADD.to_dict())]
    rewards = reward(
        prompts=["p"] * 3,
        completions=[as_chat(c) for c in CRITIQUES],
        problem=rows,
        response=[fenced(WRONG["add"]), fenced(WRONG["echo"]), fenced(RIGHT["add"])],
    )
    return rewards, generator.samples, read_jsonl(tmp_path / "r.jsonl")


def test_ctrl_reward_revises_every_critique(executor, tmp_path) -> None:
    rewards, samples, log = ctrl_reward_of_critiques(executor, tmp_path)
    assert rewards == [1.0, 1.0, 1.0] and samples == 3  # the reward is whether the revision passes
    assert [r["outcome"] for r in log] == ["Accepted"] * 3
    assert [r["judgment"] for r in log] == ["incorrect", None, "correct"] and {r["step"] for r in log} == {0}


def test_the_judgment_gate_scores_a_critique_without_judgment_zero_unrevised(executor, tmp_path) -> None:
    rewards, samples, log = ctrl_reward_of_critiques(executor, tmp_path, judgment_gate="last_line")
    assert rewards == [1.0, 0.0, 1.0]
    assert samples == 2  # the critique without a judgment cost no generation
    assert [r["outcome"] for r in log] == ["Accepted", "no judgment", "Accepted"]


class RecordingEngine(ScriptedEngine):
    """The scripted generator, keeping every conversation it was asked to answer."""

    def __init__(self) -> None:
        super().__init__()
        self.conversations: list = []

    def generate(self, conversations, sampling, n=1):
        self.conversations += list(conversations)
        return super().generate(conversations, sampling, n)


# critic-rl's gate (ctrl/rl/critic_rm.py, reward_revision) is a substring test: a judgment written
# mid-critique and followed by more text passes it, and fails the workbook's last-line parse
MID_TEXT = "Analysis: off by one.\nOverall judgment: Incorrect\nI would also add a test for empty input."


@pytest.mark.parametrize("gate, revised", [("none", 3), ("substring", 2), ("last_line", 1)])
def test_the_judgment_gates_as_the_reference_and_the_workbook_read_it(executor, gate, revised) -> None:
    generator = RecordingEngine()
    reward = CTRLReward(generator, executor, judgment_gate=gate)
    critiques = [MID_TEXT, "Analysis: I am not sure.", "Overall judgment: Correct"]
    rewards = reward.score(critiques, [ADD] * 3, [fenced(WRONG["add"])] * 3)
    assert generator.samples == revised
    assert (
        rewards == {"none": [1.0, 1.0, 1.0], "substring": [1.0, 0.0, 1.0], "last_line": [0.0, 0.0, 1.0]}[gate]
    )
    assert [r.outcome == "no judgment" for r in reward.last] == [r == 0.0 for r in rewards]


def test_an_unknown_gate_is_an_error_before_scoring(executor) -> None:
    with pytest.raises(ValueError, match="judgment_gate"):
        CTRLReward(ScriptedEngine(), executor, judgment_gate="true")  # type: ignore[arg-type]


def test_the_reward_revision_shows_the_sanitized_code_and_the_papers_request(executor) -> None:
    response = "Here is my solution:\n```python\n" + WRONG["add"].strip() + "\n```\nIt adds two numbers."
    generator = RecordingEngine()
    CTRLReward(generator, executor).score(["Overall judgment: Incorrect"], [ADD], [response])
    CTRLReward(generator, executor, revision_input="sanitized", revision_request="reference").score(
        ["Overall judgment: Incorrect"], [ADD], [response]
    )
    today, paper = generator.conversations
    assert today[1]["content"] == response and today[2]["content"].endswith(
        ": your complete code in a single ```python code block."
    )
    assert paper[1]["content"] == "```python\n" + WRONG["add"].strip() + "\n```"
    assert (
        paper[2]["content"]
        == "Overall judgment: Incorrect\n\nPlease finalize your answer accordingly using the same format."
    )


def test_rewards_log_where_the_reference_parse_reads_otherwise(executor, tmp_path) -> None:
    from criticlab.rewards import parser_disagreements

    reward = CTRLReward(ScriptedEngine(), executor, log_path=tmp_path / "r.jsonl", parser="reference")
    reward.score([MID_TEXT, "Overall judgment: Correct"], [ADD, ADD], ["x", "y"])
    assert [r.judgment for r in reward.last] == [
        "incorrect",
        "correct",
    ]  # the reference reads mid-text judgments
    assert [r.parsers_disagree for r in reward.last] == [True, False]
    assert parser_disagreements(read_jsonl(tmp_path / "r.jsonl")) == 1


def test_the_crl_reward_reads_conclusions_by_the_chosen_rule() -> None:
    answers = [
        "The code is right. \\conclusion{True}",
        "<think>\\conclusion{F}</think> so \\conclusion{T}",
        "\\conclusion{T} ... on reflection \\conclusion{F}",
    ]
    workbook, reference = CRLReward(), CRLReward(parser="reference")
    assert workbook.score(answers, [True, True, False]) == [0.0, 1.0, 1.0]
    assert reference.score(answers, [True, True, False]) == [1.0, 1.0, 1.0]
    assert [r.conclusion for r in reference.last] == ["T", "T", "F"]
    assert [r.parsers_disagree for r in reference.last] == [True, False, False]


def test_ctrl_reward_never_scores_an_infrastructure_failure(executor) -> None:
    reward = CTRLReward(ScriptedEngine(), executor)
    [value] = reward.score(["Overall judgment: Incorrect"], [BROKEN], ["x"])
    assert value is None and reward.last[0].outcome == "SandboxError"


def test_ctrl_reward_for_a_revision_that_still_fails(executor) -> None:
    class Stubborn(ScriptedEngine):
        def _answer(self, conv):
            answer = super()._answer(conv)
            if len(conv) == 3:
                answer.text = fenced(WRONG["add"])
            return answer

    assert CTRLReward(Stubborn(), executor).score(["Overall judgment: Incorrect"], [ADD], ["x"]) == [0.0]


def test_crl_reward_matches_the_label() -> None:
    reward = CRLReward()
    answers = ["fine \\conclusion{T}", "bug \\conclusion{F}", "fine \\conclusion{T}", "no conclusion"]
    assert reward(prompts=[""] * 4, completions=answers, label=[True, True, False, False]) == [
        1.0,
        0.0,
        0.0,
        0.0,
    ]


def test_code_reward_is_the_pass_rate(executor) -> None:
    half = "def add(a, b):\n    return 3\n"  # passes add(1, 2) only
    answers = [fenced(RIGHT["add"]), fenced(half), "no code at all"]
    rewards = CodeReward(executor)(prompts=[""] * 3, completions=answers, problem=[ADD.to_dict()] * 3)
    assert rewards == [1.0, 0.5, 0.0]


def test_mixed_reward_dispatches_on_task(executor) -> None:
    reward = MixedReward(CodeReward(executor), CRLReward())
    rows = [json.dumps(ADD.to_dict())] * 3
    rewards = reward(
        prompts=[""] * 3,
        completions=["\\conclusion{F}", fenced(RIGHT["add"]), "\\conclusion{T}"],
        task=["crl", "code", "crl"],
        problem=rows,
        label=[False, None, False],
    )
    assert rewards == [1.0, 1.0, 0.0]
    assert sorted(r.task for r in reward.last) == ["code", "crl", "crl"]
    with pytest.raises(ValueError, match="unknown task"):
        reward(prompts=[""], completions=["x"], task=["chat"], problem=rows[:1], label=[None])


def test_completion_text_accepts_strings_and_chat() -> None:
    assert completion_text("a") == "a" and completion_text(as_chat("b")) == "b"


def test_per_step_reward_and_judgment_accuracy(executor, tmp_path) -> None:
    from criticlab.rewards import per_step

    reward = CTRLReward(ScriptedEngine(), executor, log_path=tmp_path / "r.jsonl", judgment_gate="last_line")
    reward.score(
        ["Overall judgment: Incorrect", "Overall judgment: Correct"],
        [ADD, ADD],
        ["x", "y"],
        passed=[False, False],
    )
    reward.score(
        ["no judgment here", "Overall judgment: Correct"], [ADD, ADD], ["x", "y"], passed=[True, True]
    )
    steps = per_step(read_jsonl(tmp_path / "r.jsonl"))
    assert [s["step"] for s in steps] == [1, 2]
    assert steps[0]["accuracy"] == 0.5 and steps[1]["accuracy"] == 0.5
    assert steps[0]["reward"] == 1.0 and steps[1]["reward"] == 0.5 and steps[1]["unparsed"] == 0.5


def test_the_table_names_one_reward_per_task_and_each_scores_rows_by_column(executor) -> None:
    assert {task: cls.task for task, cls in REWARDS.items()} == {task: task for task in REWARDS}
    assert all(issubclass(cls, LoggedReward) for cls in REWARDS.values())
    problem = json.dumps(ADD.to_dict())
    rows = {
        "critique": {"problem": problem, "response": fenced(WRONG["add"])},
        "crl": {"problem": problem, "label": True},
        "code": {"problem": problem},
    }
    answers = {
        "critique": "Overall judgment: Incorrect",
        "crl": "\\conclusion{T}",
        "code": fenced(RIGHT["add"]),
    }
    made = []
    for task, cls in REWARDS.items():
        reward = cls.build(
            lambda: made.append("executor") or executor, lambda: made.append("generator") or ScriptedEngine()
        )
        assert reward.score_rows([answers[task]], [rows[task]]) == [1.0]
        assert reward.last[0].task == task and reward.last[0].problem_id == ADD.id
    assert made == ["generator", "executor", "executor"]  # CRL needs neither


def test_mixed_reward_scores_in_table_order_and_adds_up_its_parts_seconds(executor, tmp_path) -> None:
    code, crl = CodeReward(executor), CRLReward()
    reward = MixedReward(code, crl, log_path=tmp_path / "mix.jsonl")
    rows = [json.dumps(ADD.to_dict())] * 2
    reward(
        prompts=[""] * 2,
        completions=[fenced(RIGHT["add"]), "\\conclusion{T}"],
        task=["code", "crl"],
        problem=rows,
        label=[None, True],
    )
    assert [r["task"] for r in read_jsonl(tmp_path / "mix.jsonl")] == [
        "crl",
        "code",
    ]  # REWARDS order, as before
    assert reward.seconds["execution"] == code.seconds["execution"] > 0 and reward.seconds["revision"] == 0.0
    with pytest.raises(TypeError):
        MixedReward(code, object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="two rewards"):
        MixedReward(code, CodeReward(executor))

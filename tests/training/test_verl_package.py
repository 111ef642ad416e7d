"""The verl export against the real ``verl`` package (dev extra): verl's own RL dataset reads our
parquet with our tokenizer, verl's reward manager calls our ``compute_score`` and gets our own
rewards, and ``compute_score`` is safe from several threads at once.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from scripted import ADD, ECHO, RIGHT, WRONG, ScriptedEngine, fenced

from criticlab import crl, ctrl
from criticlab.rewards import CodeReward, CRLReward, CTRLReward, problem_of
from criticlab.tools import verl_reward
from criticlab.training import write_verl_parquet

if os.environ.get("CI"):  # CI installs the dev extra: there verl must be present, not skipped
    import verl
else:
    verl = pytest.importorskip("verl", reason="verl comes with the dev extra (make setup)")

torch = pytest.importorskip("torch")
from omegaconf import OmegaConf  # noqa: E402  (verl's dependency)


def rows() -> list[dict]:
    critique = ctrl.grpo_rows([{"problem": ADD.to_dict(), "response": fenced(WRONG["add"]), "passed": False}])
    judge = crl.crl_rows([(ADD, WRONG["add"], 0.0), (ECHO, RIGHT["echo"], 1.0)])
    code = crl.code_rows([ADD, ECHO])
    return critique + judge + code


# one response per row: the critique, two judgments (one right, one wrong), code right and wrong
RESPONSES = [
    "The sign is wrong.\nOverall judgment: Incorrect",
    "\\conclusion{F}",
    "\\conclusion{F}",
    fenced(RIGHT["add"]),
    fenced(WRONG["echo"]),
]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from criticlab.llm import models

    return AutoTokenizer.from_pretrained(str(models.tokenizer_dir()))


@pytest.fixture
def parquet(tmp_path: Path) -> Path:
    return write_verl_parquet(rows(), tmp_path / "train.parquet")


def test_verls_rl_dataset_reads_the_export_with_our_tokenizer(
    parquet: Path, tokenizer, tmp_path: Path
) -> None:
    """verl 0.8's dataset hands the chat messages on (its agent loop applies the chat template) and
    measures each prompt with the tokenizer to drop the overlong: with a limit between our shortest
    and longest prompt, exactly the longer ones go."""
    from verl.utils.dataset.rl_dataset import RLHFDataset

    lengths = [len(token_ids(tokenizer, r["prompt"])) for r in rows()]
    limit = (min(lengths) + max(lengths)) // 2
    assert min(lengths) < limit < max(lengths)

    def load(max_prompt_length: int) -> RLHFDataset:
        config = OmegaConf.create(
            {
                "prompt_key": "prompt",
                "max_prompt_length": max_prompt_length,
                "filter_overlong_prompts": True,
                "filter_overlong_prompts_workers": 1,
                "cache_dir": str(tmp_path / "verl-cache"),
            }
        )
        return RLHFDataset(str(parquet), tokenizer, config)

    everything = load(4096)
    assert len(everything) == len(rows())
    for i, row in enumerate(rows()):
        item = everything[i]
        assert [dict(m) for m in item["raw_prompt"]] == row["prompt"]
        assert item["data_source"] == row_source(row)
        assert item["reward_model"]["style"] == "rule" and item["index"] == i
    short = load(limit)
    assert [item["index"] for item in (short[i] for i in range(len(short)))] == [
        i for i, n in enumerate(lengths) if n <= limit
    ]


def row_source(row: dict) -> str:
    return {"critique": "criticlab/ctrl", "crl": "criticlab/crl", "code": "criticlab/code"}[
        row.get("task", "critique")
    ]


def token_ids(tokenizer, messages: list) -> list[int]:
    ids = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=True)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)


def batch_of(parquet: Path, tokenizer) -> verl.DataProto:
    """A rollout batch as verl's trainer hands it to the reward manager: left-padded prompts,
    right-padded responses, one attention mask over both, and the parquet's non-tensor columns."""
    import pandas as pd

    frame = pd.read_parquet(parquet)
    prompts = [token_ids(tokenizer, p) for p in frame["prompt"]]
    responses = [tokenizer(r, add_special_tokens=False)["input_ids"] for r in RESPONSES]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    plen, rlen = max(map(len, prompts)), max(map(len, responses))
    prompt_ids = torch.tensor([[pad] * (plen - len(p)) + list(p) for p in prompts])
    response_ids = torch.tensor([list(r) + [pad] * (rlen - len(r)) for r in responses])
    mask = torch.tensor(
        [
            [0] * (plen - len(p)) + [1] * len(p) + [1] * len(r) + [0] * (rlen - len(r))
            for p, r in zip(prompts, responses)
        ]
    )
    return verl.DataProto.from_dict(
        tensors={
            "prompts": prompt_ids,
            "responses": response_ids,
            "attention_mask": mask,
            "input_ids": torch.cat([prompt_ids, response_ids], dim=1),
        },
        non_tensors={
            name: np.array(list(frame[name]), dtype=object)
            for name in ("data_source", "reward_model", "extra_info")
        },
    )


def our_rewards(executor) -> list[float]:
    """The workbook's own reward functions on the same rows and responses."""
    out = []
    for row, response in zip(rows(), RESPONSES):
        problem = problem_of(row["problem"])
        if row.get("task", "critique") == "critique":
            out.append(
                CTRLReward(ScriptedEngine(), executor).score([response], [problem], [row["response"]])[0]
            )
        elif row["task"] == "crl":
            out.append(CRLReward().score([response], [bool(row["label"])])[0])
        else:
            out.append(CodeReward(executor).score([response], [problem])[0])
    return out


def test_verls_reward_manager_gets_our_rewards(parquet: Path, tokenizer, executor) -> None:
    from verl.workers.reward_manager import NaiveRewardManager

    expected = our_rewards(executor)
    assert expected == [1.0, 1.0, 0.0, 1.0, 0.0]  # each task, both outcomes where it has two
    verl_reward.set_generator(ScriptedEngine())
    try:
        manager = NaiveRewardManager(
            tokenizer=tokenizer, num_examine=0, compute_score=verl_reward.compute_score
        )
        scores = manager(batch_of(parquet, tokenizer))
    finally:
        verl_reward.set_generator(None)
    # verl puts each sample's reward on its last response token
    got = [float(scores[i].sum()) for i in range(len(RESPONSES))]
    assert got == expected


def test_verl_loads_compute_score_from_our_file(parquet: Path) -> None:
    """The documented configuration: custom_reward_function.path = the module's file, name = compute_score."""
    import pandas as pd
    from verl.trainer.ppo.reward import get_custom_reward_fn

    fn = get_custom_reward_fn(
        OmegaConf.create(
            {
                "reward": {
                    "custom_reward_function": {
                        "path": verl_reward.__file__,
                        "name": "compute_score",
                        "reward_kwargs": {},
                    }
                }
            }
        )
    )
    truth = pd.read_parquet(parquet)["reward_model"][1]["ground_truth"]
    assert (
        fn(data_source="criticlab/crl", solution_str="\\conclusion{F}", ground_truth=truth, extra_info={})
        == 1.0
    )


def test_verl_passes_reward_kwargs_through_to_compute_score(parquet: Path) -> None:
    """With custom_reward_function.reward_kwargs set, verl's wrapper adds them to every call;
    its reward-loop manager adds reward_router_address and reward_model_tokenizer with a reward model."""
    import pandas as pd
    from verl.trainer.ppo.reward import get_custom_reward_fn

    fn = get_custom_reward_fn(
        OmegaConf.create(
            {
                "reward": {
                    "custom_reward_function": {
                        "path": verl_reward.__file__,
                        "name": "compute_score",
                        "reward_kwargs": {"format_penalty": 0.5},
                    }
                }
            }
        )
    )
    truth = pd.read_parquet(parquet)["reward_model"][1]["ground_truth"]
    score = fn(
        data_source="criticlab/crl",
        solution_str="\\conclusion{F}",
        ground_truth=truth,
        extra_info={},
        reward_router_address=None,
        reward_model_tokenizer=None,
    )
    assert score == 1.0


def test_compute_score_is_safe_from_several_threads(parquet: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """verl scores a batch from a thread pool: every thread's first call races to start the
    sandbox. A slow start widens the race; exactly one executor may come of it."""
    import pandas as pd

    from criticlab import sandbox

    started: list[object] = []
    real = sandbox.LocalExecutor

    class SlowStart(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            started.append(self)
            threading.Event().wait(0.3)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(sandbox, "LocalExecutor", SlowStart)
    monkeypatch.setattr(verl_reward, "_EXECUTOR", None)
    frame = pd.read_parquet(parquet)
    truths = [frame["reward_model"][i]["ground_truth"] for i in (3, 4)]
    answers = [(fenced(RIGHT["add"]), truths[0], 1.0), (fenced(WRONG["echo"]), truths[1], 0.0)]
    threads, results, errors = 8, {}, []
    barrier = threading.Barrier(threads)

    def work(k: int) -> None:
        answer, truth, _ = answers[k % 2]
        barrier.wait()
        try:
            results[k] = verl_reward.compute_score("criticlab/code", answer, truth)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    try:
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    finally:
        for executor in started:
            executor.close()
    assert errors == []
    assert len(started) == 1
    assert results == {k: answers[k % 2][2] for k in range(threads)}

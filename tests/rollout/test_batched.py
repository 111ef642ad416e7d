"""Methods run together (one engine call per round and engine) give what each gives alone."""

from __future__ import annotations

import hashlib
import json

import pytest
from scripted import ADD, ECHO, RIGHT, WRONG, fenced

from criticlab.io import read_jsonl
from criticlab.llm.base import Completion, SamplingParams
from criticlab.llm.cache import CachedEngine
from criticlab.rollout.loop import LoopConfig, LoopMethod, run_loop, run_loops
from criticlab.rollout.requests import Request, drive_together


class HashEngine:
    """Deterministic and seed-dependent: each answer is a function of (conversation, seed + sample).

    Solutions and revisions are right or wrong, critiques say Correct or Incorrect, by a hash bit,
    so the methods' trajectories differ from each other and depend on every request's content.
    Records every call (conversations and sampling) to show what arrived together.
    """

    backend = "hash"
    model_id = "hash-v1"

    def __init__(self, salt: str = "") -> None:
        self.salt = salt
        self.calls: list[tuple[list, SamplingParams, int]] = []

    def _bit(self, conv, seed: int) -> bool:
        payload = json.dumps([self.salt, conv, seed], sort_keys=True).encode()
        return hashlib.sha256(payload).digest()[0] % 2 == 0

    def _answer(self, conv, seed: int) -> Completion:
        last = conv[-1]["content"]
        bit = self._bit(conv, seed)
        if last.startswith("You are an expert programmer reviewing"):
            return Completion(
                text=f"Analysis:\nhm.\nOverall judgment: {'Correct' if bit else 'Incorrect'}",
                completion_tokens=7,
            )
        pid = "add" if "def add" in conv[0]["content"] else "echo"
        return Completion(text=fenced((RIGHT if bit else WRONG)[pid]), completion_tokens=11)

    def generate(self, conversations, sampling: SamplingParams, n: int = 1):
        self.calls.append((conversations, sampling, n))
        return [[self._answer(conv, sampling.seed + i) for i in range(n)] for conv in conversations]


SAMPLED = SamplingParams(temperature=0.7, seed=3)
TIMINGS = {"time", "timings"}


def untimed(value):
    """A trajectory's record without the sandbox's measured times (which differ run to run)."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def records(trajectories) -> list:
    return untimed([t.to_dict() for t in trajectories])


def configs(rounds: int = 2, samples: int = 2, chunk_size: int = 16) -> list[tuple[LoopConfig, bool]]:
    """(config, uses the external critic) for every kind of method of notebook 07."""
    out = []
    for mode in ("none", "execution_feedback", "self_critique", "self_critique_exec", "critic"):
        for stop in (False,) if mode == "none" else (False, True):
            name = mode + ("+stop" if stop else "")
            config = LoopConfig(
                method=name,
                critic_mode=mode,
                rounds=rounds,
                samples=samples,  # type: ignore[arg-type]
                stop_when_correct=stop,
                solution_sampling=SAMPLED,
                critique_sampling=SAMPLED,
                chunk_size=chunk_size,
            )
            out.append((config, mode == "critic"))
    return out


def test_methods_run_together_equal_methods_run_alone(executor, tmp_path) -> None:
    problems = [ADD, ECHO]
    alone = {}
    for config, external in configs():
        critic = HashEngine("critic") if external else None
        out = tmp_path / "alone" / f"{config.method}.jsonl"
        alone[config.method] = run_loop(problems, HashEngine(), executor, config, critic=critic, out_path=out)

    generator, critic = HashEngine(), HashEngine("critic")
    methods = [
        LoopMethod(c, critic if external else None, tmp_path / "together" / f"{c.method}.jsonl")
        for c, external in configs()
    ]
    together = run_loops(problems, generator, executor, methods)

    assert list(together) == list(alone)
    for name, trajectories in alone.items():
        assert records(together[name]) == records(trajectories), name
        files = [untimed(read_jsonl(tmp_path / d / f"{name}.jsonl")) for d in ("alone", "together")]
        assert files[0] == files[1], name
    # the trajectories are not all alike: the comparison above has something to compare
    finals = {name: [t.final.correct for t in ts] for name, ts in alone.items()}
    assert len({tuple(v) for v in finals.values()}) > 1
    assert any(len(t.rounds) == 3 for t in alone["self_critique"])


def test_a_round_of_several_methods_is_one_engine_call(executor) -> None:
    generator, critic = HashEngine(), HashEngine("critic")
    methods = [LoopMethod(c, critic if external else None) for c, external in configs(rounds=1)]
    run_loops([ADD, ECHO], generator, executor, methods)

    # round 0 is the same request for all 9 methods: asked for once, 2 problems x 2 samples
    convs, sampling, n = generator.calls[0]
    assert len(convs) == 2 and n == 2 and sampling == SAMPLED
    # then the generator's critiques for both self-critique methods (4 seqs each, with and without
    # execution feedback) in one call, and the external critic's for both of its methods in one
    critique_calls = [convs for convs, s, _ in generator.calls[1:] if s == SAMPLED]
    assert len(critique_calls) == 1
    prompts = [conv[-1]["content"] for conv in critique_calls[0]]
    with_feedback = [p for p in prompts if "## Execution feedback" in p]
    assert 0 < len(with_feedback) < len(prompts)
    assert len(critic.calls) == 1 and len(critic.calls[0][0]) <= 4  # critic and critic+stop: same 4 critiques
    # revisions of every method that revises, in one greedy call
    revision_calls = [convs for convs, s, _ in generator.calls if s.greedy]
    assert len(revision_calls) == 1
    assert any(
        "Overall judgment" not in conv[-1]["content"] for conv in revision_calls[0]
    )  # execution feedback
    assert any("Overall judgment" in conv[-1]["content"] for conv in revision_calls[0])  # a critic's critique
    assert len(generator.calls) == 3


def test_methods_alone_call_the_engine_once_per_method_and_phase(executor) -> None:
    generator = HashEngine()
    for config, external in configs(rounds=1):
        if not external:
            run_loop([ADD, ECHO], generator, executor, config)
    # 7 methods each ask for round 0, 4 critique with the generator, 6 revise (unless all stopped)
    assert len([c for c in generator.calls if c[2] == 2]) == 7
    assert len(generator.calls) > 3


def test_interrupted_batched_run_resumes_per_method(executor, tmp_path) -> None:
    problems = [ADD, ECHO]
    reference = run_loops(
        problems,
        HashEngine(),
        executor,
        [LoopMethod(c) for c, external in configs(chunk_size=1) if not external],
    )

    class Dying(HashEngine):
        def generate(self, conversations, sampling, n=1):
            if any(ECHO.question in conv[0]["content"] for conv in conversations):  # the second chunk
                raise KeyboardInterrupt("killed midway")
            return super().generate(conversations, sampling, n)

    cache = tmp_path / "cache.sqlite"
    methods = [
        LoopMethod(c, None, tmp_path / f"{c.method}.jsonl")
        for c, external in configs(chunk_size=1)
        if not external
    ]
    with pytest.raises(KeyboardInterrupt):
        run_loops(problems, CachedEngine(Dying(), cache), executor, methods)
    assert all([r["problem_id"] for r in read_jsonl(m.out_path)] == ["add"] * 2 for m in methods)

    resumed = run_loops(problems, CachedEngine(HashEngine(), cache), executor, methods)
    for name, trajectories in reference.items():
        assert records(resumed[name]) == records(trajectories)
        assert [(r["problem_id"], r["sample"]) for r in read_jsonl(tmp_path / f"{name}.jsonl")] == [
            ("add", 0),
            ("add", 1),
            ("echo", 0),
            ("echo", 1),
        ]


def test_a_method_already_done_is_not_run_again(executor, tmp_path) -> None:
    (zero, _), (feedback, _) = configs(rounds=1)[:2]
    done = LoopMethod(zero, None, tmp_path / "zero.jsonl")
    run_loops([ADD], HashEngine(), executor, [done])
    generator = HashEngine()
    out = run_loops([ADD], generator, executor, [done, LoopMethod(feedback, None, tmp_path / "fb.jsonl")])
    assert [len(read_jsonl(tmp_path / f)) for f in ("zero.jsonl", "fb.jsonl")] == [2, 2]
    assert len(out["none"]) == 2 and len(generator.calls) == 2  # feedback's round 0 and revision only


def test_drive_together_groups_by_engine_sampling_and_n() -> None:
    a, b = HashEngine("a"), HashEngine("b")
    greedy = SamplingParams(temperature=0.0)
    conv = [{"role": "user", "content": "def add"}]
    other = [{"role": "user", "content": "def add(x)"}]

    def worker(engine, convs, sampling, n=1):
        first = yield Request(engine, convs, sampling, n)
        second = yield Request(engine, [conv], greedy, 1)
        return [row[0].text for row in first + second]

    out = drive_together(
        [
            worker(a, [conv], greedy),
            worker(a, [conv, other], greedy),
            worker(b, [conv], greedy),
            worker(a, [conv], SAMPLED),
        ]
    )
    assert out[0] == [a._answer(conv, 0).text] * 2 and out[2] == [b._answer(conv, 0).text] * 2
    assert out[1] == [a._answer(conv, 0).text, a._answer(other, 0).text, a._answer(conv, 0).text]
    # step 1: a/greedy gets conv once and other once; b alone; a/sampled alone; step 2: a/greedy, b
    assert [len(c[0]) for c in a.calls] == [2, 1, 1] and [len(c[0]) for c in b.calls] == [1, 1]
    with pytest.raises(ValueError, match="given twice"):
        run_loops([ADD], a, None, [LoopMethod(configs()[0][0]), LoopMethod(configs()[0][0])])  # type: ignore[arg-type]

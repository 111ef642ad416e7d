"""Profiles: layering, validation errors that name key and file, output paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from criticlab import config, stages
from criticlab.config import ConfigError, load_profile


@pytest.fixture
def params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway project root with its own params/ and outputs/."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "params").mkdir()
    monkeypatch.setenv(config.ROOT_ENV, str(tmp_path))
    monkeypatch.delenv(config.OUTPUTS_ENV, raising=False)
    return tmp_path / "params"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["smoke", "cpu", "gpu", "paper"])
def test_shipped_profiles_load(name: str) -> None:
    cfg = load_profile(name)
    assert cfg.name == name
    assert Path(cfg.source).name == f"{name}.yaml"


def test_smoke_extends_cpu_and_merges_sections() -> None:
    cpu, smoke = load_profile("cpu"), load_profile("smoke")
    assert smoke.models.critic == "smollm2-135m-instruct"
    assert cpu.models.generator == "qwen2.5-coder-0.5b-instruct"
    # a key smoke does not set is inherited from cpu, not reset to the schema default
    assert smoke.sft.lora == cpu.sft.lora is False
    assert smoke.sft.learning_rate == cpu.sft.learning_rate == 5e-5


def test_paper_profile_has_the_papers_numbers() -> None:
    paper = load_profile("paper")
    assert (paper.grpo.group_size, paper.grpo.learning_rate, paper.grpo.kl_coef) == (8, 1e-5, 0.001)
    assert (paper.grpo.max_prompt_length, paper.grpo.max_completion_length) == (1536, 768)
    assert (paper.sft.learning_rate, paper.sft.batch_size, paper.sft.lr_scheduler) == (2e-5, 256, "cosine")
    assert paper.crl.ratio == 0.2
    assert (paper.sampling.temperature, paper.sampling.top_p) == (0.7, 0.8)


def test_paper_profile_rewards_and_reads_as_the_reference_code_and_small_profiles_keep_theirs() -> None:
    paper = load_profile("paper")
    assert (paper.grpo.judgment_gate, paper.grpo.revision_input) == (
        "substring",
        "sanitized",
    )  # critic-rl critic_rm.py
    assert (paper.prompts.revision_request, paper.prompts.parser) == ("reference", "reference")
    for name in ("smoke", "cpu", "cpu-study"):  # the workbook's choices, as before these options existed
        small = load_profile(name)
        assert (small.grpo.judgment_gate, small.grpo.revision_input) == ("last_line", "response")
        assert (small.prompts.revision_request, small.prompts.parser) == ("workbook", "workbook")
    assert load_profile("gpu").grpo.judgment_gate == "none"


def test_the_judgment_gate_names_a_rule(params: Path) -> None:
    write(params / "gate.yaml", "grpo:\n  judgment_gate: true\n")
    with pytest.raises(
        ConfigError, match="'grpo.judgment_gate' must be one of 'none', 'last_line', 'substring'"
    ):
        load_profile("gate")


def test_unknown_key_names_key_file_and_suggestion(params: Path) -> None:
    write(params / "typo.yaml", "data:\n  max_problem: 3\n")
    with pytest.raises(ConfigError) as err:
        load_profile("typo")
    message = str(err.value)
    assert "typo.yaml" in message and "'data.max_problem'" in message and "max_problems" in message


def test_unknown_top_level_section(params: Path) -> None:
    write(params / "bad.yaml", "evaluaton:\n  rounds: 2\n")
    with pytest.raises(
        ConfigError, match=r"bad\.yaml: unknown key 'evaluaton' \(did you mean 'evaluation'\?\)"
    ):
        load_profile("bad")


def test_typo_in_parent_names_the_parent_file(params: Path) -> None:
    write(params / "base.yaml", "grpo:\n  group_sise: 4\n")
    write(params / "child.yaml", "extends: base.yaml\nseed: 1\n")
    with pytest.raises(ConfigError, match=r"base\.yaml: unknown key 'grpo.group_sise'"):
        load_profile("child")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed: '3'\n", "'seed' must be an integer"),
        ("seed: true\n", "'seed' must be an integer"),
        ("progress: 1\n", "'progress' must be true or false"),
        ("grpo:\n  learning_rate: fast\n", "'grpo.learning_rate' must be a number"),
        ("models:\n  engine: torch\n", "'models.engine' must be one of"),
        ("data:\n  sources: humaneval\n", "'data.sources' must be a list of a string"),
        ("data: 3\n", "'data' must be a mapping"),
        ("- a\n- b\n", "must be a mapping of keys"),
    ],
)
def test_wrong_types_are_errors(params: Path, text: str, expected: str) -> None:
    write(params / "wrong.yaml", text)
    with pytest.raises(ConfigError, match="wrong.yaml") as err:
        load_profile("wrong")
    assert expected in str(err.value)


def test_ints_are_accepted_as_floats_and_converted(params: Path) -> None:
    write(params / "p.yaml", "sft:\n  epochs: 2\n")
    cfg = load_profile("p")
    assert cfg.sft.epochs == 2.0 and isinstance(cfg.sft.epochs, float)


def test_extends_cycle_and_missing_parent(params: Path) -> None:
    write(params / "a.yaml", "extends: b.yaml\n")
    write(params / "b.yaml", "extends: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_profile("a")
    write(params / "orphan.yaml", "extends: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="nowhere.yaml"):
        load_profile("orphan")


def test_invalid_yaml_names_the_file(params: Path) -> None:
    write(params / "broken.yaml", "data: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_profile("broken")


def test_missing_profile_lists_where_it_looked(params: Path) -> None:
    with pytest.raises(ConfigError, match="profile 'nope' not found"):
        load_profile("nope")


def test_overrides_are_validated_and_none_is_ignored(params: Path) -> None:
    write(params / "base.yaml", "evaluation:\n  rounds: 2\n")
    assert load_profile("base", overrides={"evaluation": {"rounds": None}}).evaluation.rounds == 2
    assert load_profile("base", overrides={"evaluation": {"rounds": 5}}).evaluation.rounds == 5
    with pytest.raises(ConfigError, match="overrides: unknown key 'evaluation.round'"):
        load_profile("base", overrides={"evaluation": {"round": 5}})


def test_free_mappings_are_replaced_not_merged(params: Path) -> None:
    write(params / "base.yaml", "data:\n  paths: {taco: /a}\n")
    write(params / "child.yaml", "extends: base.yaml\ndata:\n  paths: {mbpp: /b}\n")
    assert load_profile("child").data.paths == {"mbpp": "/b"}


def test_paths_live_under_outputs_and_profile_name(params: Path, tmp_path: Path) -> None:
    write(params / "mine.yaml", "seed: 1\n")
    cfg = load_profile("mine")
    assert cfg.paths.root == tmp_path / "outputs" / "mine"
    assert cfg.paths.train_jsonl == tmp_path / "outputs" / "mine" / stages.DATA_DIR / stages.TRAIN_PROBLEMS
    assert cfg.paths.stage_dir(stages.SYNTHESIS).is_dir()


def test_outputs_env_overrides_root(params: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(params / "mine.yaml", "")
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path / "elsewhere"))
    assert load_profile("mine").paths.root == tmp_path / "elsewhere" / "mine"


def test_profile_by_path_and_name_default(
    params: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = write(tmp_path / "custom.yml", "name: renamed\n")
    assert load_profile(str(other)).name == "renamed"
    write(params / "smoke.yaml", "")
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    assert load_profile().name == "smoke"


def test_every_notebook_section_exists() -> None:
    for section in config.NOTEBOOK_SECTIONS.values():
        assert config.schema_keys(section)


def test_gpu_profile_does_not_inherit_the_cpu_runs_caps() -> None:
    gpu = load_profile("gpu")
    assert gpu.synthesis.max_problems is None and gpu.evaluation.max_problems is None
    assert gpu.crl.max_steps is None and gpu.crl.ablation_ratios == [0.0, 0.2, 0.5, 1.0]
    assert "self_critique_exec" in gpu.evaluation.methods


def test_critiques_can_have_their_own_token_budget() -> None:
    from criticlab.llm import sampling_for

    smoke, cpu = load_profile("smoke"), load_profile("cpu")
    assert sampling_for(smoke, "critique").max_tokens == smoke.sampling.critique_max_tokens == 192
    assert sampling_for(smoke, "solution").max_tokens == sampling_for(smoke, "revision").max_tokens == 320
    assert sampling_for(cpu, "critique").max_tokens == cpu.sampling.max_tokens  # None: the shared budget


@pytest.mark.parametrize(("name", "problems", "seeds"), [("cpu", 30, 1), ("cpu-study", 120, 2)])
def test_cpu_profiles_keep_the_study_design(name: str, problems: int, seeds: int) -> None:
    """Evaluation on HumanEval and MBPP's test ids (enough problems), training on MBPP's other ids
    with a validation split, both judgments in SFT and GRPO, and the seeds the study reports."""
    from criticlab.data.sources import source_cap

    cfg = config.load_profile(name)
    assert cfg.data.eval_sources == ["humaneval", "mbpp:test"] and cfg.data.sources == []
    assert cfg.data.train_sources == ["mbpp:prompt", "mbpp:validation", "mbpp:train"]
    assert sum(source_cap(cfg.data, e) for e in cfg.data.eval_sources) >= problems
    assert cfg.evaluation.max_problems is None or cfg.evaluation.max_problems >= problems
    assert cfg.data.validation_fraction > 0 and cfg.synthesis.samples_per_problem >= 2
    assert cfg.synthesis.balance_judgments and cfg.synthesis.rl_incorrect_share >= 0.3
    assert cfg.grpo.seeds >= seeds and cfg.crl.seeds >= seeds and (cfg.grpo.heldout_prompts or 0) > 0


def test_only_solutions_and_revisions_stop_after_their_code() -> None:
    from criticlab.llm import sampling_for

    cpu, paper = load_profile("cpu"), load_profile("gpu")
    assert cpu.sampling.stop_after_code and not paper.sampling.stop_after_code
    assert sampling_for(cpu, "solution").stop_after_code and sampling_for(cpu, "revision").stop_after_code
    assert not sampling_for(cpu, "critique").stop_after_code
    assert not any(sampling_for(paper, role).stop_after_code for role in ("solution", "critique", "revision"))


def test_the_paper_samples_as_critic_rl_s_generator_configs() -> None:
    """Five samples per problem, the curve to 6 rounds, top-p 0.8 and a repetition penalty of 1.05
    on the generator's solutions and revisions (not on critiques); other profiles have none."""
    from criticlab.llm import sampling_for

    paper, cpu = load_profile("paper"), load_profile("cpu")
    assert paper.evaluation.samples_per_problem == 5 and paper.evaluation.curve_rounds >= 6
    solution, revision, critique = (sampling_for(paper, r) for r in ("solution", "revision", "critique"))
    assert (solution.temperature, solution.top_p, revision.temperature) == (0.7, 0.8, 0.0)
    assert (
        solution.repetition_penalty == revision.repetition_penalty == 1.05
        and critique.repetition_penalty == 1.0
    )
    assert all(sampling_for(cpu, r).repetition_penalty == 1.0 for r in ("solution", "revision", "critique"))


def test_cpu_runs_on_vllm_and_ci_on_llama_cpp() -> None:
    """The cpu profile's engine is the one measured faster end to end (vLLM's CPU build, one server
    for the run); the smoke run of CI and the study keep llama.cpp, and cpu-llamacpp is cpu on it."""
    from criticlab.llm import vllm_server

    cpu = load_profile("cpu")
    assert cpu.models.engine == "vllm" and vllm_server.serves(cpu)
    for name in ("smoke", "cpu-study", "cpu-llamacpp"):
        assert load_profile(name).models.engine == "llamacpp"
    assert load_profile("cpu-llamacpp").evaluation == cpu.evaluation  # only the engine differs

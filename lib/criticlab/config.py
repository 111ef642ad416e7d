"""Profiles: layered, validated YAML settings for a whole run, and the output paths they imply.

A profile (``params/<name>.yaml``) may ``extends:`` another file; mappings merge key by key and
everything else is replaced. Every key is declared below as a dataclass field with a type and a
default, so a typo or a wrong type is an error that names the key and the file that set it, not a
silent default (the check is :mod:`criticlab.records`' codec). Output paths
(``outputs/<profile>/...``) come from :class:`Paths` and nowhere else. A profile that declares a
card (``gpu.memory_gb``) is also checked against it when it loads (:mod:`criticlab.gpu_plan`).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from criticlab import records
from criticlab.gpu_plan import GPUSection, PlanError, check_memory_plan
from criticlab.outputs import Paths

PROFILE_ENV = "CRITICLAB_PROFILE"
"""Environment variable naming the default profile for notebooks opened by hand."""
OUTPUTS_ENV = "CRITICLAB_OUTPUTS"
"""Environment variable overriding the outputs root (default: ``<project>/outputs``)."""
ROOT_ENV = "CRITICLAB_ROOT"
"""Environment variable naming the project root when the working directory is elsewhere."""


NOTEBOOK_SECTIONS: dict[str, str] = {
    "01": "data",
    "02": "sandbox",
    "03": "synthesis",
    "04": "sft",
    "05": "grpo",
    "06": "crl",
    "07": "evaluation",
    "08": "analysis",
}
"""The profile section each numbered notebook's parameters override (besides ``profile``)."""


class ConfigError(ValueError):
    """A profile is missing, malformed, or names an unknown key or a wrong type."""


# --------------------------------------------------------------------------------------------
# Schema. One dataclass per stage; the profile is their composition. The GPU section lives beside
# the memory plan it describes (criticlab.gpu_plan.GPUSection).
# --------------------------------------------------------------------------------------------


@dataclass
class DataSection:
    """Notebook 01: which problems are loaded, how they are filtered, and how they are split.

    A source in ``sources`` is loaded once and split between training and evaluation by a hash
    of the problem id (``eval_fraction``, ``split_seed``); a source in ``train_sources`` or
    ``eval_sources`` goes to that side whole. An entry is a name from ``criticlab.data.SOURCES``
    or ``name:split`` for one split of it (``mbpp:train`` in ``train_sources``, ``mbpp:test`` in
    ``eval_sources``); no two entries may read the same split of a source.
    """

    sources: list[str] = field(default_factory=lambda: ["humaneval"])
    """Sources split between train and eval (offline: humaneval, the only full dataset installed)."""
    train_sources: list[str] = field(default_factory=list)
    """Sources used whole for training (the paper: taco)."""
    eval_sources: list[str] = field(default_factory=list)
    """Sources used whole for evaluation (the paper: codecontests, livecodebench, mbppplus, judgebench)."""
    paths: dict[str, str] = field(default_factory=dict)
    """Per-source override: a local file/dir (jsonl, json, parquet) or a Hugging Face dataset id."""
    revisions: dict[str, str] = field(default_factory=dict)
    """Per-source hub revision (commit) overriding the pinned default."""
    splits: dict[str, str] = field(default_factory=dict)
    """Per-source hub split overriding the default (e.g. codecontests: valid, judgebench: claude)."""
    max_problems: int | None = None
    """Cap per source after filtering, chosen by id hash (None: all)."""
    max_problems_per_source: dict[str, int] = field(default_factory=dict)
    """Cap per entry (``mbpp:test``) or per source (``mbpp``: each of its entries) overriding ``max_problems``."""
    eval_fraction: float = 0.5
    """Share of each ``sources`` entry held out for evaluation."""
    validation_fraction: float = 0.0
    """Share of the training problems held out as the validation split (``data/validation.jsonl``,
    by id hash): settings are chosen, and GRPO's held-out prompts drawn, there; nothing trains on it."""
    split_seed: int = 0
    """Seed of the id hash behind splits and caps (independent of the training seed)."""
    max_tests: int | None = 10
    """CodeContests: keep the first N of public+private+generated tests (the paper: 10)."""
    max_solutions: int | None = 5
    """Reference solutions kept per problem (TACO, APPS, CodeContests) for sandbox validation."""
    taco_kinds: list[str] = field(default_factory=lambda: ["stdio", "functional"])
    """TACO/APPS: problem kinds kept (stdio programs, functional = fn_name call-based)."""
    taco_min_tokens: int | None = 16
    taco_max_tokens: int | None = 1024
    """TACO/APPS training questions outside [min, max] tokens are dropped (None: no bound); 1024 leaves
    room for a solution in a 1536-token prompt."""
    taco_tokenizer: str | None = None
    """Whose tokens: None, a proxy (words + punctuation); a model reference, its tokenizer's."""
    taco_drop_images: bool = True
    taco_drop_html: bool = True
    taco_dedup: bool = True
    taco_exclude_codecontests: bool = True
    """Drop TACO/APPS problems that duplicate a loaded CodeContests evaluation problem."""
    livecodebench_release: str = "release_v5"
    livecodebench_start_date: str | None = None
    """Inclusive YYYY-MM-DD contest-date window for LiveCodeBench (None: open)."""
    livecodebench_end_date: str | None = None
    judgebench_category: str | None = None
    """Keep JudgeBench pairs whose category starts with this (e.g. livecodebench); None: all."""
    decontam_ngram: int = 5
    """Word n-gram size of the near-duplicate check."""
    near_duplicate_threshold: float = 0.7
    """Jaccard similarity at which two questions count as near duplicates."""
    drop_contaminated: bool = True
    """Remove training problems that duplicate (exactly or nearly) an evaluation problem."""


@dataclass
class SandboxSection:
    """Notebook 02 and every stage that executes code."""

    executor: Literal["local", "sandboxfusion"] = "local"
    workers: int | None = None
    """Warm workers (None: one per core); for sandboxfusion, concurrent requests."""
    memory_mb: int = 1024
    """Address-space limit per job."""
    time_limit: float | None = None
    """Seconds per test; None: the problem's own limit."""
    time_scale: float = 1.0
    """Multiplies every per-test time limit (slow or shared machines)."""
    sample_timeout: float = 60.0
    """Overall deadline of one sample (all its tests), enforced from outside the child."""
    output_limit_mb: float = 8.0
    """Cap on a test's stdout (and stderr), enforced while reading."""
    max_processes: int = 32
    """Processes a job may have at once (fork bombs stop here)."""
    isolation: Literal["auto", "root", "userns", "minimal"] = "auto"
    """auto: the strongest mode the machine allows (see criticlab.sandbox.local)."""
    cgroups: Literal["auto", "nested", "off"] = "auto"
    """Per-worker pids/memory cgroups: auto only where this process is at a hierarchy's root."""
    compare: Literal["tokens", "strict"] = "tokens"
    """Stdout comparison: whitespace tokens with float tolerance, or exact lines."""
    float_tol: float = 1e-5
    """Absolute-or-relative float tolerance for stdout tokens and call results."""
    stop_on_first_failure: bool = False
    """Stop a sample at its first failed test (rewards) instead of running all (critics' feedback)."""
    site_packages: bool = False
    """Let jobs import installed third-party packages (off: standard library only)."""
    max_problems: int | None = None
    """Notebook 02: how many problems the sandbox report runs (None: all loaded)."""
    sandboxfusion_url: str = "http://127.0.0.1:8080"


@dataclass
class ModelsSection:
    """Which models play the generator and the critic, and through which engine."""

    generator: str = "qwen2.5-coder-0.5b-instruct"
    """A registry name (see ``criticlab.llm.models``), a local path, or a Hugging Face id."""
    critic: str = "qwen2.5-coder-0.5b-instruct"
    engine: Literal["llamacpp", "hf", "openai", "vllm"] = "llamacpp"
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    context_length: int = 4096
    threads: int | None = None
    """CPU threads for llama.cpp (None: all cores)."""
    parallel: int = 8
    """Sequences decoded together (llama.cpp's slots, each with ``context_length`` of KV cache; a vLLM
    server's requests in flight). On two cores the rate rises up to about 16 (``bench engines``)."""
    hf_dtype: str = "auto"
    """transformers engines' precision: float32, bfloat16, or auto (bf16 where computed natively)."""
    checkpoint_gguf: bool = True
    """llamacpp engine: serve a trained checkpoint as its cached GGUF conversion (:mod:`criticlab.llm.gguf_export`);
    off, or where it cannot be converted, transformers serves it."""
    checkpoint_gguf_precision: Literal["f32", "f16", "q8_0"] = "f16"
    vllm_kv_cache_gb: float = 2.0
    """vLLM on the CPU (``engine: vllm`` in .venv-vllm): each engine's KV cache in GiB."""
    vllm_compile: bool = False
    """vLLM on the CPU: compile the model (start-up 98 s, not 42 s, for a faster decode)."""
    vllm_server: bool = False
    """vLLM: one ``vllm serve`` of the generator on loopback, started by the runner for every notebook
    (:mod:`criticlab.llm.vllm_server`), instead of an in-process engine in each notebook's kernel."""


@dataclass
class SamplingSection:
    """Decoding settings (the paper: solutions and critiques at T=0.7, top-p 0.8; revisions greedy)."""

    temperature: float = 0.7
    top_p: float = 0.8
    max_tokens: int = 1024
    critique_max_tokens: int | None = None
    """Token budget of a critique (None: ``max_tokens``)."""
    revision_temperature: float = 0.0
    repetition_penalty: float = 1.0
    """The generator's (solutions and revisions, not critiques); critic-rl's generator configs: 1.05."""
    stop_after_code: bool = False
    """End solutions and revisions after their first complete Python code block. The code is all
    that is read from them (run, critiqued, revised); a small generator often goes on with an
    explanation, which costs generation time on a CPU. Off by default: the paper's revision
    conversation shows the generator's whole previous answer."""


@dataclass
class SynthesisSection:
    """Notebook 03: stage-I data (zero-shot samples, hinted critiques, revisions)."""

    samples_per_problem: int = 4
    """Zero-shot samples per problem, at ``sampling.temperature``: several, so failing solutions exist."""
    max_problems: int | None = None
    """Training problems synthesized (the first N of ``data/train.jsonl``; None: all)."""
    critic_model: str = ""
    """Model that writes the hinted critiques (empty: the generator, as in the paper's setup)."""
    max_hint_chars: int = 1000
    keep_only_successful_revisions: bool = False
    balance_judgments: bool = True
    """SFT rows: cut the larger of Correct/Incorrect critiques to the size of the smaller, keeping a
    seeded draw spread round the problems (``criticlab.ctrl.balance``); with one judgment only, keep all."""
    rl_incorrect_share: float | None = None
    """Share of GRPO prompts (and held-out prompts) critiquing a failing solution; the larger side
    is cut to reach it (``criticlab.ctrl.mix_rl_rows``). None: the generator's own mix, as in the paper."""
    heldout_problems: int | None = None
    """Validation problems (``data/validation.jsonl``) sampled for GRPO's held-out prompts (None: all)."""


@dataclass
class SFTSection:
    """Notebook 04: supervised fine-tuning of the critic (the paper: lr 2e-5 cosine, 1 epoch, batch 256)."""

    learning_rate: float = 2e-5
    lr_scheduler: str = "cosine"
    epochs: float = 1.0
    batch_size: int = 256
    per_device_batch_size: int = 4
    max_length: int = 2048
    max_steps: int = -1
    """-1: run the epochs; a positive number caps the optimizer steps."""
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    use_unsloth: bool = False
    """Load the policy with unsloth (CUDA only). unsloth is then imported before transformers, TRL
    and peft (its patches to TRL's trainers apply only so); see :mod:`criticlab.llm.unsloth`."""
    load_in_4bit: bool = False
    """With unsloth: load the frozen base in 4 bit (QLoRA). unsloth's own default is True; here it
    is always passed, so a run becomes QLoRA only when the profile says so."""
    bf16: bool | None = None
    """bf16 mixed precision (fp32 master weights); None: where the hardware computes bf16 natively
    (CUDA cards of compute capability 8 or newer, CPUs with AMX or AVX512-BF16, where it is several
    times faster than fp32; :func:`criticlab.llm.precision.native_bf16`)."""


@dataclass
class GRPOSection:
    """Notebook 05: GRPO of the critic with the generator-revision reward (paper values as defaults)."""

    group_size: int = 8
    learning_rate: float = 1e-5
    lr_scheduler: str = "constant"
    kl_coef: float = 0.001
    clip: float = 0.2
    max_prompt_length: int = 1536
    max_completion_length: int = 768
    temperature: float = 1.0
    epochs: float = 2.0
    prompts_per_step: int = 1024
    max_steps: int = -1
    seeds: int = 1
    """GRPO runs, with seeds ``seed``, ``seed + 1``, ...; 05 reports each and their mean and spread.
    The first seed's critic is the one later stages use."""
    heldout_prompts: int | None = None
    """Held-out prompts (``03_synthesis/rl_heldout.jsonl``, validation problems) on which 05
    measures reward and verdict accuracy before and after training (None: all; 0: no measurement)."""
    heldout_critiques: int = 2
    """Critiques sampled per held-out prompt (at ``temperature``) for that measurement."""
    max_prompts: int | None = None
    """Train on the first N RL prompts only (None: all). With few steps, visiting a few prompts
    several times lets the first and last quarter of the reward curve see the same problems, so
    their difference measures the critic, not the problems' difficulty."""
    mask_truncated: bool = False
    """Leave critiques cut at ``max_completion_length`` out of the loss (DAPO's overlong filtering;
    TRL's ``mask_truncated_completions``). They still count, with reward 0, in their group's mean.
    Without it a small critic's long cut-off critiques dominate a token-averaged loss with negative
    advantages, and pushing their tokens down can flatten it into rambling that never reaches a judgment."""
    judgment_gate: Literal["none", "last_line", "substring"] = "none"
    """Give a critique without a judgment reward 0 without revising it. ``substring``: critic-rl's
    gate (``ctrl/rl/critic_rm.py``, ``reward_revision``: 0 unless "Overall judgment: Correct" or
    "...: Incorrect" occurs anywhere); ``last_line``: the workbook's stricter last-line parse; ``none``:
    every critique is revised. 05 reports the mean reward of the critiques without a judgment."""
    revision_input: Literal["response", "sanitized"] = "response"
    """The previous answer the reward's revision shows: the generator's whole ``response``, or only
    its first code block, fenced (``sanitized``: critic-rl's ``sanitize(solution)`` in
    ``build_revision_messages``; :func:`criticlab.rollout.prompts.sanitize`)."""
    lora: bool = False
    lora_r: int = 16
    """Rank of the adapter GRPO trains (with ``lora``), GRPO's own: not read from the ``sft`` section."""
    lora_alpha: int = 32
    use_vllm: bool = False
    """Sample the critiques through vLLM: on a card TRL's own (its memory planned by the keys below);
    on the CPU (.venv-vllm, ``lora: true``) vLLM's CPU build with the adapter swapped in each step."""
    vllm_mode: Literal["colocate", "server"] = "colocate"
    """colocate: TRL's vLLM runs inside the trainer, on the trainer's card, taking ``vllm_memory``
    of it. server: TRL waits for a ``trl vllm-serve`` that you start yourself on another GPU (its
    memory is then not on this profile's card). Always passed to TRL, whose default changed."""
    vllm_memory: float = 0.3
    """Share of the card TRL's colocated vLLM takes (``vllm_gpu_memory_utilization``)."""
    vllm_sleep_mode: bool = True
    """TRL's colocated vLLM frees its weights and KV cache while the optimizer steps
    (``vllm_enable_sleep_mode``), so the training peak does not count its share."""
    use_unsloth: bool = False
    """Load the policy with unsloth (CUDA only); see ``sft.use_unsloth``."""
    load_in_4bit: bool = False
    """With unsloth: load the frozen base in 4 bit (QLoRA); see ``sft.load_in_4bit``."""
    from_adapter: Literal["continue", "merge"] = "merge"
    """When GRPO starts from a LoRA adapter (04's SFT critic): ``merge`` it into its base once
    (cached next to it) and train a new adapter on that (``lora: true``) or the merged model itself;
    the KL reference is then the merged SFT critic (the new adapter disabled, or a second copy of
    the merged model), as in the paper. ``continue`` trains the same adapter further: one adapter,
    served on the generator's engine in 07. Its KL reference depends on the loader: plain TRL keeps
    a frozen copy of the adapter as it was at the start, so the reference is the SFT critic; with
    ``use_unsloth``, unsloth's patched trainer drops that copy and disables the adapter instead, so
    the reference is the base model. In full: :func:`criticlab.training.train_grpo`."""
    bf16: bool | None = None
    """bf16 mixed precision (fp32 master weights); None: where the hardware computes bf16 natively
    (CUDA cards of compute capability 8 or newer, CPUs with AMX or AVX512-BF16, where it is several
    times faster than fp32; :func:`criticlab.llm.precision.native_bf16`)."""


@dataclass
class CRLSection:
    """Notebook 06: critique RL mixed into code RL (Critique-Coder: 20% CRL rows)."""

    ratio: float = 0.2
    policy_model: str = ""
    """The coder trained with the CRL+code mixture (empty: the profile's generator)."""
    ablation_ratios: list[float] = field(default_factory=lambda: [0.0, 0.2, 0.5, 1.0])
    max_steps: int | None = None
    """GRPO steps of each CRL run (None: ``grpo.max_steps``); the other GRPO settings are shared."""
    label_threshold: float = 0.8
    """A candidate solution is labelled correct when its pass rate exceeds this (the source of 0.8:
    :func:`criticlab.crl.crl_rows`)."""
    format_warmup_epochs: int = 0
    """Epochs of SFT on bare ``\\conclusion{T|F}`` answers with random labels before CRL (0: none),
    for policies too small to follow the format (see :func:`criticlab.crl.warmup.format_warmup_rows`)."""
    seeds: int = 1
    """CRL runs per ratio, with seeds ``seed``, ``seed + 1``, ... (as ``grpo.seeds``); the comparison
    gives each seed's row and their mean and spread (1: one run, its files named without a seed). The
    rows, their mix and the format warm-up are the same for every seed; the seed changes GRPO's
    sampling and the order of its batches."""
    heldout_fraction: float = 0.25
    """Share of the CRL candidates' *problems* kept out of CRL training to measure the policy as a
    judge (split by problem id, seeded with ``data.split_seed``; :func:`criticlab.crl.split_heldout`).
    The judge accuracy before and after each run is measured on these rows only, never on training
    rows. 0: no held-out rows (no judge evaluation)."""
    eval_problems: int | None = None
    """Evaluation problems (01's ``eval.jsonl``, the ones 07 uses, first N) on which each CRL policy
    and its start are run as code generators (None: ``evaluation.max_problems``)."""
    eval_samples: int | None = None
    """Sampled solutions per evaluation problem, at the solution sampling of the profile; Pass@k is
    reported for k up to this (None: ``evaluation.samples_per_problem``)."""


@dataclass
class EvaluationSection:
    """Notebook 07: methods × rounds on the evaluation set."""

    methods: list[str] = field(
        default_factory=lambda: ["zero_shot", "execution_feedback", "self_critique", "self_critique_exec"]
    )
    rounds: int = 1
    samples_per_problem: int = 1
    stop_when_correct: bool = False
    trained_critics: list[str] = field(default_factory=lambda: ["ctrl_sft", "ctrl_grpo"])
    """Trained critics evaluated besides ``methods`` once their checkpoints exist. Each costs a
    critique and a generator revision per problem and round: a profile short of time can keep only
    the critic under study (``[ctrl_grpo]``)."""
    max_problems: int | None = None
    problem_ids: list[str] = field(default_factory=list)
    """Evaluate exactly these problems of ``data/eval.jsonl``, in this order (empty: the first
    ``max_problems`` in turn from each benchmark). 06's code evaluation takes the same ones."""
    curve_rounds: int = 0
    """Rounds of the multi-round curve (CTRL's Figure 1), run again on the first ``curve_problems``
    evaluated problems when more than ``rounds``: the main table can stay at one round on many
    problems while the curve follows fewer problems further. Its first rounds repeat the main
    run's requests, which the response cache answers. 0: the curve is the main run's rounds."""
    curve_problems: int | None = None
    """Problems of the multi-round curve (the first of those evaluated; None: all of them)."""
    bootstrap: int = 1000
    repair_sampled: int = 2
    """Sampled revisions (at the solution temperature) beside each method's greedy one, under the
    same critique, for the repairability table (:mod:`criticlab.evaluation.repairability`)."""
    repair_hinted: bool = True
    """Also revise every zero-shot solution under 03's hinted (oracle) critique for that table."""
    selection_n: list[int] = field(default_factory=lambda: [4, 8])
    """Best-of-N (:mod:`criticlab.evaluation.selection`): the pool draws the largest N per problem."""
    selection_problems: int | None = None
    """Problems of the Best-of-N pool (the first of those evaluated; None: all of them)."""
    selection_critiques: int = 1
    """Critiques of each pooled solution by each critic; a solution's score is its Correct votes."""
    selection_judges: list[str] = field(default_factory=list)
    """Zero-shot judges besides the critics: ``<model>`` writes CTRL's critique, ``conclusion:<model>``
    answers in Critique-Coder's format (e.g. ``qwen2.5-coder-1.5b-instruct``)."""
    pairwise_samples: int = 4
    """Zero-shot samples per problem pooled to find (passing, failing) pairs for Maj@k."""
    pairwise_problems: int | None = None
    """Problems whose samples are pooled for pairs (the first of those evaluated; None: all). The
    pool's first sample of a problem is the main run's zero-shot answer (the response cache), so
    each problem costs ``pairwise_samples - 1`` new solutions and the critiques of its pair."""
    pairwise_critiques: int = 4
    """CTRL's pairwise judging: k critiques of each response of a (passing, failing) pair; the
    Maj@k curve runs k = 1, 2, 4, … up to this."""
    judgebench_critiques: int = 4
    """Pointwise critiques of each JudgeBench response; the Maj@k curve runs k = 1, 2, 4, … up to this
    (CTRL's evaluation of its critics as generative reward models on JudgeBench: majority voting
    up to Maj@64)."""
    judgebench_pairs: int | None = None
    """JudgeBench pairs evaluated (None: all that pass ``judgebench_max_chars``), drawn by id hash in
    turn from each category (knowledge, reasoning, math, coding) so every category is represented."""
    judgebench_max_chars: int | None = None
    """Leave out JudgeBench pairs whose question and two responses together exceed this many
    characters (None: keep all). A small model's context cannot hold the longer pairs, and a prompt
    that does not fit would only yield engine errors; the count left out is reported."""


@dataclass
class AnalysisSection:
    """Notebook 08: Markov view, compounding-error simulation, critique strategies."""

    simulate_attempts: int = 20
    strategy_llm: bool = False


@dataclass
class PromptsSection:
    """How the method's texts are worded and read, in every stage (:mod:`criticlab.rollout.prompts`)."""

    revision_request: Literal["workbook", "reference"] = "workbook"
    """The request after a critique (03, 05's reward, 07): ``reference``, the papers' sentence ("Please
    finalize your answer accordingly using the same format."); ``workbook`` adds: one python block."""
    parser: Literal["workbook", "reference"] = "workbook"
    """``reference``: a judgment is "Overall judgment: Correct|Incorrect" anywhere (critic-rl), a
    conclusion the last ``\\conclusion{...}`` over the whole answer, T when it holds a 'T'
    (Critique-Coder ``crl.py``); ``workbook``: the last line, and the last ``\\conclusion{T|F}``
    outside ``<think>``. 06 and 07 report how often the two disagree."""


@dataclass
class Profile:
    """A whole run's settings. ``name`` defaults to the profile file's stem (``smoke``, ``cpu``...)."""

    name: str = ""
    description: str = ""
    seed: int = 0
    progress: bool = True
    """Show tqdm progress bars (off in CI so logs stay readable)."""
    data: DataSection = field(default_factory=DataSection)
    sandbox: SandboxSection = field(default_factory=SandboxSection)
    models: ModelsSection = field(default_factory=ModelsSection)
    gpu: GPUSection = field(default_factory=GPUSection)
    sampling: SamplingSection = field(default_factory=SamplingSection)
    synthesis: SynthesisSection = field(default_factory=SynthesisSection)
    sft: SFTSection = field(default_factory=SFTSection)
    grpo: GRPOSection = field(default_factory=GRPOSection)
    crl: CRLSection = field(default_factory=CRLSection)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)
    analysis: AnalysisSection = field(default_factory=AnalysisSection)
    prompts: PromptsSection = field(default_factory=PromptsSection)
    source: str = field(default="", metadata={"internal": True})
    """The profile file this was loaded from (set by the loader, not by YAML)."""

    @property
    def paths(self) -> Paths:
        return Paths(outputs_root() / self.name)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------
# Locations
# --------------------------------------------------------------------------------------------


def project_root() -> Path:
    """The checkout holding ``params/`` and ``pyproject.toml``.

    Found from ``$CRITICLAB_ROOT``, else by walking up from the working directory (notebooks run
    from ``notebooks/``), else from this file's location (an editable install in ``lib/``).
    """
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).resolve()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for candidate in (start, *start.parents):
            if (candidate / "params").is_dir() and (candidate / "pyproject.toml").is_file():
                return candidate
    raise ConfigError(
        f"cannot find the CriticLab project root (a folder with params/ and pyproject.toml) above "
        f"{Path.cwd()}; set ${ROOT_ENV}"
    )


def outputs_root() -> Path:
    env = os.environ.get(OUTPUTS_ENV)
    return Path(env).resolve() if env else project_root() / "outputs"


def resolve_profile_path(name_or_path: str | os.PathLike) -> Path:
    """``smoke`` → ``<root>/params/smoke.yaml``; a path is taken as given (relative to the cwd or root)."""
    text = str(name_or_path)
    candidates = []
    if text.endswith((".yaml", ".yml")) or os.sep in text or "/" in text:
        path = Path(text)
        candidates = [path] if path.is_absolute() else [Path.cwd() / path, project_root() / path]
    else:
        candidates = [project_root() / "params" / f"{text}.yaml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(f"profile {text!r} not found (looked for {', '.join(str(c) for c in candidates)})")


# --------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------


def load_profile(
    name_or_path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None
) -> Profile:
    """Load, layer and validate a profile; apply ``overrides`` (a nested dict, ``None`` values ignored).

    ``name_or_path`` defaults to ``$CRITICLAB_PROFILE`` or ``smoke``. Notebooks pass their
    parameters as overrides, so a papermill ``-p rounds 3`` lands in the right section and is
    validated like a YAML key.
    """
    name_or_path = name_or_path or os.environ.get(PROFILE_ENV) or "smoke"
    path = resolve_profile_path(name_or_path)
    merged = _load_layers(path, seen=())
    if overrides:
        cleaned = _drop_none(overrides)
        _validate(cleaned, where="overrides")
        merged = _merge(merged, cleaned)
    merged.setdefault("name", path.stem)
    merged["source"] = str(path)
    profile = records.decode(Profile, merged)
    try:
        check_memory_plan(profile)
    except PlanError as err:
        raise ConfigError(str(err)) from err
    return profile


def _load_layers(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise ConfigError(f"{path}: 'extends' forms a cycle ({chain})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    except OSError as err:
        raise ConfigError(f"{path}: cannot read profile ({err.strerror})") from err
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a profile must be a mapping of keys, got {type(raw).__name__}")
    base: dict[str, Any] = {}
    parent = raw.pop("extends", None)
    if parent is not None:
        if not isinstance(parent, str):
            raise ConfigError(f"{path}: 'extends' must be a file name, got {parent!r}")
        parent_path = (path.parent / parent).resolve()
        if not parent_path.is_file():
            raise ConfigError(f"{path}: 'extends: {parent}' names no file ({parent_path} is missing)")
        base = _load_layers(parent_path, (*seen, path))
        base.pop("name", None)  # a child's name comes from its own file, not its parent's
    _validate(raw, where=str(path))
    return _merge(base, raw)


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not _is_free_mapping(key):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _is_free_mapping(key: str) -> bool:
    """Keys whose value is a user mapping (replaced whole), not a section of the schema."""
    return key in {"paths"}


def _drop_none(tree: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and not _is_free_mapping(key):
            value = _drop_none(value)
            if value:
                out[key] = value
        elif value is not None:
            out[key] = value
    return out


def schema_keys(section: str | None = None) -> list[str]:
    """The declared keys of the profile, or of one section (used by the notebook checks)."""
    fields_ = records.fields(Profile)
    if section is None:
        return sorted(fields_)
    if section not in fields_ or not dataclasses.is_dataclass(fields_[section]):
        raise ConfigError(f"no profile section named {section!r}")
    return sorted(records.fields(fields_[section]))


def _validate(raw: dict[str, Any], where: str) -> None:
    """Check one layer (a file or the overrides) before it merges, so an error names its source."""
    try:
        records.check(Profile, raw)
    except records.RecordError as err:
        raise ConfigError(f"{where}: {_mismatch(err)}") from None


def _mismatch(err: records.RecordError) -> str:
    """A record mismatch in the words of a profile: the dotted key, and for a typo the nearest key."""
    prefix = f"{err.at}." if err.at else ""
    if err.kind == "unknown":
        key = err.names[0]
        hint = difflib.get_close_matches(key, list(err.known), n=1)
        suggestion = f" (did you mean {prefix}{hint[0]!r}?)" if hint else ""
        return f"unknown key {prefix + key!r}{suggestion}; known keys here: {', '.join(err.known)}"
    return f"{err.at!r} must be {records.describe(err.expected)}, got {err.value!r}"

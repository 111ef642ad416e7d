"""The contracts between stages: their names, the files they write, and each ``metrics.json``.

A stage is a numbered notebook; it writes under ``outputs/<profile>/<stage>/`` and the stages after
it read only what it declared here. Every directory and file name a stage shares is spelled once,
in this module, and each stage's ``metrics.json`` is a typed record (a dataclass): the notebook
builds the record and :func:`write_metrics` saves it; the run summary, the benchmarks and the
tests read it back with :func:`read_metrics`, which names the file and the field when a record
does not match its type.

This module imports nothing of the workbench but :mod:`criticlab.io`, :mod:`criticlab.stats` and
:mod:`criticlab.records` (the codec that reads a record back), so every layer can use it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from criticlab import records
from criticlab.io import read_json, write_json
from criticlab.stats import LearningCheck

# --------------------------------------------------------------------------------------------
# Stage names: the notebook's stem, its output directory, and its key in run.json
# --------------------------------------------------------------------------------------------

DATA = "01_data"
SANDBOX = "02_sandbox"
SYNTHESIS = "03_synthesis"
SFT = "04_sft"
GRPO = "05_grpo"
CRL = "06_crl"
EVALUATION = "07_evaluation"
ANALYSIS = "08_analysis"
STAGES = (DATA, SANDBOX, SYNTHESIS, SFT, GRPO, CRL, EVALUATION, ANALYSIS)

# --------------------------------------------------------------------------------------------
# Directories of a profile's output root (outputs/<profile>/)
# --------------------------------------------------------------------------------------------

DATA_DIR = "data"
FIGURES_DIR = "figures"
TABLES_DIR = "tables"
CHECKPOINTS_DIR = "checkpoints"
NOTEBOOKS_DIR = "notebooks"
CACHE_DIR = "cache"
RUN_FILE = "run.json"
"""The runner's record of every notebook run (status, seconds), at the output root."""
METRICS_FILE = "metrics.json"

# --------------------------------------------------------------------------------------------
# Artifacts, by the stage that writes them
# --------------------------------------------------------------------------------------------

# 01_data (under data/)
TRAIN_PROBLEMS = "train.jsonl"
EVAL_PROBLEMS = "eval.jsonl"
VALIDATION_PROBLEMS = "validation.jsonl"
"""Training-side problems held out (``data.validation_fraction``): settings are chosen there and
GRPO's held-out prompts come from there; no stage trains on them."""
JUDGE_PAIRS = "judge_pairs.jsonl"

# 02_sandbox
ISOLATION = "isolation.json"
REFERENCES = "references.csv"
MUTANTS = "mutants.csv"
THROUGHPUT = "throughput.csv"

# 03_synthesis
SAMPLES = "samples.jsonl"
"""Every zero-shot sample with its execution, hint, hinted critique and revision (resumable)."""
SFT_ROWS = "sft.jsonl"
RL_ROWS = "rl.jsonl"
"""GRPO's training prompts: (problem, solution) pairs of the training problems, mixed to
``synthesis.rl_incorrect_share`` failing solutions."""
HELDOUT_SAMPLES = "heldout_samples.jsonl"
"""Zero-shot samples of the validation problems, executed (no critique; resumable)."""
RL_HELDOUT = "rl_heldout.jsonl"
"""GRPO's held-out prompts: (problem, solution) pairs of the validation problems, both judgments;
05 measures reward and verdict accuracy on them before and after training."""

# checkpoints/ (04, 05, 06): each run's directory holds checkpoint-* and the final model
SFT_CHECKPOINTS = "sft"
GRPO_CHECKPOINTS = "grpo"
CRL_WARMUP_CHECKPOINTS = "crl_format_warmup"
FINAL = "final"
"""The finished model (or LoRA adapter) inside a run's checkpoint directory."""
HISTORY = "history.jsonl"
"""The trainer's log history, beside ``final``."""
RUN_SETTINGS = "run_settings.json"
"""What a training run was started with; the resume guard compares it (:mod:`criticlab.training.resume`)."""

# 05_grpo
REWARDS = "rewards.jsonl"
"""One :class:`~criticlab.rewards.RewardRecord` per sampled completion."""
HELDOUT_REWARDS = "heldout_{when}.jsonl"
"""The reward log of the held-out measurement ``before`` training, or ``after_seed<N>``."""
TABLE_GRPO_SEEDS = "05_grpo_seeds"
STEP_TIMES = "step_times.jsonl"
VERL_TRAIN = "verl_train.parquet"

# 07_evaluation
PAIRWISE_POOL = "pairwise_pool.jsonl"
"""Zero-shot samples drawn for the pairwise (Maj@k) comparison; not an evaluation method."""
JUDGEBENCH_JUDGMENTS = "judgebench.jsonl"
"""Every critic's pointwise judgments and pairwise picks on the JudgeBench pairs, one line per
(critic, pair) (:class:`criticlab.evaluation.JudgeRecord`)."""
CURVE = "curve"
"""The sub-directory of 07's trajectories of the multi-round curve (``evaluation.curve_rounds``)."""
SELECTION_POOL = "selection_pool.jsonl"
"""Zero-shot samples (the largest ``evaluation.selection_n`` per problem) a critic chooses among."""
SELECTION_JUDGMENTS = "selection_judgments.jsonl"
"""Every critic's judgments of the selection pool, one line per (critic, solution)."""
REPAIRS = "repairs.jsonl"
"""The repairability revisions 07 generates: sampled and hinted (:func:`criticlab.evaluation.run_repairability`)."""
NOT_TRAJECTORIES = frozenset(
    {PAIRWISE_POOL, JUDGEBENCH_JUDGMENTS, REPAIRS, SELECTION_POOL, SELECTION_JUDGMENTS}
)
"""07's JSONL files that are not an evaluation method's trajectories."""


# 06_crl: one of each per mix ratio (and per seed when the profile names several), named by :func:`for_ratio`
CRL_CHECKPOINTS = "crl_{ratio:g}{seed}"
"""The checkpoint directory (under checkpoints/) of the CRL run at one ratio."""
CRL_MIX = "mix_{ratio:g}.jsonl"
"""The mixed code + CRL rows of one ratio (the same for every seed)."""
CRL_VERL_MIX = "verl_mix_{ratio:g}.parquet"
CRL_REWARDS = "rewards_{ratio:g}{seed}.jsonl"
CRL_STEP_TIMES = "step_times_{ratio:g}{seed}.jsonl"
CRL_HELDOUT = "heldout.jsonl"
"""The CRL rows kept out of training, on which every policy is measured as a judge."""
CRL_CODE = "code_{ratio:g}{seed}.jsonl"
"""One run's policy: its sampled solutions to the evaluation problems, executed."""
CRL_CODE_START = "code_start.jsonl"
"""The same for the policy the runs start from."""


def for_seed(name: str, seed: int, first_seed: int) -> str:
    """One GRPO seed's file or directory: the profile's own seed keeps ``name`` (what later stages
    read, e.g. ``checkpoints/grpo/final``); another gets ``<stem>_seed<N><suffix>``."""
    if seed == first_seed:
        return name
    path = Path(name)
    return f"{path.stem}_seed{seed}{path.suffix}"


def for_ratio(pattern: str, ratio: float, seed: int | None = None) -> str:
    """The name of one CRL run's file or directory, e.g. ``for_ratio(CRL_REWARDS, 0.2)`` →
    ``rewards_0.2.jsonl`` and ``for_ratio(CRL_REWARDS, 0.2, seed=1)`` → ``rewards_0.2_seed1.jsonl``
    (``seed`` None: the single-seed name)."""
    return pattern.format(ratio=ratio, seed="" if seed is None else f"_seed{seed}")


def trajectories_file(method: str) -> str:
    """One evaluation method's trajectories (07); ``:`` of ``critic:name`` is not a path character."""
    return f"{method.replace(':', '_')}.jsonl"


# Figure and table stems (under figures/ and tables/; the writers add .pdf/.png and .csv/.md/.tex)
FIG_DATA = "01_data"
FIG_SANDBOX = "02_sandbox"
FIG_SYNTHESIS_COUNTS = "03_synthesis_counts"
FIG_SFT_LOSS = "04_sft_loss"
FIG_GRPO_CURVES = "05_grpo_curves"
FIG_CRL_REWARDS = "06_crl_rewards"
FIG_CRL_ACCURACY = "06_crl_accuracy"
FIG_CRL_COMPARISON = "06_crl_comparison"
FIG_PASS_BY_ROUND = "07_pass_by_round"
FIG_DELTAS = "07_deltas"
FIG_MAJORITY = "07_majority"
FIG_SELECTION = "07_selection"
FIG_JUDGEBENCH = "07_judgebench"
"""JudgeBench Maj@k against k, one line per critic (all pairs)."""
FIG_CORRECT_TO_INCORRECT = "08_correct_to_incorrect"
FIG_ITERATION_UPDOWN = "08_iteration_updown"
"""CTRL Figure 4: unconditional Δ↓ per iteration (share of all samples) beside the conditional
P(correct → incorrect | correct)."""
FIG_MARKOV = "08_markov"
FIG_COMPOUNDING = "08_compounding"
FIG_ABILITIES = "08_abilities"
"""CTRL Figure 3: simulated pass rate per round, critiquing × discrimination ability."""
FIG_STRATEGIES = "08_strategies"
FIG_SIMILARITY = "08_similarity"

TABLE_DATA_SOURCES = "01_data_sources"
TABLE_CRL_COMPARISON = "06_crl_comparison"
"""Critique-Coder's main table: each CRL ratio (and the start policy) as a code generator (Pass@1 and
Pass@k per benchmark) and as a judge on held-out CRL rows (accuracy per label, always-T), per seed
and as mean and spread."""
TABLE_ROUNDS = "07_rounds"
TABLE_CURVE = "07_rounds_curve"
"""Pass@1/Δ↑/Δ↓ per round of the multi-round curve's subset (written when ``evaluation.curve_rounds``
exceeds ``evaluation.rounds``)."""
TABLE_FINAL = "07_final"
TABLE_PASS_AT_K = "07_pass_at_k"
TABLE_DIFFERENCES = "07_differences"
TABLE_DISCRIMINATION = "07_discrimination"
TABLE_REPAIRABILITY = "07_repairability"
TABLE_SELECTION = "07_selection"
TABLE_MAJORITY = "07_majority"
TABLE_JUDGEBENCH = "07_judgebench"
"""JudgeBench pointwise Maj@k accuracy per critic, category and k, with intervals."""
TABLE_JUDGEBENCH_PAIRWISE = "07_judgebench_pairwise"
"""JudgeBench pairwise-mode accuracy (both orders) and position-swap consistency per critic and category."""
TABLE_TRANSITION_RATES = "08_transition_rates"
TABLE_ITERATION_UPDOWN = "08_iteration_updown"
"""Per method and iteration: unconditional Δ↑ and Δ↓ as shares of all samples (CTRL Figure 4)."""
TABLE_MARKOV_PREDICTION = "08_markov_prediction"
TABLE_COMPOUNDING = "08_compounding"
"""Each critic's simulated loops (with the bootstrap band) beside its observed Pass@1 per round."""
TABLE_ABILITIES = "08_abilities"
"""CTRL Figure 3's simulation (App. C.1): pass rate per round for each critiquing × discrimination
setting, simulated (50,000 runs) beside its exact value."""
TABLE_CRITIC_RATES = "08_critic_rates"
"""Each critic's own p_init, p_cc, p_wc, tpr, tnr with Wilson intervals, or why one is not estimable."""
TABLE_STRATEGIES = "08_strategies"
TABLE_STRATEGY_VALIDATION = "08_strategy_validation"
"""Per-label precision/recall of the strategy labellers against the hand-labelled set."""
TABLE_SIMILARITY = "08_similarity"

# --------------------------------------------------------------------------------------------
# metrics.json records
# --------------------------------------------------------------------------------------------


class MetricsError(ValueError):
    """A metrics.json that does not match its stage's record (names the file and the field)."""


@dataclass
class StageMetrics:
    """Base of every stage's record: which stage wrote it."""

    STAGE: ClassVar[str] = ""


@dataclass
class Throughput:
    """What a generating stage (03, 05, 06, 07) generated and how fast, beside the engine's benchmark.

    ``tokens`` counts generated tokens of sequences actually decoded (the response cache's answers
    are not generated again); ``generation_seconds`` is wall time spent generating them;
    ``tokens_per_second`` their ratio (0 when nothing was generated), the figure to set beside
    ``python -m criticlab.bench engines``' batched rate; ``wall_seconds`` is the stage's whole
    time from its first cell with work to its metrics (execution and training included).
    """

    tokens: int = 0
    sequences: int = 0
    generation_seconds: float = 0.0
    wall_seconds: float = 0.0
    tokens_per_second: float = 0.0
    parts: dict[str, dict[str, float]] = field(default_factory=dict)
    """The same figures per part where a stage has several (05: ``engines`` and ``rollouts``)."""
    runs: int = 1
    """How many runs of the stage on these outputs the figures add up (a resumed or cached re-run
    adds its own to what the earlier runs recorded; see :class:`criticlab.llm.throughput.StageWatch`)."""


@dataclass
class DataMetrics(StageMetrics):
    """01_data: what was loaded, filtered, capped and decontaminated, and where it went."""

    STAGE: ClassVar[str] = DATA
    counts: dict[str, Any]
    """Problems per split (``train``, ``validation``, ``eval``) and JudgeBench pairs (``judge_pairs``)."""
    roles: dict[str, str]
    loads: dict[str, Any]
    filters: dict[str, Any]
    capped: dict[str, Any]
    decontamination: dict[str, Any] | None
    removed_contaminated: int
    removed_contaminated_ids: list[str]
    settings: dict[str, Any]
    written: dict[str, str] = field(default_factory=dict)
    """Files written, relative to the profile's output root."""


@dataclass
class SandboxMetrics(StageMetrics):
    """02_sandbox: references accepted, mutants rejected with the right verdict, speed, isolation."""

    STAGE: ClassVar[str] = SANDBOX
    problems: int
    problem_origin: str
    references_accepted: int
    references_total: int
    mutants_total: int
    mutants_rejected: int
    mutants_as_expected: int
    isolation_mode: str
    isolation: dict[str, Any]
    throughput_per_second: dict[str, float]
    latency_ms: dict[str, float]


@dataclass
class JudgmentMix:
    """How many items of a stage call for a ``Correct`` and an ``Incorrect`` judgment, and their
    shares (0 when there are none). For samples and prompts the label is the execution (passes
    every test = Correct); for critiques, the critic's judgment (which synthesis keeps only where
    it agrees with the execution)."""

    correct: int = 0
    incorrect: int = 0
    correct_share: float = 0.0
    incorrect_share: float = 0.0

    @classmethod
    def of(cls, correct: Any) -> JudgmentMix:
        """The mix of an iterable of labels: True/"correct" is Correct, anything else Incorrect."""
        labels = [label is True or label == "correct" for label in correct]
        n, right = len(labels), sum(labels)
        return cls(right, n - right, right / n if n else 0.0, (n - right) / n if n else 0.0)

    @property
    def total(self) -> int:
        return self.correct + self.incorrect

    def __str__(self) -> str:
        return (
            f"{self.total} ({self.correct} Correct / {self.incorrect} Incorrect, "
            f"{100 * self.incorrect_share:.0f}% Incorrect)"
        )


MIX_STAGES = ("samples", "sft_critiques", "sft_rows", "grpo_prompts", "grpo_heldout")
"""Where 03 reports the judgment mix (:attr:`DatasetReport.judgments`): every zero-shot sample
of the training problems, the critiques kept by the filters, the SFT rows after balancing, GRPO's
training prompts, and its held-out prompts (validation problems)."""


@dataclass
class DatasetReport:
    """How many synthesis records each step kept or dropped (03's counts, built by
    :func:`criticlab.ctrl.write_datasets`)."""

    samples: int = 0
    zero_shot_passed: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    cut_after_judgment: int = 0
    """Hinted critiques that went on after their judgment line and were cut there."""
    kept_after_filters: int = 0
    dropped_revision_failed: int = 0
    dropped_for_balance: int = 0
    sft_rows: int = 0
    sft_judgments: dict[str, int] = field(default_factory=dict)
    """SFT rows per critic judgment (``correct`` / ``incorrect``)."""
    revision_pass_rate: float = 0.0
    rl_rows: int = 0
    dropped_for_rl_mix: int = 0
    """(problem, solution) pairs left out of the GRPO prompts to reach ``rl_incorrect_share``."""
    rl_heldout_rows: int = 0
    judgments: dict[str, JudgmentMix] = field(default_factory=dict)
    """The Correct/Incorrect mix at each of :data:`MIX_STAGES`."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class SynthesisMetrics(StageMetrics):
    """03_synthesis: the dataset counts and what the hinted critiques did."""

    STAGE: ClassVar[str] = SYNTHESIS
    problems: int
    datasets: DatasetReport
    zero_shot_pass_rate: float
    critiques: int
    revisions_passed: int
    throughput: Throughput | None = None
    """Tokens generated, seconds, tokens/s (:class:`Throughput`)."""


@dataclass
class TrainingRun:
    """What every training stage reports of one run (04, 05, and each of 06's runs)."""

    trained: bool
    steps: int = 0
    checkpoint: str | None = None
    resumed_from: str | None = None


@dataclass
class SFTMetrics(StageMetrics):
    """04_sft: the critic's supervised fine-tuning and whether its loss fell beyond noise."""

    STAGE: ClassVar[str] = SFT
    rows: int
    run: TrainingRun
    loss: LearningCheck | None = None
    """Loss in the first vs the last quarter of steps (``above_noise``: it *rose*; expect False)."""


@dataclass
class HeldoutScore:
    """A critic on GRPO's held-out prompts: CTRL reward and verdict accuracy with 95% intervals
    (a bootstrap over prompts, which keeps a prompt's critiques together)."""

    prompts: int
    critiques: int
    reward: float
    reward_lo: float
    reward_hi: float
    accuracy: float
    """Share of critiques whose judgment matches the execution (no judgment counts as wrong)."""
    accuracy_lo: float
    accuracy_hi: float
    accuracy_correct: float
    """...on prompts whose solution passes (NaN: none)."""
    accuracy_incorrect: float
    """...on prompts whose solution fails (NaN: none)."""
    unparsed: float
    """Share of critiques without a parseable judgment."""


@dataclass
class GRPOSeedRun:
    """One GRPO run of 05 (one seed): its reward curve and the critic it left on the held-out prompts."""

    seed: int
    run: TrainingRun
    reward_per_step: list[float] = field(default_factory=list)
    learned: LearningCheck | None = None
    unparsed_per_step: list[float] = field(default_factory=list)
    seconds_per_step: dict[str, float] | None = None
    trained_mix: JudgmentMix | None = None
    """Correct/Incorrect mix of the solutions critiqued during training (from the reward log)."""
    after: HeldoutScore | None = None


@dataclass
class GRPOMetrics(StageMetrics):
    """05_grpo: the critic's GRPO runs (one per seed), their reward curves, the "did it learn" check,
    and reward and verdict accuracy on held-out prompts before and after training. The top-level
    run fields are the first seed's (the critic later stages use)."""

    STAGE: ClassVar[str] = GRPO
    rl_rows: int
    start: str
    """The model GRPO started from (the SFT critic when 04 trained one)."""
    run: TrainingRun
    reward_per_step: list[float] = field(default_factory=list)
    learned: LearningCheck | None = None
    unparsed_per_step: list[float] = field(default_factory=list)
    """Share of each step's critiques without a parseable judgment."""
    judgment_gate: str | bool = "none"
    """``grpo.judgment_gate`` (records written before it named a rule hold true/false:
    true was ``last_line``)."""
    parser_disagreements: int = 0
    """Logged critiques (first seed) whose judgment the workbook's last-line parse and critic-rl's
    substring test read differently (:func:`criticlab.rewards.parser_disagreements`)."""
    unparsed_critiques: int = 0
    unparsed_reward: float | None = None
    """Mean reward of the critiques without a judgment: what the judgment gate sets to 0 (NaN: none)."""
    seconds_per_step: dict[str, float] | None = None
    prompts_mix: JudgmentMix | None = None
    """Correct/Incorrect mix of the prompts GRPO may train on (the first ``grpo.max_prompts``)."""
    heldout_rows: int = 0
    heldout_mix: JudgmentMix | None = None
    heldout_before: HeldoutScore | None = None
    """The starting critic (the SFT critic) on the held-out prompts."""
    seeds: list[GRPOSeedRun] = field(default_factory=list)
    across_seeds: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per statistic (reward difference, held-out reward and accuracy after): mean, sd, min, max over seeds."""
    throughput: Throughput | None = None
    """Tokens generated, seconds, tokens/s (:class:`Throughput`)."""


@dataclass
class CRLRatioRun:
    """One CRL run at one mix ratio (and seed): its reward log's summary, the judge accuracy on the
    held-out rows before and after it, and the trained policy as a code generator."""

    ratio: float
    run: TrainingRun
    summary: dict[str, float]
    """:func:`criticlab.crl.summarize_run`: code reward, conclusion accuracy (per label, base rate)."""
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    """:func:`criticlab.crl.conclusion_stats` of sampled conclusions on the held-out CRL rows, by the
    start policy / by the trained one (empty when no row is held out)."""
    seed: int | None = None
    """The training seed (None: the profile's seed, when it names no ``crl.seeds``)."""
    code: list[dict[str, Any]] = field(default_factory=list)
    """:func:`criticlab.crl.code_scores` of the trained policy: Pass@k per benchmark (``source``) and k."""


@dataclass
class CRLMetrics(StageMetrics):
    """06_crl: one GRPO run per mix ratio (and seed) of CRL rows into code-RL rows, and the comparison
    of the trained policies as code generators and as judges."""

    STAGE: ClassVar[str] = CRL
    code_rows: int
    crl_rows: int
    policy: str
    format_warmup_epochs: int
    ratios: list[CRLRatioRun] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    train_crl_rows: int = 0
    """CRL rows the runs may train on (the problems not held out)."""
    heldout_crl_rows: int = 0
    heldout_problems: list[str] = field(default_factory=list)
    """Problem ids whose CRL rows are held out (disjoint from the training rows' problems)."""
    eval_problems: int = 0
    eval_samples: int = 0
    start_code: list[dict[str, Any]] = field(default_factory=list)
    """The start policy (base, or base + format warm-up) as a code generator: the reference row."""
    start_judge: dict[str, float] = field(default_factory=dict)
    """The start policy as a judge on the held-out rows (every run's ``before``)."""
    comparison: list[dict[str, Any]] = field(default_factory=list)
    """The rows of ``tables/06_crl_comparison``: per policy and seed, plus mean and sd over seeds."""
    parser_disagreements: int = 0
    """CRL answers (every run's training samples, the held-out probe before and after) whose
    ``\\conclusion`` the workbook's rule and Critique-Coder's (``crl.py``: last match over the whole
    answer, T when it holds a 'T') read differently (:func:`criticlab.crl.parser_disagreements`);
    the rewards and accuracies used ``prompts.parser``."""
    throughput: Throughput | None = None
    """Tokens generated, seconds, tokens/s (:class:`Throughput`)."""


@dataclass
class EvaluationMetrics(StageMetrics):
    """07_evaluation: every method's final Pass@1/Δ↑/Δ↓, the critics' discrimination, Maj@k on our own
    sample pairs and on JudgeBench."""

    STAGE: ClassVar[str] = EVALUATION
    problems: int
    rounds: int
    methods: list[str]
    skipped: dict[str, str]
    excluded_infra: dict[str, int]
    final: list[dict[str, Any]]
    """Final-round Pass@1/Δ↑/Δ↓ (%) per benchmark (``source``) and pooled (``pooled``)."""
    discrimination: list[dict[str, Any]]
    pairs: int
    majority: list[dict[str, Any]]
    pass_at_k: list[dict[str, Any]] = field(default_factory=list)
    parser_disagreements: int = 0
    """Critiques of the methods' trajectories whose judgment the workbook's last-line parse and
    critic-rl's substring test read differently (:func:`criticlab.evaluation.parser_disagreements`);
    the judgments scored used ``prompts.parser``."""
    differences: list[dict[str, Any]] = field(default_factory=list)
    """Each method against self-critique: paired differences with intervals (``excludes 0``); the
    rows of ``source`` ``judgebench`` compare JudgeBench accuracy over pairs."""
    judgebench_pairs: int = 0
    """JudgeBench pairs every critic judged."""
    judgebench_too_long: int = 0
    """Pairs left out by ``evaluation.judgebench_max_chars``."""
    judgebench_critiques: int = 0
    """Pointwise critiques per response (the largest k of Maj@k)."""
    judgebench: list[dict[str, Any]] = field(default_factory=list)
    """Pointwise Maj@k accuracy per critic, category (``pooled``: every pair) and k, with intervals."""
    judgebench_pairwise: list[dict[str, Any]] = field(default_factory=list)
    """Pairwise-mode accuracy and position-swap consistency per critic and category, with intervals."""
    repairability: list[dict[str, Any]] = field(default_factory=list)  # tables/07_repairability
    selection: list[dict[str, Any]] = field(default_factory=list)  # Best-of-N: tables/07_selection
    curve_rounds: int = 0
    """Rounds of the multi-round curve run on a subset (0: the curve is the main run's rounds)."""
    curve_problems: int = 0
    """Problems of that curve (:data:`TABLE_CURVE`)."""
    throughput: Throughput | None = None
    """Tokens generated, seconds, tokens/s (:class:`Throughput`)."""


@dataclass
class AnalysisMetrics(StageMetrics):
    """08_analysis: the transition rates, each critic's own chain, the strategies and the similarity of revisions."""

    STAGE: ClassVar[str] = ANALYSIS
    trajectories: int
    methods: list[str]
    transition_rates: list[dict[str, Any]]
    strategies: list[dict[str, Any]]
    """Per critic, the share of its critiques using each strategy (multi-label) and ``n``."""
    strategy_agreement: dict[str, float] | None
    similarity_mean: dict[str, float]
    critic_rates: list[dict[str, Any]] = field(default_factory=list)
    """Per critic and rate (p_init, p_cc, p_wc, tpr, tnr): value, interval, counts and ``status``."""
    simulated: list[str] = field(default_factory=list)
    """``<critic> · <loop>`` of every simulated loop."""
    not_simulated: dict[str, str] = field(default_factory=dict)
    """``<critic> · <loop>`` → the rates that could not be estimated."""
    strategy_validation: list[dict[str, Any]] = field(default_factory=list)
    """Per labelling mode and label: precision/recall/F1 against the hand-labelled set (empty without it)."""
    strategy_validation_n: int = 0
    """Critiques in the hand-labelled set that was scored."""


RECORDS: dict[str, type[StageMetrics]] = {
    cls.STAGE: cls
    for cls in (
        DataMetrics,
        SandboxMetrics,
        SynthesisMetrics,
        SFTMetrics,
        GRPOMetrics,
        CRLMetrics,
        EvaluationMetrics,
        AnalysisMetrics,
    )
}


def metrics_path(root: str | Path, stage: str) -> Path:
    """``<root>/<stage>/metrics.json`` (``root`` is a profile's output root)."""
    return Path(root) / stage / METRICS_FILE


def write_metrics(root: str | Path, record: StageMetrics) -> Path:
    """Save a stage's record as its ``metrics.json`` (atomically), with ``"stage"`` first."""
    if type(record).STAGE not in RECORDS:
        raise TypeError(f"{type(record).__name__} is not a stage's metrics record")
    return write_json(metrics_path(root, record.STAGE), {"stage": record.STAGE, **dataclasses.asdict(record)})


def read_metrics(root: str | Path, stage: str) -> StageMetrics | None:
    """A stage's record from ``<root>/<stage>/metrics.json``; None when the stage has not run.

    A file whose fields do not match the record (missing, unknown or mistyped) raises
    :class:`MetricsError` naming the file and the field.
    """
    if stage not in RECORDS:
        raise KeyError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    path = metrics_path(root, stage)
    if not path.is_file():
        return None
    raw = read_json(path)
    if not isinstance(raw, dict) or raw.get("stage", stage) != stage:
        raise MetricsError(f"{path}: not the metrics of stage {stage}")
    raw = {k: v for k, v in raw.items() if k != "stage"}
    try:
        return records.decode(RECORDS[stage], raw)
    except records.RecordError as err:
        raise MetricsError(f"{path}: {_mismatch(err, RECORDS[stage])}") from None


def _mismatch(err: records.RecordError, cls: type) -> str:
    """A record mismatch in the words of a metrics file: its fields, by dotted name."""
    if err.kind == "unknown":
        return f"unknown field(s) {sorted(err.names)} in {err.at or cls.__name__}"
    if err.kind == "missing":
        return f"field '{err.at}' is missing"
    return f"field '{err.at or cls.__name__}' should be {records.describe(err.expected)}, got {err.value!r}"

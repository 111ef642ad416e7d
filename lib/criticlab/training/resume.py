"""The resume guard: training continues only a run with the same model, data and settings.

Each run records its settings (a digest of the rows, the starting weights' digest, the profile
section) beside its checkpoints. Starting again with the same settings resumes from the last
checkpoint; more steps or epochs may change; anything else stops and names what changed, instead
of silently continuing another experiment's optimizer state.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from criticlab import stages
from criticlab.config import ConfigError, GRPOSection, SFTSection
from criticlab.io import read_json, write_json

RESUMABLE_CHANGES = ("max_steps", "epochs")
"""Settings a run may change and still resume (training longer); any other change starts afresh."""


SETTINGS_FILE = stages.RUN_SETTINGS


def run_settings(
    model_ref: str, rows: Sequence[dict[str, Any]], cfg: SFTSection | GRPOSection, **extra: Any
) -> dict[str, Any]:
    """What a run's checkpoints depend on: the starting model, a digest of the data, the settings."""
    data = json.dumps(list(rows), sort_keys=True, default=str).encode()
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RESUMABLE_CHANGES}
    return {
        "model": str(model_ref),
        "model_sha256": weights_digest(model_ref),
        "data_sha256": hashlib.sha256(data).hexdigest(),
        "rows": len(rows),
        **settings,
        **extra,
    }


WEIGHT_FILES = ("*.safetensors", "*.bin", "*.gguf")


def weights_digest(model_ref: str) -> str | None:
    """SHA-256 over a local model directory's weight files (None for a hub id): a starting model
    retrained in place (05 starts from ``checkpoints/sft/final``) keeps its path but not its digest."""
    path = Path(model_ref)
    if not path.is_dir():
        return None
    digest = hashlib.sha256()
    for file in sorted(f for pattern in WEIGHT_FILES for f in path.glob(pattern)):
        digest.update(file.name.encode())
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


def guard_resume(output_dir: Path, settings: dict[str, Any]) -> None:
    """Resume only a run that started with these settings; record them for a new run.

    Without it, changing the model, the data or a hyperparameter and re-running a notebook would
    silently continue the old run from its last checkpoint. Stops with what changed and how to
    start afresh (checkpoints are never deleted here).
    """
    path = output_dir / SETTINGS_FILE
    if last_checkpoint(output_dir) is not None and path.is_file():
        previous = read_json(path)
        changed = sorted(k for k in previous.keys() | settings.keys() if previous.get(k) != settings.get(k))
        if changed:
            raise ConfigError(
                f"{output_dir} holds checkpoints of a run with other settings (changed: {', '.join(changed)}); "
                f"delete that directory to train afresh, or restore the settings to resume it"
            )
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json(path, json.loads(json.dumps(settings, default=str)))


def last_checkpoint(output_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None

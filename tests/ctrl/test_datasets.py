"""What 04 leaves behind decides where 05 (and the GRPO-settings tool) start."""

from __future__ import annotations

from criticlab import config, ctrl, stages


def test_grpo_starts_from_the_sft_checkpoint_when_04_trained_one(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(config.OUTPUTS_ENV, str(tmp_path))
    cfg = config.load_profile("smoke")
    assert ctrl.grpo_start(cfg) == cfg.models.critic
    final = cfg.paths.checkpoints_dir / stages.SFT_CHECKPOINTS / stages.FINAL
    final.mkdir(parents=True)
    assert ctrl.grpo_start(cfg) == str(final)

"""The run-directory layout: what training writes is what evaluation reads."""

from __future__ import annotations

from pathlib import Path

from museed.rundir import STEPS_CSV, SUMMARY_JSON, VAL_CSV, has_training_logs, read_curves, read_summary
from training.rundir import write_csv


def test_logs_written_by_training_read_back(tmp_path: Path) -> None:
    assert not has_training_logs(tmp_path)
    steps, val = read_curves(tmp_path)
    assert steps.empty and val.empty and read_summary(tmp_path) == {}
    write_csv(tmp_path / STEPS_CSV, [{"step": 1, "triplet/loss": 0.5}, {"step": 2, "triplet/loss": 0.25, "lr": 1.0}])
    write_csv(tmp_path / VAL_CSV, [])  # nothing to write: no file
    (tmp_path / SUMMARY_JSON).write_text('{"best_epoch": 2}\n')
    assert has_training_logs(tmp_path) and not (tmp_path / VAL_CSV).exists()
    steps, val = read_curves(tmp_path)
    assert list(steps.columns) == ["step", "triplet/loss", "lr"] and steps["triplet/loss"].tolist() == [0.5, 0.25]
    assert val.empty and read_summary(tmp_path) == {"best_epoch": 2}

"""`museed demo` end to end on a tiny corpus: it serves the vector set the held-out evaluation chose, and says so."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from rich.console import Console

from evaluation.test_split import SERVED_SET_JSON
from museed.settings import get_settings
from museed.vectorset import read_manifest


@contextmanager
def _no_bar(_label: str) -> Iterator[Callable[[int, int], None]]:
    yield lambda _done, _total: None


@pytest.mark.slow
def test_demo_serves_the_chosen_vector_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestration.demo import run_demo

    monkeypatch.setenv("MUSEED_ENCODER", "small:0")  # restored after the test: the demo sets the served encoder
    console = Console(record=True, width=200)
    out = tmp_path / "demo"
    try:
        timings = run_demo(
            out, tracks=96, seconds=3.0, seed=0, encoder="small:0", console=console, progress_bar=_no_bar
        )
        served_encoder = get_settings().encoder
    finally:
        get_settings.cache_clear()
    text = console.export_text()
    choice = json.loads((out / "report" / SERVED_SET_JSON).read_text())
    assert choice["served"] in ("untuned", "finetuned")
    assert "served vector set: " + choice["served"] in text
    assert "## Served vector set" in (out / "report" / "report.md").read_text()
    # the index holds the chosen vectors, and uploads are embedded by the encoder that made them
    chosen = Path(choice["path"])
    assert chosen == out / ("vectors" if choice["served"] == "untuned" else "vectors-finetuned")
    if choice["served"] == "finetuned":
        assert served_encoder == str(out / "train" / "encoder")
    else:
        assert served_encoder == "small:0"
    assert read_manifest(chosen).encoder_id in text
    assert {"choose", "index", "train", "evaluate"} <= set(timings)
    # the run's best checkpoint is chosen on validation artists, the starting encoder (epoch 0) included
    summary = json.loads((out / "train" / "summary.json").read_text())
    assert summary["select_metric"] and summary["best_epoch"] >= 0

"""`museed windows`: the fill job of the window index as a command: it embeds a catalog window by window, says what
it did, resumes without embedding again, and ends a bad catalog with one error line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from museed.settings import get_settings
from orchestration.cli import app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("MUSEED_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MUSEED_MILVUS_URI", str(tmp_path / "m.db"))
    monkeypatch.setenv("MUSEED_SEGMENT_SECONDS", "4")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _unwrapped(output: str) -> str:
    """The command's output with the console's line wrapping undone."""
    return " ".join(output.split())


def test_windows_fills_then_resumes(env: Path) -> None:
    from synth import synthesize_corpus

    synthesize_corpus(env / "fma", tracks=4, seconds=9.0, seed=2, workers=1)
    args = ["windows", "--fma", str(env / "fma"), "--encoder", "small:0"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    said = _unwrapped(first.output)
    # 9-s tracks, 4-s windows every 2 s: starts 0, 2, 4 and the tail window at 5 = 4 windows each
    assert re.search(r"window index track_windows_[0-9a-f]{12} .*: 16 windows", said), said
    assert "embedded 4" in said and "failed 0" in said
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    said = _unwrapped(again.output)
    assert "already indexed 4" in said and "embedded 0" in said and ": 16 windows" in said


def test_windows_on_a_missing_catalog_is_one_error_line(env: Path) -> None:
    result = CliRunner().invoke(app, ["windows", "--fma", str(env / "nowhere"), "--encoder", "small:0"])
    assert result.exit_code == 2 and "error:" in result.output and "Traceback" not in result.output

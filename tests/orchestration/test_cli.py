"""The `museed` CLI: every pipeline error ends in one place as one clear line; stage functions are typed."""

from __future__ import annotations

import inspect
from pathlib import Path

from typer.testing import CliRunner

from orchestration import stages
from orchestration.cli import app


def test_a_pipeline_error_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["catalog", "--fma", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "error:" in result.output and "genres file not found" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_errors_of_a_nested_group_are_handled_too(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["db", "load", "--fma", str(tmp_path / "nowhere")])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "Traceback" not in result.output


def test_a_stage_refusal_is_a_pipeline_error(tmp_path: Path) -> None:
    (tmp_path / "fma").mkdir()
    result = CliRunner().invoke(
        app, ["tag", "--fma", str(tmp_path), "--out", str(tmp_path / "t.jsonl"), "--tagger", "x"]
    )
    assert result.exit_code == 2
    assert "unknown tagger 'x': expected auto, mulan or dsp" in result.output


def test_no_stage_function_returns_any() -> None:
    for name, fn in inspect.getmembers(stages, inspect.isfunction):
        if fn.__module__ != stages.__name__ or name.startswith("_"):
            continue
        annotation = inspect.signature(fn).return_annotation
        assert annotation is not inspect.Signature.empty, f"{name} has no return annotation"
        assert "Any" not in str(annotation).replace("dict[str, Any]", ""), f"{name} returns {annotation}"

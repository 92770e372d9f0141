"""The benchmarks as commands: every module imports, answers `--help`, keeps argparse's option names and defaults
(and its `nargs="+"` form), and the two cheapest still produce their figures at tiny sizes."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import typer.main
from typer.testing import CliRunner

from benchmarks.common import nearest_rank, synthetic_tracks

runner = CliRunner()

# module -> every option with the default argparse had (the figures in docs/BENCHMARKS.md were run with these)
DEFAULTS: dict[str, dict[str, Any]] = {
    "index": {
        "--n": 90_000,
        "--dim": 512,
        "--queries": 200,
        "--recall-target": 0.95,
        "--rerank": 200,
        "--nlists": "",
        "--ms": "",
        "--tune-rows": 0,
        "--train-size": 50_000,
        "--exact-max-rows": 5_000,
        "--threads": 1,
        "--seed": 0,
        "--extend-m": False,
        "--out": Path("data/bench/index.json"),
    },
    "filtered_probe": {"--n": 90_000, "--dim": 512, "--nlist": 1200, "--nprobe": 16, "--queries": 200},
    "milvus_floor": {"--sizes": [100, 90_000], "--dim": 512, "--queries": 200},
    "embed": {
        "--tracks": [120],
        "--seconds": 10.0,
        "--segment-seconds": 5.0,
        "--segments": 2,
        "--encoder": "small:0",
        "--actors": 2,
        "--threads": 1,
        "--batch-size": 8,
        "--plain-threads": None,  # os.cpu_count() or 1, checked below
        "--workdir": None,  # <tempdir>/museed-bench-embed, checked below
        "--skip-plain": False,
        "--gpu-road": False,
        "--ceiling": False,
    },
    "encoder": {
        "--spec": "small",
        "--encoder-dim": None,
        "--depth": None,
        "--conv-dim": None,
        "--tracks": 32,
        "--segments": 3,
        "--seconds": 10.0,
        "--batch-size": 8,
        "--threads": 2,
        "--repeats": 3,
        "--demo-tracks": 300,
        "--json": False,
    },
    "evaluate": {
        "--n": 90_000,
        "--dim": 1024,
        "--map-queries": 5000,
        "--silhouette-sample": 5000,
        "--bootstrap": 1000,
        "--tsne-points": 3000,
        "--out": Path("data/bench/evaluate-90k.json"),
    },
    "queries": {"--tracks": 90_000, "--users": 10_000, "--playlists-per-user": 5, "--dim": 512, "--repeats": 20},
    "synth": {"--tracks": 200, "--seconds": 10.0, "--seed": 0, "--workers": None, "--sample": 20},
}


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"benchmarks.{name}")


def _params(name: str, args: list[str]) -> dict[str, Any]:
    """Option flag -> parsed value, as the command would receive them."""
    command = typer.main.get_command(_module(name).app)
    ctx = command.make_context(name, args)
    return {p.opts[0]: ctx.params[p.name] for p in command.params if p.name in ctx.params and p.opts[0] != "--help"}


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_every_benchmark_answers_help(name: str) -> None:
    result = runner.invoke(_module(name).app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for flag in DEFAULTS[name]:
        assert flag in result.output
    first_line = (_module(name).__doc__ or "").splitlines()[0]
    assert first_line[:40] in result.output  # the module docstring is the description


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_options_and_defaults_are_argparse_s(name: str) -> None:
    params = _params(name, [])
    assert set(params) == set(DEFAULTS[name])
    expected = {flag: value for flag, value in DEFAULTS[name].items() if value is not None}
    assert {flag: params[flag] for flag in expected} == expected
    if name == "embed":
        import os
        import tempfile

        assert params["--plain-threads"] == (os.cpu_count() or 1)
        assert params["--workdir"] == Path(tempfile.gettempdir()) / "museed-bench-embed"


def test_multiple_values_read_as_argparse_nargs_plus() -> None:
    assert _params("embed", ["--tracks", "60", "120", "--actors", "3"])["--tracks"] == [60, 120]
    assert _params("embed", ["--tracks", "60", "--tracks", "7", "8"])["--tracks"] == [7, 8]  # last one wins
    assert _params("milvus_floor", ["--dim", "8", "--sizes", "5"]) == {"--sizes": [5], "--dim": 8, "--queries": 200}
    result = runner.invoke(_module("milvus_floor").app, ["--dim", "8", "9"])
    assert result.exit_code != 0  # a stray value after a single-value option is still an error


def test_shared_helpers_keep_the_scripts_arithmetic() -> None:
    base, genre, queries, query_genre = synthetic_tracks(500, 40, 16, seed=0)
    again = synthetic_tracks(500, 40, 16, seed=0)
    assert base.shape == (500, 16) and queries.shape == (40, 16) and base.dtype == np.float32
    assert np.allclose(np.linalg.norm(base, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(base, again[0]) and np.array_equal(genre, again[1]) and np.array_equal(query_genre, again[3])
    times = sorted(float(t) for t in range(1, 21))
    assert nearest_rank(times, 0.95) == times[min(19, round(0.95 * 19))] == 19.0


def test_filtered_probe_prints_its_table() -> None:
    args = ["--n", "3000", "--dim", "32", "--nlist", "20", "--nprobe", "2", "--queries", "20"]
    result = runner.invoke(_module("filtered_probe").app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "| filter | nprobe 2 | nprobe 4 | nprobe 8 | nprobe 32 | nprobe / share |"
    assert len(lines) == 5 and lines[2].startswith("| none | ")
    # the rare genre holds 32 of 3000 rows: the policy probes all 20 lists, which is exact search
    assert re.search(r"\| 1\.000 \([0-9.]+ ms\) at nprobe 20 \|$", lines[4]), lines[4]
    cells = re.findall(r"(\d\.\d{3}) \([0-9.]+ ms\)", result.output)
    assert len(cells) == 15 and all(0.0 <= float(c) <= 1.0 for c in cells)


def test_evaluate_writes_its_record(tmp_path: Path) -> None:
    out = tmp_path / "evaluate.json"
    args = ["--n", "400", "--dim", "8", "--map-queries", "20", "--silhouette-sample", "50", "--bootstrap", "5"]
    result = runner.invoke(_module("evaluate").app, [*args, "--tsne-points", "60", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and "total per vector set" in result.output
    record = json.loads(out.read_text(encoding="utf-8"))
    assert record["n"] == 400 and record["dim"] == 8 and len(record["timings_s"]) == 8
    assert 0.0 <= record["knn_accuracy"] <= 1.0 and record["cpus"] and record["python"]
    assert out.with_suffix(".tsne.png").exists()

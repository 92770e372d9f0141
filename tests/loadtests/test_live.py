"""The smoke profile for real: `run_loadtest` builds a small library, serves it on the embedded defaults and runs
Locust against it (passes, reports written); an impossible threshold makes the same run exit non-zero."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from orchestration.loadtest import LibrarySpec, LoadTestError, read_profile_file, run_loadtest

SMOKE = Path(__file__).resolve().parents[2] / "loadtests" / "profiles" / "smoke.toml"
LIBRARY = LibrarySpec(tracks=30)


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeded library for both runs (the second run reuses it)."""
    return tmp_path_factory.mktemp("loadtest-library")


def test_the_smoke_profile_passes_against_a_live_embedded_server(library_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = run_loadtest("smoke", out=out, data_dir=library_dir, library=LIBRARY)
    assert result.exit_code == 0, (result.breaches, (out / "locust.log").read_text()[-3000:])
    for name in ("smoke_stats.csv", "smoke_failures.csv", "smoke_stats_history.csv", "smoke.html"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    names = {row["Name"]: row for row in csv.DictReader((out / "smoke_stats.csv").open())}
    # the journey ran in the window; sign-in is reported apart (kept over the window reset)
    for name in ("POST /api/playlists", "GET /api/feed?sort=recent", "[sign-in] POST /api/auth/login"):
        assert int(names[name]["Request Count"]) > 0, name
    assert int(names["[sign-in] POST /api/auth/signup"]["Request Count"]) == 3  # once per listener
    assert "POST /api/uploads" not in names  # uploads have their own run
    judgement = json.loads((out / "smoke_thresholds.json").read_text())
    assert judgement["passed"] and judgement["journey_rps"] >= 1.0
    assert {r.name for r in result.rows} >= {"POST /api/playlists", "Aggregated"}


def test_an_impossible_threshold_fails_the_run(library_dir: Path, tmp_path: Path) -> None:
    profile = tmp_path / "impossible.toml"
    text = SMOKE.read_text()
    text = text.replace('name = "smoke"', 'name = "impossible"')
    text = text.replace("seconds = 15", "seconds = 5")
    text = text.replace('"*" = 2000', '"*" = 0.01')  # p95 under 0.01 ms: no request can meet it
    profile.write_text(text)
    assert read_profile_file(profile).seconds == 8
    out = tmp_path / "report"
    result = run_loadtest(profile, out=out, data_dir=library_dir, library=LIBRARY)
    assert result.exit_code != 0
    assert result.breaches and all("threshold breach: p95" in line for line in result.breaches)
    assert (out / "impossible_stats.csv").is_file() and (out / "impossible.html").is_file()
    assert "threshold breach: p95" in (out / "locust.log").read_text()


def test_an_unknown_profile_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(LoadTestError, match="unknown profile"):
        run_loadtest("no-such-profile", out=tmp_path)


@pytest.mark.postgres
@pytest.mark.milvus_server
def test_the_smoke_profile_passes_on_the_server_stack(milvus_server: str, tmp_path: Path) -> None:
    """The CI variant: the same smoke run with the library on PostgreSQL + a Milvus server, served by 2 workers."""
    import uuid

    from tests.conftest import _create_pg_database, _drop_pg_database

    name, url = _create_pg_database()
    try:
        spec = LibrarySpec(
            tracks=30, database_url=url, milvus_uri=milvus_server, milvus_alias=f"lt_{uuid.uuid4().hex[:8]}"
        )
        out = tmp_path / "report"
        result = run_loadtest("smoke", out=out, data_dir=tmp_path / "library", library=spec, workers=2)
        assert result.exit_code == 0, (result.breaches, (out / "locust.log").read_text()[-3000:])
        assert (out / "smoke_stats.csv").is_file() and (out / "smoke.html").is_file()
    finally:
        _drop_pg_database(name)

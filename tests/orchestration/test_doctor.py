"""`museed doctor` on a real SQLite database and Milvus Lite index: it finds each kind of drift, `--repair` fixes
what can be fixed in place, and a clean stack reports nothing (exit 0)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete
from typer.testing import CliRunner

from api.db.models import Track
from api.db.session import session_factory, transaction
from indexing.build import TrackIndex
from indexing.integrity import collection_track_ids
from museed.settings import Settings, get_settings
from orchestration.cli import app
from orchestration.doctor import diagnose
from orchestration.stages import run_db_load, run_index


@pytest.fixture
def settings(
    tmp_path: Path, small_corpus: Path, small_vectors: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    monkeypatch.setenv("MUSEED_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    s = get_settings()
    run_db_load(small_corpus, s)
    run_index(small_vectors, small_corpus, s, plan_path=tmp_path / "plan.json", grace_seconds=0.0)
    yield s
    get_settings.cache_clear()


def _by_check(s: Settings, repair: bool = False) -> dict[str, tuple[int, bool]]:
    return {f.check: (f.count, f.repaired) for f in diagnose(s, repair=repair)}


def test_a_clean_stack_reports_nothing(settings: Settings) -> None:
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert all(count == 0 for count, _ in _by_check(settings).values())


def test_doctor_finds_and_repairs_drift(settings: Settings) -> None:
    index = TrackIndex(settings.milvus_target, alias=settings.milvus_alias)
    served = index.current_collection(fresh=True)
    assert served is not None
    ids = sorted(collection_track_ids(index, served))
    assert len(ids) == 64
    # drift 1: a track row vanished (its vector now points at nothing); drift 2: a vector vanished
    with transaction(session_factory(settings.sqlalchemy_url)) as s:
        s.execute(delete(Track).where(Track.track_id == ids[0]))
    index.client.delete(collection_name=served, ids=[ids[1]])
    # drift 3: an upload file left behind by a crash between the file write and the commit
    orphan = settings.data_dir / "uploads" / "someone" / "lost.wav"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"RIFF")
    # drift 4: the serving alias is gone although a built collection exists
    index.client.drop_alias(alias=settings.milvus_alias)
    index.close()

    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1 and "drift" in result.output
    assert "serving alias" in result.output
    assert orphan.exists()  # a report changes nothing

    repaired = _by_check(settings, repair=True)
    assert repaired["serving alias"] == (1, True)
    assert repaired["vectors without tracks"] == (1, True)
    assert repaired["upload files without a row"] == (1, True)
    assert repaired["tracks without vectors"] == (1, False)  # needs a re-embed: reported with its fix
    assert not orphan.exists()

    after = _by_check(settings)
    assert "serving alias" not in after and after["vectors without tracks"][0] == 0
    assert after["upload files without a row"][0] == 0 and after["tracks without vectors"][0] == 1
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1 and "museed embed" in result.output

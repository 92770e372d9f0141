"""`museed doctor`: find (and with `--repair`, fix) drift between the Milvus index, the database and the upload
files: a serving alias that names no collection, vectors of tracks the database does not know, library tracks
the index lacks, upload files without a row and rows without a file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from museed.settings import Settings, get_settings

if TYPE_CHECKING:
    from indexing.build import TrackIndex

_SHOWN_IDS = 10


@dataclass
class Finding:
    """One kind of drift: how many things it covers, whether it was repaired, and what fixes it otherwise."""

    check: str
    count: int
    detail: str
    repaired: bool = False
    fix: str = ""

    @property
    def open(self) -> bool:
        """Still to be fixed."""
        return self.count > 0 and not self.repaired


def _ids(ids: set[int]) -> str:
    shown = ", ".join(str(i) for i in sorted(ids)[:_SHOWN_IDS])
    return shown + (f" and {len(ids) - _SHOWN_IDS} more" if len(ids) > _SHOWN_IDS else "")


def _index_findings(index: TrackIndex, db_all: set[int], db_audio: set[int], repair: bool) -> list[Finding]:
    from indexing.integrity import alias_state, collection_track_ids, delete_track_ids, repoint_alias

    served, exists = alias_state(index)
    if not exists:
        versions = [name for name, _ in index.versions()]
        what = f"the alias {index.alias!r} " + (f"names {served!r}, which is gone" if served else "does not exist")
        finding = Finding("serving alias", 1, what, fix="museed index (or --repair, when a built collection exists)")
        if repair and versions:
            served = repoint_alias(index)
            finding.repaired, finding.detail = True, f"{what}; now points at {served!r}"
        if not finding.repaired:
            return [finding]
        findings = [finding]
    else:
        findings = []
    assert served is not None
    in_index = collection_track_ids(index, served)
    unknown = in_index - db_all
    vectors = Finding(
        "vectors without tracks",
        len(unknown),
        f"{served}: {_ids(unknown)}" if unknown else served,
        fix="museed doctor --repair (removes them from the index)",
    )
    if repair and unknown:
        delete_track_ids(index, served, unknown)
        vectors.repaired = True
    missing = db_audio - in_index
    tracks = Finding(
        "tracks without vectors",
        len(missing),
        _ids(missing) if missing else "every track with audio is indexed",
        fix="museed embed, then museed index (tracks whose audio fails to decode stay out: see the failures file)",
    )
    return [*findings, vectors, tracks]


def _upload_findings(settings: Settings, rows: dict[str, Path], repair: bool) -> list[Finding]:
    root = settings.data_dir / "uploads"
    known = {path.resolve() for path in rows.values()}
    on_disk = {p.resolve() for p in root.rglob("*") if p.is_file()} if root.is_dir() else set()
    orphans = sorted(on_disk - known)
    files = Finding(
        "upload files without a row",
        len(orphans),
        ", ".join(p.name for p in orphans[:_SHOWN_IDS]) or str(root),
        fix="museed doctor --repair (deletes the files)",
    )
    if repair and orphans:
        for path in orphans:
            path.unlink(missing_ok=True)
        files.repaired = True
    lost = sorted(uid for uid, path in rows.items() if not path.is_file())
    rows_finding = Finding(
        "upload rows without a file",
        len(lost),
        ", ".join(lost[:_SHOWN_IDS]) or "every upload row has its file",
        fix="none needed for seeding (the vector is in the row); the owner can delete and upload again",
    )
    return [files, rows_finding]


def diagnose(settings: Settings, repair: bool = False) -> list[Finding]:
    """Every check, against the database, Milvus and the upload folder of `settings`."""
    # pymilvus and the DB stack load when the command runs, not for `museed --help`
    from api.db.integrity import library_track_ids, upload_files
    from api.db.session import session_factory, transaction
    from indexing.build import TrackIndex

    with transaction(session_factory(settings.sqlalchemy_url)) as session:
        db_all, db_audio = library_track_ids(session)
        rows = upload_files(session)
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else None
    index = TrackIndex(settings.milvus_target, alias=settings.milvus_alias, token=token)
    try:
        findings = _index_findings(index, db_all, db_audio, repair)
    finally:
        index.close()
    return findings + _upload_findings(settings, rows, repair)


def doctor_command(
    repair: Annotated[bool, typer.Option("--repair", help="fix what can be fixed in place")] = False,
) -> None:
    """Report drift between the Milvus index, the database and the upload files; exit 1 while any remains."""
    findings = diagnose(get_settings(), repair=repair)
    table = Table("check", "count", "state", "detail", "fix")
    for f in findings:
        state = "repaired" if f.repaired else ("drift" if f.count else "ok")
        table.add_row(f.check, str(f.count), state, f.detail, f.fix if f.open else "")
    Console().print(table)
    if any(f.open for f in findings):
        raise typer.Exit(1)

"""`museed windows`: fill the window index (`indexing.windows`) from the segment store (`embedding.segments`), the
batch job behind "which library recording is this?" (`GET /api/uploads/{id}/matches`).

Each track's dense windows come from `SegmentStore.windows` (the stored file when the reference finder or an
earlier run made it, else embedded now by `SegmentStore.fill` and kept), then go into the window collection of that
store. Resumable: tracks whose windows are already in the collection are skipped; audio that cannot be used is
counted by reason and the run goes on.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from embedding.audio import AudioError
from embedding.job import TrackAudio, catalog_tracks
from embedding.segments import SegmentStore
from indexing.search import ServingIndex
from indexing.windows import WindowIndex
from museed.catalog import load_catalog
from museed.settings import Settings

if TYPE_CHECKING:
    from embedding.base import Encoder

#: what a fill run writes next to the store's window files
FILL_REPORT = "windows_fill.json"


@dataclass
class WindowFillReport:
    """What a fill run did."""

    collection: str
    store: str
    encoder_id: str
    window_seconds: float
    hop_seconds: float
    tracks: int = 0
    already_indexed: int = 0
    from_store: int = 0
    embedded: int = 0
    failed: int = 0
    windows_added: int = 0
    rows: int = 0
    embed_seconds: float = 0.0
    wall_seconds: float = 0.0
    failure_reasons: dict[str, int] = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """Human-readable summary for the CLI."""
        per = self.embed_seconds / self.embedded if self.embedded else 0.0
        lines = [
            f"window index {self.collection} (store {self.store}, {self.encoder_id}, "
            f"{self.window_seconds:g}-s windows every {self.hop_seconds:g} s): {self.rows} windows",
            f"tracks {self.tracks}: already indexed {self.already_indexed}, from the store {self.from_store}, "
            f"embedded {self.embedded} ({per:.2f} s per track), failed {self.failed}; "
            f"{self.windows_added} windows added in {self.wall_seconds:.1f} s",
        ]
        if self.failure_reasons:
            reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.failure_reasons.items()))
            lines.append(f"failures by reason: {reasons}")
        return lines


def fill_window_index(
    tracks: Sequence[TrackAudio],
    store: SegmentStore,
    windows: WindowIndex,
    progress: Callable[[int, int], None] | None = None,
) -> WindowFillReport:
    """Put the dense windows of `tracks` into `windows` (created if absent), skipping tracks already there;
    returns what it did and writes it to `<store folder>/windows_fill.json`."""
    t0 = time.perf_counter()
    policy = store.policy
    report = WindowFillReport(
        collection=windows.name,
        store=store.store_id,
        encoder_id=store.encoder.encoder_id,
        window_seconds=policy.window_seconds,
        hop_seconds=policy.hop_seconds,
        tracks=len(tracks),
    )
    windows.create(store.encoder.dim, store.manifest)
    present = windows.tracks_present([t.track_id for t in tracks])
    reasons: Counter[str] = Counter()
    for done, track in enumerate(tracks, start=1):
        if track.track_id in present:
            report.already_indexed += 1
        elif track.path is None:
            reasons["missing"] += 1
        else:
            found = store.get(track.track_id)
            if found is not None:
                report.from_store += 1
            else:
                t1 = time.perf_counter()
                try:
                    found = store.fill(track.track_id, track.path)
                except AudioError as exc:  # one unusable file costs one track, not the run
                    reasons[exc.reason] += 1
                    found = None
                else:
                    report.embedded += 1
                report.embed_seconds += time.perf_counter() - t1
            if found is not None:
                report.windows_added += windows.add(track.track_id, found.vectors, found.starts, found.ends)
        if progress is not None:
            progress(done, len(tracks))
    report.rows = windows.finish()
    report.failed = sum(reasons.values())
    report.failure_reasons = dict(reasons)
    report.embed_seconds = round(report.embed_seconds, 2)
    report.wall_seconds = round(time.perf_counter() - t0, 2)
    store.folder.mkdir(parents=True, exist_ok=True)
    (store.folder / FILL_REPORT).write_text(json.dumps(asdict(report), indent=2))
    return report


def run_windows(
    settings: Settings,
    tracks: Sequence[TrackAudio] | None = None,
    fma: Path | None = None,
    encoder: Encoder | str = "auto",
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> WindowFillReport:
    """Fill the window index of `encoder` (a spec or a loaded encoder) in the settings' Milvus from `tracks` or the
    catalog at `fma` (its first `limit` tracks), with the segment store the API serves from."""
    if tracks is None:
        if fma is None:
            raise ValueError("give tracks or an FMA root")
        tracks = catalog_tracks(load_catalog(fma, scan_unlisted=False), limit)
    if isinstance(encoder, str):
        from embedding.encoders import load_encoder

        encoder = load_encoder(encoder, settings=settings)
    store = SegmentStore.for_library(settings, encoder)
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else None
    index = ServingIndex(settings.milvus_target, alias=settings.milvus_alias, token=token)
    try:
        return fill_window_index(tracks, store, WindowIndex(index, store.store_id), progress)
    finally:
        index.close()

"""The FMA metadata files of a corpus (`tracks.csv` with its three header rows, `genres.csv`) and the
ground truth kept apart from them (`synth_ground_truth.csv`), written atomically.

Underscore names are package-internal: shared between synth's modules, never exported by `synth`.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np

from synth.genres import _GENRE_TITLE, _PARENT, _root_of
from synth.plan import TrackPlan

#: tracks.csv columns in FMA's order: 13 album, 18 artist, 2 set, 19 track = 52
TRACKS_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    *(
        ("album", c)
        for c in (
            "comments",
            "date_created",
            "date_released",
            "engineer",
            "favorites",
            "id",
            "information",
            "listens",
            "producer",
            "tags",
            "title",
            "tracks",
            "type",
        )
    ),
    *(
        ("artist", c)
        for c in (
            "active_year_begin",
            "active_year_end",
            "associated_labels",
            "bio",
            "comments",
            "date_created",
            "favorites",
            "id",
            "latitude",
            "location",
            "longitude",
            "members",
            "name",
            "related_projects",
            "tags",
            "website",
            "wikipedia_page",
        )
    ),
    ("set", "split"),
    ("set", "subset"),
    *(
        ("track", c)
        for c in (
            "bit_rate",
            "comments",
            "composer",
            "date_created",
            "date_recorded",
            "duration",
            "favorites",
            "genre_top",
            "genres",
            "genres_all",
            "information",
            "interest",
            "language_code",
            "license",
            "listens",
            "lyricist",
            "number",
            "publisher",
            "tags",
            "title",
        )
    ),
)
GROUND_TRUTH_COLUMNS: Final = (
    "track_id",
    "artist_id",
    "genre_top",
    "energy",
    "valence",
    "source",
    "mood_style",
    "tempo_bpm",
    "key",
    "mode",
)
_LICENSES: Final = (
    "Attribution-NonCommercial-ShareAlike 3.0 International",
    "Attribution-Noncommercial-No Derivative Works 3.0 United States",
    "Attribution-NonCommercial-NoDerivatives (aka Music Sharing) 3.0 International",
    "Attribution 3.0 International",
    "Creative Commons Attribution-NonCommercial 4.0",
)
_KEY_NAMES: Final = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LOCATIONS: Final = (
    "Brooklyn, NY",
    "Berlin, Germany",
    "Montréal, Québec",
    "Lagos",
    "São Paulo, Brazil",
    "Tokyo",
    "Reykjavík, Iceland",
    "",
)


# ------------------------------------------------------------------------------------------ metadata files


def _write_atomic_csv(path: Path, rows: Iterable[Sequence[object]]) -> None:
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    os.replace(tmp, path)


def _stamp(base: datetime, rng: np.random.Generator, max_days: int) -> datetime:
    return base + timedelta(days=int(rng.integers(0, max_days)), seconds=int(rng.integers(0, 86_400)))


def write_tracks_csv(path: Path, plans: Sequence[TrackPlan], seconds: float) -> None:
    """Write FMA's `tracks.csv`: two header rows of column names, a `track_id` row, then one row per track."""
    header: list[list[object]] = [
        (["", *[c[0] for c in TRACKS_COLUMNS]]),
        (["", *[c[1] for c in TRACKS_COLUMNS]]),
        ["track_id", *[""] * len(TRACKS_COLUMNS)],
    ]
    rows: list[list[object]] = list(header)
    epoch = datetime(2008, 11, 25)
    for plan in plans:
        # cosmetic numbers from their own stream, so they never disturb the labels or the audio
        art = np.random.default_rng([plan.seed, plan.artist_id, 1])
        alb = np.random.default_rng([plan.seed, plan.album_id, 2])
        trk = np.random.default_rng([plan.seed, plan.track_id, 3])
        artist_created = _stamp(epoch, art, 2000)
        album_created = _stamp(artist_created, alb, 200)
        track_created = album_created + timedelta(minutes=3 * plan.number, seconds=int(trk.integers(0, 60)))
        location = str(art.choice(_LOCATIONS))
        has_geo = bool(location) and art.random() < 0.7
        values: dict[tuple[str, str], object] = {
            ("album", "comments"): int(alb.integers(0, 3)),
            ("album", "date_created"): f"{album_created:%Y-%m-%d %H:%M:%S}",
            ("album", "date_released"): f"{album_created:%Y-%m-%d} 00:00:00" if alb.random() < 0.7 else "",
            ("album", "favorites"): int(alb.integers(0, 12)),
            ("album", "id"): plan.album_id,
            ("album", "information"): "<p></p>" if alb.random() < 0.5 else "",
            ("album", "listens"): int(alb.integers(100, 40_000)),
            ("album", "tags"): "[]",
            ("album", "title"): plan.album_title,
            ("album", "tracks"): plan.album_tracks,
            ("album", "type"): "Album"
            if plan.album_tracks > 4
            else str(alb.choice(["Single Tracks", "Radio Program", "Album"])),
            ("artist", "active_year_begin"): f"{int(art.integers(1995, 2012))}-01-01 00:00:00"
            if art.random() < 0.3
            else "",
            ("artist", "bio"): f"<p>{plan.artist_name} make {plan.genre_top.lower()} music.</p>"
            if art.random() < 0.5
            else "",
            ("artist", "comments"): int(art.integers(0, 4)),
            ("artist", "date_created"): f"{artist_created:%Y-%m-%d %H:%M:%S}",
            ("artist", "favorites"): int(art.integers(0, 30)),
            ("artist", "id"): plan.artist_id,
            ("artist", "latitude"): round(float(art.uniform(-40, 60)), 6) if has_geo else "",
            ("artist", "location"): location,
            ("artist", "longitude"): round(float(art.uniform(-120, 140)), 6) if has_geo else "",
            ("artist", "name"): plan.artist_name,
            ("artist", "tags"): f"['{plan.genre_top.lower()}']" if art.random() < 0.4 else "[]",
            ("set", "split"): plan.split,
            ("set", "subset"): plan.subset,
            ("track", "bit_rate"): 320000,
            ("track", "comments"): int(trk.integers(0, 3)),
            ("track", "date_created"): f"{track_created:%Y-%m-%d %H:%M:%S}",
            ("track", "duration"): round(seconds),
            ("track", "favorites"): int(trk.integers(0, 9)),
            ("track", "genre_top"): plan.genre_top if plan.genre_top_listed else "",
            ("track", "genres"): "[" + ", ".join(map(str, plan.genres)) + "]",
            ("track", "genres_all"): "[" + ", ".join(map(str, plan.genres_all)) + "]",
            ("track", "interest"): int(trk.integers(50, 20_000)),
            ("track", "language_code"): "en" if trk.random() < 0.3 else "",
            ("track", "license"): _LICENSES[int(art.integers(0, len(_LICENSES)))],
            ("track", "listens"): int(trk.integers(20, 15_000)),
            ("track", "number"): plan.number,
            ("track", "tags"): "[]",
            ("track", "title"): plan.title,
        }
        rows.append([plan.track_id, *[values.get(col, "") for col in TRACKS_COLUMNS]])
    _write_atomic_csv(path, rows)


def write_genres_csv(path: Path, plans: Sequence[TrackPlan]) -> None:
    """Write FMA's `genres.csv`; `#tracks` counts the tracks whose `genres_all` holds the genre."""
    counts = Counter(g for plan in plans for g in plan.genres_all)
    rows: list[list[object]] = [["genre_id", "#tracks", "parent", "title", "top_level"]]
    for gid in sorted(_GENRE_TITLE):
        rows.append([gid, counts.get(gid, 0), _PARENT[gid], _GENRE_TITLE[gid], _root_of(gid)])
    _write_atomic_csv(path, rows)


def write_ground_truth(path: Path, plans: Sequence[TrackPlan]) -> None:
    """Write the labels each track was rendered with (outside `fma_metadata/`, never for the taggers)."""
    rows: list[list[object]] = [list(GROUND_TRUTH_COLUMNS)]
    for p in plans:
        spoken = p.genre_top == "Spoken"
        rows.append(
            [
                p.track_id,
                p.artist_id,
                p.genre_top,
                p.energy,
                p.valence,
                p.source,
                p.mood_style,
                "" if spoken else p.tempo_bpm,
                "" if spoken else _KEY_NAMES[p.key],
                "" if spoken else p.mode,
            ]
        )
    _write_atomic_csv(path, rows)

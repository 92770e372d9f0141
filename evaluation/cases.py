"""Case studies: the top-10 playlists of seed tracks from major and minority genres, for every vector set.

Seeds are not hand-picked: the first track (by id) of each of `MAJOR_GENRES` and `MINORITY_GENRES`, or of the
largest / smallest genre present when none of them is.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from evaluation.inputs import EvaluatedSet, LabelSet
from evaluation.metrics import NeighbourLists
from evaluation.scoring import RETRIEVAL_K

MAJOR_GENRES: Final = ("Rock", "Pop")
MINORITY_GENRES: Final = ("Easy Listening", "Spoken")


def case_studies(
    sets: list[EvaluatedSet],
    full: dict[str, NeighbourLists],
    ids: np.ndarray,
    genre: LabelSet,
    catalog: Any,
    tags: dict[int, Any],
    artists: np.ndarray,
) -> dict[str, Any]:
    """Top-10 playlists of seeds from major and minority genres, for every vector set."""
    counts = {name: int((genre.codes == i).sum()) for i, name in enumerate(genre.names)}
    present = [g for g, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if c > 0]
    notes: list[str] = []
    picks: list[tuple[str, str]] = []
    for group, wanted, fallback in (
        ("major", MAJOR_GENRES, present[:1]),
        ("minority", MINORITY_GENRES, [g for g in present[::-1] if counts[g] >= 2][:1] or present[-1:]),
    ):
        found = [g for g in wanted if counts.get(g, 0) > 0]
        if not found:
            found = [g for g in fallback if g not in {p for _, p in picks}]
            notes.append(
                f"none of the {group} genres {', '.join(wanted)} is present: using the "
                f"{'largest' if group == 'major' else 'smallest'} genre present, {', '.join(found) or 'none'}"
            )
        picks.extend((group, g) for g in found)

    def track_info(row: int) -> dict[str, Any]:
        tid = int(ids[row])
        meta = catalog.tracks.loc[tid]
        tag = tags.get(tid)
        return {
            "track_id": tid,
            "title": str(meta["title"]),
            "artist": str(meta["artist_name"]),
            "artist_id": int(meta["artist_id"]),
            "genre": genre.names[genre.codes[row]] if genre.codes[row] >= 0 else None,
            "mood_style": tag.mood_style if tag else None,
            "energy": tag.energy if tag else None,
            "valence": tag.valence if tag else None,
            "source": tag.source if tag else None,
        }

    seeds = []
    for group, g in picks:
        code = genre.names.index(g)
        seed_row = int(np.flatnonzero(genre.codes == code)[0])  # the genre's first track by id: not hand-picked
        playlists = {}
        for s in sets:
            nl = full[s.name]
            tracks = [
                {**track_info(int(j)), "similarity": float(sim)}
                for j, sim in zip(nl.index[seed_row, :RETRIEVAL_K], nl.similarity[seed_row, :RETRIEVAL_K], strict=True)
                if j >= 0
            ]
            same = sum(t["genre"] == g for t in tracks)
            same_artist = sum(t["artist_id"] == artists[seed_row] for t in tracks)
            playlists[s.name] = {
                "tracks": tracks,
                "same_genre": same / max(1, len(tracks)),
                "same_artist": same_artist / max(1, len(tracks)),
            }
        seeds.append(
            {
                "group": group,
                "genre": g,
                "genre_support": counts[g],
                "seed": track_info(seed_row),
                "playlists": playlists,
            }
        )
    return {"notes": notes, "seeds": seeds}

"""FMA facts: the real genre taxonomy (ids, parents, titles), the fma_large genre_top counts the corpus
scales, and the per-genre track counts of a corpus."""

from __future__ import annotations

from typing import Final

# ----------------------------------------------------------------------------------------------- FMA facts

#: the 16 FMA top-level genres with their real genre ids
TOP_GENRES: Final[dict[int, str]] = {
    2: "International",
    3: "Blues",
    4: "Jazz",
    5: "Classical",
    8: "Old-Time / Historic",
    9: "Country",
    10: "Pop",
    12: "Rock",
    13: "Easy Listening",
    14: "Soul-RnB",
    15: "Electronic",
    17: "Folk",
    20: "Spoken",
    21: "Hip-Hop",
    38: "Experimental",
    1235: "Instrumental",
}
GENRE_IDS: Final[dict[str, int]] = {title: gid for gid, title in TOP_GENRES.items()}

#: (genre_id, parent, title): real FMA sub-genres, ids and parents as in FMA's genres.csv (163 genres).
#: Old-Time / Historic has no sub-genres in FMA. Some are two levels deep (Afrobeat < African < International).
SUB_GENRES: Final[tuple[tuple[int, int, str], ...]] = (
    (46, 2, "Latin America"),
    (77, 2, "French"),
    (86, 2, "Indian"),
    (92, 2, "African"),
    (81, 92, "Afrobeat"),
    (102, 2, "Middle East"),
    (118, 2, "Balkan"),
    (567, 3, "Gospel"),
    (37, 4, "Jazz: Vocal"),
    (74, 4, "Free-Jazz"),
    (179, 4, "Big Band/Swing"),
    (906, 4, "Modern Jazz"),
    (187, 5, "20th Century Classical"),
    (441, 5, "Opera"),
    (442, 5, "Chamber Music"),
    (444, 5, "Symphony"),
    (659, 5, "Contemporary Classical"),
    (63, 9, "Bluegrass"),
    (137, 9, "Americana"),
    (169, 9, "Rockabilly"),
    (651, 9, "Country & Western"),
    (493, 651, "Western Swing"),
    (76, 10, "Experimental Pop"),
    (362, 10, "Synth Pop"),
    (25, 12, "Punk"),
    (26, 12, "Post-Rock"),
    (31, 12, "Metal"),
    (58, 12, "Psych-Rock"),
    (66, 12, "Indie-Rock"),
    (85, 12, "Garage"),
    (89, 25, "Post-Punk"),
    (170, 13, "Easy Listening: Vocal"),
    (311, 13, "Lounge"),
    (810, 13, "Nu-Jazz"),
    (11, 14, "Disco"),
    (19, 14, "Funk"),
    (42, 15, "Ambient Electronic"),
    (181, 15, "Techno"),
    (182, 15, "House"),
    (236, 15, "IDM"),
    (286, 15, "Trip-Hop"),
    (337, 15, "Drum & Bass"),
    (400, 182, "Chill-out"),
    (33, 17, "Psych-Folk"),
    (49, 17, "Free-Folk"),
    (103, 17, "Singer-Songwriter"),
    (180, 17, "British Folk"),
    (65, 20, "Radio"),
    (166, 65, "Interview"),
    (188, 20, "Poetry"),
    (378, 20, "Spoken Word"),
    (100, 21, "Alternative Hip-Hop"),
    (539, 21, "Rap"),
    (580, 21, "Abstract Hip-Hop"),
    (811, 21, "Hip-Hop Beats"),
    (1, 38, "Avant-Garde"),
    (30, 38, "Field Recordings"),
    (32, 38, "Noise"),
    (47, 38, "Drone"),
    (250, 38, "Improv"),
    (18, 1235, "Soundtrack"),
    (107, 1235, "Ambient"),
    (267, 1235, "New Age"),
)
_PARENT: Final[dict[int, int]] = {**{g: 0 for g in TOP_GENRES}, **{g: p for g, p, _ in SUB_GENRES}}
_GENRE_TITLE: Final[dict[int, str]] = {**TOP_GENRES, **{g: t for g, _, t in SUB_GENRES}}

#: genre_top counts of fma_large; the corpus scales these so the imbalance is the real one
FMA_LARGE_GENRE_TOP_COUNTS: Final[dict[str, int]] = {
    "Rock": 14182,
    "Experimental": 10608,
    "Electronic": 9372,
    "Hip-Hop": 3552,
    "Folk": 2803,
    "Pop": 2332,
    "Instrumental": 2079,
    "International": 1389,
    "Classical": 1230,
    "Jazz": 571,
    "Old-Time / Historic": 554,
    "Spoken": 423,
    "Country": 194,
    "Soul-RnB": 175,
    "Blues": 110,
    "Easy Listening": 24,
}
#: the 8 genres of fma_small (a track's `set/subset` is the smallest subset that holds it)
_SMALL_GENRES: Final = frozenset(
    {"Electronic", "Experimental", "Folk", "Hip-Hop", "Instrumental", "International", "Pop", "Rock"}
)


def planned_genre_counts(tracks: int) -> dict[str, int]:
    """Split `tracks` over the 16 genres in fma_large's genre_top proportions.

    Every genre gets at least 2 tracks when `tracks >= 32` (so all 16 are present; at least 1 from 16), and
    for fewer tracks the largest genres come first. The rest is shared by largest remainder.
    """
    if tracks < 0:
        raise ValueError("tracks must be >= 0")
    order = sorted(FMA_LARGE_GENRE_TOP_COUNTS, key=lambda g: -FMA_LARGE_GENRE_TOP_COUNTS[g])
    minimum = 2 if tracks >= 2 * len(order) else 1 if tracks >= len(order) else 0
    counts = {g: minimum for g in order}
    if minimum == 0:
        for g in order[:tracks]:
            counts[g] = 1
        return {g: c for g, c in counts.items() if c}
    rest = tracks - minimum * len(order)
    total = sum(FMA_LARGE_GENRE_TOP_COUNTS.values())
    shares = {g: rest * FMA_LARGE_GENRE_TOP_COUNTS[g] / total for g in order}
    for g in order:
        counts[g] += int(shares[g])
    left = tracks - sum(counts.values())
    # largest remainder, ties broken by genre size so the result is deterministic
    for g in sorted(order, key=lambda g: (-(shares[g] - int(shares[g])), -FMA_LARGE_GENRE_TOP_COUNTS[g]))[:left]:
        counts[g] += 1
    return counts


def _root_of(genre_id: int) -> int:
    while _PARENT[genre_id]:
        genre_id = _PARENT[genre_id]
    return genre_id

"""A synthetic FMA corpus in the real FMA layout, whose labels are audible.

There is no FMA download here, so the pipeline is exercised on a corpus that looks like FMA on disk
(`fma_full/000/000002.mp3`, `fma_metadata/tracks.csv` with its three header rows, `genres.csv` with the real
genre ids) and whose genre, energy, valence, source and mood style can be heard, so that an encoder fine-tuned
on it measurably improves. Everything is additive synthesis, wavetables and filtered noise in numpy.

What each label changes in the audio:
- genre: tempo range, drum pattern (or none), swing, harmony (scales, progressions, chord types), bass line
  and comping style, instrument families, special treatments (distortion, gramophone band-limit and crackle,
  speech instead of music, irregular noise textures).
- energy: loudness (peak gain and saturation), note and drum density.
- valence: major vs minor / Phrygian / Hijaz harmony, the upper vs lower half of the genre's tempo range, and
  brighter vs darker timbres.
- source: plucked / struck / bowed / blown timbres with natural decays, vibrato, breath and bow noise, a
  humanised acoustic drum kit, room reflections and a microphone noise floor; vs saw / square / pulse / FM
  oscillators with flat gated envelopes, exact timing and a drum machine (808-style kick, square-wave hats).
- mood_style: the articulation of the lead and comping (see `museed.vocab.MOOD_STYLES`) and the reverb.

The labels live in `synth_ground_truth.csv` next to (never inside) `fma_metadata/`, so taggers cannot read them.
Audio is mono MP3 at 44.1 kHz (LAME VBR through libsndfile, ~55 kbit/s, 15 kHz wide); tracks.csv lists
`bit_rate` 320000 like most of FMA, which is metadata only. `scripts/bench_synth.py` measures the throughput.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Final

import lameenc
import numpy as np
import scipy.fft as sfft
from scipy import signal

from museed.parallel import pool_context
from museed.vocab import ENERGY, MOOD_STYLES, SOURCE, VALENCE

SAMPLE_RATE: Final = 44_100
_SR: Final = SAMPLE_RATE

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

# ------------------------------------------------------------------------------------------- genre styles


@dataclass(frozen=True)
class _GenreStyle:
    """How one top-level genre sounds and which tags it tends to carry."""

    tempo: tuple[float, float]
    energy_prior: tuple[float, float, float]  # high, medium, low
    positive_prior: float
    electronic_prior: float
    mood_prior: tuple[float, float, float, float]  # dreamy, driving, playful, somber
    scales: tuple[str, str] = ("major", "minor")  # positive, negative
    progressions: tuple[tuple[int, ...], tuple[int, ...]] = ((0, 4, 5, 3), (0, 5, 2, 6))
    chord: str = "triad"  # triad | seventh | ninth | power | dom7
    drums: str = "none"
    swing: float = 0.0  # 1.0 = full triplet swing of the off-beat 8ths
    swing16: float = 0.0  # delay of the off-beat 16ths (hip-hop / soul feel)
    bass: str = "root"
    comp: str = "strum"
    comp_family: tuple[str, ...] = ("guitar",)
    lead_family: tuple[str, ...] = ("flute",)
    bass_family: str = "upright"
    register: int = 60  # MIDI centre of the comping
    lead_scales: tuple[tuple[int, ...], tuple[int, ...]] | None = None  # e.g. blues scales with blue notes
    distortion: float = 0.0
    levels: tuple[float, float, float, float] = (1.0, 0.8, 0.55, 0.6)  # drums, bass, comp, lead (RMS ratios)


_SCALES: Final[dict[str, tuple[int, ...]]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "hijaz": (0, 1, 4, 5, 7, 8, 10),
}
_MINORISH: Final = frozenset({"minor", "harmonic_minor", "phrygian", "dorian", "hijaz"})

GENRE_STYLES: Final[dict[str, _GenreStyle]] = {
    "Rock": _GenreStyle(
        tempo=(110, 150),
        energy_prior=(0.55, 0.3, 0.15),
        positive_prior=0.45,
        electronic_prior=0.2,
        mood_prior=(0.12, 0.5, 0.15, 0.23),
        scales=("major", "phrygian"),
        progressions=((0, 4, 5, 3), (0, 5, 6, 0)),
        chord="power",
        drums="rock",
        bass="eighths",
        comp="power",
        comp_family=("guitar",),
        lead_family=("guitar",),
        bass_family="bassguitar",
        register=52,
        lead_scales=((0, 2, 4, 7, 9), (0, 1, 3, 5, 7, 8)),
        distortion=6.0,
        levels=(1.0, 0.7, 0.7, 0.75),
    ),
    "Electronic": _GenreStyle(
        tempo=(120, 130),
        energy_prior=(0.45, 0.35, 0.2),
        positive_prior=0.5,
        electronic_prior=0.85,
        mood_prior=(0.25, 0.4, 0.2, 0.15),
        progressions=((0, 4, 5, 3), (0, 5, 2, 6)),
        chord="seventh",
        drums="four",
        bass="offbeat",
        comp="stab",
        comp_family=("piano",),
        lead_family=("mallet", "harp"),
        bass_family="bassguitar",
        register=60,
        levels=(1.0, 0.85, 0.5, 0.5),
    ),
    "Hip-Hop": _GenreStyle(
        tempo=(85, 95),
        energy_prior=(0.35, 0.45, 0.2),
        positive_prior=0.45,
        electronic_prior=0.65,
        mood_prior=(0.2, 0.35, 0.25, 0.2),
        scales=("major", "minor"),
        progressions=((0, 3, 0, 4), (0, 3, 0, 5)),
        chord="seventh",
        drums="boombap",
        swing16=0.55,
        bass="boom",
        comp="loop",
        comp_family=("piano",),
        lead_family=("mallet", "flute"),
        bass_family="upright",
        register=60,
        levels=(1.0, 0.8, 0.75, 0.45),
    ),
    "Classical": _GenreStyle(
        tempo=(60, 100),
        energy_prior=(0.15, 0.4, 0.45),
        positive_prior=0.5,
        electronic_prior=0.08,
        mood_prior=(0.3, 0.15, 0.2, 0.35),
        scales=("major", "harmonic_minor"),
        progressions=((0, 3, 4, 0, 5, 1, 4, 0), (0, 3, 4, 0, 5, 3, 4, 0)),
        drums="none",
        bass="pedal",
        comp="pad",
        comp_family=("strings",),
        lead_family=("strings", "flute", "reed"),
        bass_family="cello",
        register=60,
        levels=(0.0, 0.6, 0.7, 0.7),
    ),
    "Folk": _GenreStyle(
        tempo=(80, 115),
        energy_prior=(0.15, 0.45, 0.4),
        positive_prior=0.5,
        electronic_prior=0.1,
        mood_prior=(0.3, 0.15, 0.25, 0.3),
        scales=("major", "minor"),
        progressions=((0, 3, 0, 4), (0, 6, 5, 6)),
        drums="folk",
        bass="none",
        comp="fingerpick",
        comp_family=("guitar",),
        lead_family=("flute", "strings", "voice"),
        register=55,
        levels=(0.6, 0.0, 0.8, 0.6),
    ),
    "Pop": _GenreStyle(
        tempo=(100, 125),
        energy_prior=(0.35, 0.45, 0.2),
        positive_prior=0.7,
        electronic_prior=0.5,
        mood_prior=(0.25, 0.3, 0.35, 0.1),
        progressions=((0, 4, 5, 3), (0, 5, 2, 6)),
        drums="pop",
        bass="root8",
        comp="eighths",
        comp_family=("piano",),
        lead_family=("voice",),
        bass_family="bassguitar",
        register=60,
        levels=(1.0, 0.7, 0.5, 0.75),
    ),
    "Instrumental": _GenreStyle(
        tempo=(70, 100),
        energy_prior=(0.2, 0.4, 0.4),
        positive_prior=0.45,
        electronic_prior=0.4,
        mood_prior=(0.4, 0.2, 0.15, 0.25),
        progressions=((0, 3, 5, 4), (0, 5, 2, 6)),
        drums="cinema",
        bass="pedal",
        comp="ostinato",
        comp_family=("piano",),
        lead_family=("strings", "flute"),
        bass_family="cello",
        register=60,
        levels=(0.8, 0.6, 0.7, 0.6),
    ),
    "International": _GenreStyle(
        tempo=(95, 125),
        energy_prior=(0.3, 0.45, 0.25),
        positive_prior=0.55,
        electronic_prior=0.2,
        mood_prior=(0.2, 0.3, 0.3, 0.2),
        scales=("mixolydian", "hijaz"),
        progressions=((0, 0, 6, 0), (0, 0, 1, 0)),
        drums="hand",
        bass="drone",
        comp="drone",
        comp_family=("sitar",),
        lead_family=("reed", "sitar", "flute"),
        bass_family="sitar",
        register=55,
        levels=(0.9, 0.5, 0.5, 0.8),
    ),
    "Jazz": _GenreStyle(
        tempo=(120, 180),
        energy_prior=(0.3, 0.45, 0.25),
        positive_prior=0.55,
        electronic_prior=0.12,
        mood_prior=(0.25, 0.25, 0.3, 0.2),
        scales=("major", "harmonic_minor"),
        progressions=((1, 4, 0, 0), (1, 4, 0, 5)),
        chord="seventh",
        drums="swing",
        swing=1.0,
        bass="walking",
        comp="charleston",
        comp_family=("piano",),
        lead_family=("reed", "mallet"),
        bass_family="upright",
        register=60,
        levels=(0.7, 0.8, 0.5, 0.7),
    ),
    "Old-Time / Historic": _GenreStyle(
        tempo=(90, 130),
        energy_prior=(0.25, 0.45, 0.3),
        positive_prior=0.6,
        electronic_prior=0.08,
        mood_prior=(0.15, 0.25, 0.4, 0.2),
        scales=("major", "harmonic_minor"),
        progressions=((0, 5, 1, 4), (0, 3, 4, 0)),
        chord="seventh",
        drums="march",
        bass="oompah",
        comp="oompah",
        comp_family=("piano", "twang"),
        lead_family=("reed",),
        bass_family="tuba",
        register=60,
        levels=(0.6, 0.8, 0.7, 0.7),
    ),
    "Spoken": _GenreStyle(
        tempo=(100, 140),
        energy_prior=(0.15, 0.45, 0.4),
        positive_prior=0.5,
        electronic_prior=0.2,
        mood_prior=(0.25, 0.25, 0.25, 0.25),
    ),
    "Country": _GenreStyle(
        tempo=(100, 140),
        energy_prior=(0.35, 0.45, 0.2),
        positive_prior=0.65,
        electronic_prior=0.1,
        mood_prior=(0.15, 0.35, 0.35, 0.15),
        progressions=((0, 3, 4, 0), (0, 3, 4, 0)),
        drums="train",
        bass="rootfifth",
        comp="strum",
        comp_family=("guitar",),
        lead_family=("twang", "strings"),
        bass_family="upright",
        register=55,
        levels=(0.8, 0.8, 0.6, 0.7),
    ),
    "Soul-RnB": _GenreStyle(
        tempo=(70, 95),
        energy_prior=(0.3, 0.45, 0.25),
        positive_prior=0.6,
        electronic_prior=0.35,
        mood_prior=(0.3, 0.3, 0.25, 0.15),
        scales=("major", "minor"),
        progressions=((0, 3, 0, 4), (0, 3, 0, 4)),
        chord="seventh",
        drums="soul",
        swing16=0.35,
        bass="funk",
        comp="stab",
        comp_family=("piano",),
        lead_family=("voice",),
        bass_family="bassguitar",
        register=60,
        levels=(0.9, 0.85, 0.5, 0.7),
    ),
    "Blues": _GenreStyle(
        tempo=(70, 100),
        energy_prior=(0.3, 0.4, 0.3),
        positive_prior=0.35,
        electronic_prior=0.1,
        mood_prior=(0.15, 0.3, 0.2, 0.35),
        scales=("mixolydian", "minor"),
        progressions=((0, 0, 0, 0, 3, 3, 0, 0, 4, 3, 0, 4), (0, 0, 0, 0, 3, 3, 0, 0, 4, 3, 0, 4)),
        chord="dom7",
        drums="shuffle",
        swing=1.0,
        bass="boogie",
        comp="shuffle",
        comp_family=("piano",),
        lead_family=("guitar",),
        bass_family="upright",
        register=55,
        lead_scales=((0, 2, 3, 4, 7, 9), (0, 3, 5, 6, 7, 10)),
        distortion=1.5,
        levels=(0.8, 0.8, 0.5, 0.8),
    ),
    "Easy Listening": _GenreStyle(
        tempo=(60, 80),
        energy_prior=(0.05, 0.35, 0.6),
        positive_prior=0.65,
        electronic_prior=0.3,
        mood_prior=(0.5, 0.1, 0.25, 0.15),
        progressions=((0, 3, 0, 4), (0, 3, 5, 4)),
        chord="seventh",
        drums="lounge",
        bass="root",
        comp="pad",
        comp_family=("strings",),
        lead_family=("mallet", "flute"),
        bass_family="upright",
        register=60,
        levels=(0.35, 0.6, 0.8, 0.6),
    ),
    "Experimental": _GenreStyle(
        tempo=(60, 140),
        energy_prior=(0.3, 0.35, 0.35),
        positive_prior=0.35,
        electronic_prior=0.55,
        mood_prior=(0.3, 0.15, 0.2, 0.35),
        scales=("major", "phrygian"),
    ),
}

# peak = 0.9 x gain; high stays at 0.675 because MP3 decoding overshoots saturated mixes by up to ~1.4x
_ENERGY_GAIN: Final = {"high": 0.75, "medium": 0.42, "low": 0.24}
_ENERGY_DENSITY: Final = {"high": 2.0, "medium": 1.0, "low": 0.5}  # notes and drum hits per beat, relative
_REVERB: Final = {"dreamy": (3.2, 0.5), "somber": (2.2, 0.3), "playful": (0.9, 0.12), "driving": (0.5, 0.06)}

# ----------------------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class ArtistSignature:
    """What every track of one artist shares, so that artist leakage across splits is real."""

    key: int  # tonic pitch class, C = 0
    tempo_shift: float  # relative tempo offset within the genre range
    variant: int  # picks the instrument family among the genre's options
    brightness: float  # harmonic roll-off scale
    decay: float  # decay-time scale of plucked / struck notes
    detune_cents: float  # oscillator detune of synthetic voices
    pluck_position: float  # where the string is plucked (comb in the spectrum)
    kit_tuning: float  # drum pitch scale
    voice_hz: float  # speaking / singing fundamental
    formant_scale: float  # vocal tract length


@dataclass(frozen=True)
class TrackPlan:
    """Everything that decides one synthetic track: its FMA metadata, its ground-truth labels, its sound."""

    track_id: int
    seed: int
    artist_id: int
    artist_name: str
    album_id: int
    album_title: str
    album_tracks: int
    number: int
    title: str
    genre_top: str  # the ground-truth root genre
    genres: tuple[int, ...]
    genres_all: tuple[int, ...]
    genre_top_listed: bool  # False for the ~10 % whose tracks.csv genre_top is empty
    split: str
    subset: str
    energy: str
    valence: str
    source: str
    mood_style: str
    tempo_bpm: float
    mode: str
    signature: ArtistSignature

    @property
    def key(self) -> int:
        """Tonic pitch class (C = 0)."""
        return self.signature.key

    @property
    def relative_path(self) -> str:
        """`AAA/TTTTTT.mp3` under `fma_full/`, as in FMA."""
        tid = f"{self.track_id:06d}"
        return f"{tid[:3]}/{tid}.mp3"


@dataclass
class SynthReport:
    """What `synthesize_corpus` did."""

    out: Path
    tracks: int
    seconds: float
    seed: int
    wall_seconds: float
    genre_counts: dict[str, int]
    artists: int

    @property
    def tracks_per_second(self) -> float:
        """Throughput of the whole run (rendering, encoding and metadata)."""
        return self.tracks / self.wall_seconds if self.wall_seconds > 0 else 0.0


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


def _weighted(rng: np.random.Generator, options: Sequence[str], prior: Sequence[float]) -> str:
    # a uniform floor keeps every combination possible, so all axes vary within every genre
    p = 0.8 * np.asarray(prior, dtype=float) / sum(prior) + 0.2 / len(options)
    return str(options[int(rng.choice(len(options), p=p / p.sum()))])


# fmt: off
_ADJ: Final = (
    "Silver", "Broken", "Velvet", "Hollow", "Electric", "Quiet", "Golden", "Paper", "Midnight",
    "Crystal", "Rusty", "Wild", "Neon", "Lonely", "Bright", "Amber", "Frozen", "Sunday",
)
_NOUN: Final = (
    "Owls", "Rivers", "Machines", "Lanterns", "Foxes", "Engines", "Gardens", "Satellites", "Ghosts",
    "Horses", "Waves", "Mirrors", "Harbors", "Comets", "Bells", "Tides",
)
_FIRST: Final = (
    "Ana", "Tom", "Lucía", "Jonas", "Mei", "Kofi", "Sven", "Priya", "Olu", "Zoë", "Marek", "Aiko",
    "Dmitri", "Inès", "Rafael", "Hana",
)
_LAST: Final = (
    "Hart", "Novak", "García", "Okafor", "Lindqvist", "Tanaka", "Brønn", "Dubois", "Silva", "Kowalski",
    "Moreau", "Øster", "Nakamura", "Ferreira",
)
# fmt: on
_SPECIAL_ARTISTS: Final = (
    "Ля-ля Бэнд",
    "東京 Drift",
    "Earth, Wind & Ivy",
    "Smith, Jones, and Co.",
    "Sigur Rósa",
    "Mötley Crüet",
    "Café Noir Collective",
    'Los "Tres" Amigos',
)
_SPECIAL_TITLES: Final = (
    "Café Noir",
    "Ля-ля",
    "東京",
    "Hello, Goodbye",
    "Rain, Again, Rain",
    "Señorita",
    "Naïve Melody",
    "Für Elise, Reprise",
    '"Quoted" Song',
    "Ça va, ça va",
    "Smörgåsbord",
    "São Paulo Nights",
    "Πάντα ρεί",
    "מים",
    "Kjærlighet",
)
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


def _artist_name(rng: np.random.Generator) -> str:
    form = int(rng.integers(0, 9))
    adj, noun = str(rng.choice(_ADJ)), str(rng.choice(_NOUN))
    first, last = str(rng.choice(_FIRST)), str(rng.choice(_LAST))
    if form == 0:
        return str(rng.choice(_SPECIAL_ARTISTS))
    if form in (1, 2):
        return f"The {adj} {noun}"
    if form in (3, 4):
        return f"{first} {last}"
    if form == 5:
        return f"{last}, {first}"  # a comma inside the name: the CSV must quote it
    if form == 6:
        return f"{first} & the {noun}"
    return f"{adj} {noun}"


def _title(rng: np.random.Generator) -> str:
    form = int(rng.integers(0, 7))
    if form == 0:
        return str(rng.choice(_SPECIAL_TITLES))
    if form == 1:
        return f"{rng.choice(_NOUN)} of the {rng.choice(_ADJ)} {rng.choice(_NOUN)}"
    if form == 2:
        return f"Untitled #{int(rng.integers(1, 40))}"
    return f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}"


def _signature(rng: np.random.Generator) -> ArtistSignature:
    return ArtistSignature(
        key=int(rng.integers(0, 12)),
        tempo_shift=float(rng.uniform(-0.03, 0.03)),
        variant=int(rng.integers(0, 12)),
        brightness=float(rng.uniform(0.8, 1.25)),
        decay=float(rng.uniform(0.75, 1.35)),
        detune_cents=float(rng.uniform(4.0, 14.0)),
        pluck_position=float(rng.uniform(0.1, 0.28)),
        kit_tuning=float(rng.uniform(0.88, 1.14)),
        voice_hz=float(rng.choice([rng.uniform(95.0, 140.0), rng.uniform(170.0, 240.0)])),
        formant_scale=float(rng.uniform(0.9, 1.12)),
    )


def _genre_lists(rng: np.random.Generator, root: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """An FMA-like `genres` list (all under one root) and its `genres_all` closure."""
    subs = [g for g, _, _ in SUB_GENRES if _root_of(g) == root]
    form = int(rng.integers(0, 4)) if subs else 0
    if form == 0:
        genres = [root]
    elif form == 1:
        genres = [int(rng.choice(subs))]
    elif form == 2:
        genres = [root, int(rng.choice(subs))]
    else:
        genres = sorted({int(g) for g in rng.choice(subs, size=min(2, len(subs)), replace=False)})
    closure: set[int] = set()
    for g in genres:
        while g:
            closure.add(g)
            g = _PARENT[g]
    return tuple(sorted(genres)), tuple(sorted(closure))


def _root_of(genre_id: int) -> int:
    while _PARENT[genre_id]:
        genre_id = _PARENT[genre_id]
    return genre_id


def _artist_sizes(rng: np.random.Generator, n: int) -> list[int]:
    """Tracks per artist for a genre of `n` tracks: 3-8 each; rare genres get 1-2 so they reach every split."""
    if n < 6:
        return [2] * (n // 2) + [1] * (n % 2)
    sizes: list[int] = []
    while n > 8:
        size = int(rng.integers(3, 9))
        size = min(size, n - 3)  # never leave fewer than 3 for the last artist
        sizes.append(size)
        n -= size
    return [*sizes, n]


def plan_corpus(tracks: int, seed: int = 0) -> list[TrackPlan]:
    """Decide every track of a corpus (metadata, labels, artist signatures) without rendering audio.

    Deterministic in (`tracks`, `seed`). Tracks are grouped into artists of 3-8 tracks within one genre (1-2
    for genres with fewer than 6 tracks), one or two albums per artist, consecutive sparse track ids from 2.
    The split is about 80/10/10 and artist-disjoint, and every genre has training tracks.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    counts = planned_genre_counts(tracks)

    artists = [(genre, size) for genre, n in counts.items() for size in _artist_sizes(rng, n)]
    order = [int(i) for i in rng.permutation(len(artists))]

    # artist-disjoint 80/10/10 split: each genre's first artist trains, the others fill the largest gap
    targets = {"training": 0.8, "validation": 0.1, "test": 0.1}
    assigned = dict.fromkeys(targets, 0)
    split_of: dict[int, str] = {}
    for i in order:
        genre, size = artists[i]
        if any(artists[j][0] == genre for j in split_of):
            split = max(targets, key=lambda s: targets[s] * tracks - assigned[s])
        else:
            split = "training"
        split_of[i] = split
        assigned[split] += size

    plans: list[TrackPlan] = []
    track_id, artist_id, album_id = 2, 0, 0
    special_left = {int(i) for i in rng.choice(max(tracks, 1), size=min(tracks, max(3, tracks // 10)), replace=False)}
    for i in order:
        genre, n_tracks = artists[i]
        style = GENRE_STYLES[genre]
        artist_id += int(rng.integers(1, 4))
        name = _artist_name(rng)
        signature = _signature(rng)
        album_sizes = [n_tracks] if n_tracks < 6 else [n_tracks // 2, n_tracks - n_tracks // 2]
        for album_size in album_sizes:
            album_id += int(rng.integers(1, 3))
            album_title = _title(rng)
            for number in range(1, album_size + 1):
                energy = _weighted(rng, ENERGY, style.energy_prior)
                valence = _weighted(rng, VALENCE, (style.positive_prior, 1 - style.positive_prior))
                source = _weighted(rng, SOURCE, (1 - style.electronic_prior, style.electronic_prior))
                mood = _weighted(rng, MOOD_STYLES, style.mood_prior)
                lo, hi = style.tempo
                u = rng.uniform(0.55, 1.0) if valence == "positive" else rng.uniform(0.0, 0.45)
                tempo = (lo + u * (hi - lo)) * (1 + signature.tempo_shift)
                mode = style.scales[0 if valence == "positive" else 1]
                genres, genres_all = _genre_lists(rng, GENRE_IDS[genre])
                listed = bool(rng.random() >= 0.1)
                title = str(rng.choice(_SPECIAL_TITLES)) if len(plans) in special_left else _title(rng)
                in_small = genre in _SMALL_GENRES and rng.random() < 0.3
                subset = "large" if not listed else "small" if in_small else "medium" if rng.random() < 0.6 else "large"
                plans.append(
                    TrackPlan(
                        track_id=track_id,
                        seed=seed,
                        artist_id=artist_id,
                        artist_name=name,
                        album_id=album_id,
                        album_title=album_title,
                        album_tracks=album_size,
                        number=number,
                        title=title,
                        genre_top=genre,
                        genres=genres,
                        genres_all=genres_all,
                        genre_top_listed=listed,
                        split=split_of[i],
                        subset=subset,
                        energy=energy,
                        valence=valence,
                        source=source,
                        mood_style=mood,
                        tempo_bpm=round(float(tempo), 1),
                        mode=mode,
                        signature=signature,
                    )
                )
                track_id += int(rng.integers(1, 6))
    return plans


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


# ------------------------------------------------------------------------------------- synthesis primitives

_TABLE: Final = 4096
_NOISE = np.random.default_rng(20240611).standard_normal(1 << 20).astype(np.float32)  # fixed noise bank
_TIME = np.arange(_SR * 24, dtype=np.float32) / _SR
_RAMP = np.arange(_SR * 24, dtype=np.int64)


def _time(n: int) -> np.ndarray:
    global _TIME  # grown on demand for long clips; the prefix never changes
    if n > _TIME.size:
        _TIME = np.arange(n, dtype=np.float32) / _SR
    return _TIME[:n]


def _ramp(n: int) -> np.ndarray:
    global _RAMP
    if n > _RAMP.size:
        _RAMP = np.arange(n, dtype=np.int64)
    return _RAMP[:n]


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """White noise from a fixed bank at a random offset (much cheaper than drawing fresh normals)."""
    if n >= _NOISE.size:
        return rng.standard_normal(n, dtype=np.float32)
    start = int(rng.integers(0, _NOISE.size - n))
    return _NOISE[start : start + n]


def _hz(midi: float) -> float:
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _nharm(hz: float, most: int) -> int:
    return max(1, min(most, int(18_000.0 / max(hz, 1.0))))  # band-limit: no partial above 18 kHz


@lru_cache(maxsize=1024)
def _table(shape: str, nharm: int, a: float = 1.0, b: float = 0.0) -> np.ndarray:
    """One band-limited cycle with `nharm` harmonics shaped by (`a`, `b`)."""
    k = np.arange(1, nharm + 1, dtype=np.float64)
    if shape == "saw":
        amps = 1.0 / k
    elif shape == "square":
        amps = np.where(k % 2 == 1, 1.0 / k, 0.0)
    elif shape == "pulse":  # b = duty cycle
        amps = np.abs(np.sin(np.pi * k * b)) / k
    elif shape == "pluck":  # a = roll-off exponent, b = pluck position (its multiples are missing)
        amps = k**-a * (np.abs(np.sin(np.pi * k * b)) + 0.03)
    elif shape == "bowed":  # a = roll-off; a body resonance bump around the 3rd-6th partials
        amps = k**-a * (1.0 + 0.9 * np.exp(-(((k - 4.5) / 2.0) ** 2)))
    elif shape == "reed":  # clarinet-like: strong odd partials
        amps = np.where(k % 2 == 1, 1.0, 0.25) * k**-a
    elif shape == "flute":
        amps = np.array([1.0, 0.35, 0.12, 0.05, 0.02, 0.01])[:nharm]
    elif shape == "sine":
        amps = np.array([1.0, 0.06])[:nharm]
    else:
        raise ValueError(shape)
    spec = np.zeros(_TABLE // 2 + 1, dtype=np.complex128)
    spec[1 : nharm + 1] = -1j * amps[:nharm]
    wave = np.fft.irfft(spec, _TABLE)
    return (wave / np.abs(wave).max()).astype(np.float32)


@lru_cache(maxsize=64)
def _fm_table(ratio: int, index: float) -> np.ndarray:
    """One cycle of 2-operator FM with an integer ratio (so it is periodic and fits a wavetable)."""
    th = np.arange(_TABLE) * (2 * np.pi / _TABLE)
    return np.sin(th + index * np.sin(ratio * th)).astype(np.float32)


@lru_cache(maxsize=2048)
def _vowel_table(vowel: str, f0: int, fscale: int, buzz: bool) -> np.ndarray:
    """One glottal cycle at `f0` Hz filtered by the formants of `vowel` (formants scaled by `fscale`/100)."""
    nharm = _nharm(f0, 96)
    fk = np.arange(1, nharm + 1, dtype=np.float64) * f0
    env = np.full(nharm, 0.01)
    for (formant, gain), bw in zip(
        zip(_VOWELS[vowel], (1.0, 0.6, 0.3), strict=True), (90.0, 110.0, 150.0), strict=True
    ):
        env += gain / (1.0 + ((fk - formant * fscale / 100.0) / bw) ** 2)
    amps = env * (np.ones(nharm) if buzz else 1.0 / np.arange(1, nharm + 1) ** 0.7)
    spec = np.zeros(_TABLE // 2 + 1, dtype=np.complex128)
    spec[1 : nharm + 1] = -1j * amps
    wave = np.fft.irfft(spec, _TABLE)
    return (wave / np.abs(wave).max()).astype(np.float32)


_VOWELS: Final = {
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (300, 2250, 3000),
    "o": (570, 840, 2410),
    "u": (320, 870, 2240),
}


def _osc(table: np.ndarray, hz: float, n: int, phase: int = 0) -> np.ndarray:
    """Constant-pitch wavetable oscillator with a 16.16 fixed-point phase (no float modulo)."""
    inc = round(hz * _TABLE / _SR * 65536.0)
    return table[((_ramp(n) * inc + phase) >> 16) & (_TABLE - 1)]


def _osc_var(table: np.ndarray, hz: np.ndarray) -> np.ndarray:
    """Wavetable oscillator following a per-sample frequency (vibrato, bends, speech contours)."""
    phase = np.cumsum(hz.astype(np.float64) * (_TABLE / _SR))
    return table[phase.astype(np.int64) & (_TABLE - 1)]


def _smooth_rise(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, max(n, 1), dtype=np.float32))).astype(np.float32)


@lru_cache(maxsize=64)
def _sos(kind: str, lo: float, hi: float = 0.0, order: int = 2) -> np.ndarray:
    freqs: float | list[float] = [lo, hi] if kind == "bandpass" else lo
    return signal.butter(order, freqs, btype=kind, fs=_SR, output="sos")


def _filt(x: np.ndarray, kind: str, lo: float, hi: float = 0.0, order: int = 2) -> np.ndarray:
    return signal.sosfilt(_sos(kind, lo, hi, order), x).astype(np.float32)


def _place(buf: np.ndarray, start: int, x: np.ndarray, gain: float) -> None:
    """Mix `x` into `buf` at sample `start` (clipped to the buffer)."""
    if start >= buf.size or start + x.size <= 0:
        return
    if start < 0:
        x, start = x[-start:], 0
    end = min(buf.size, start + x.size)
    buf[start:end] += x[: end - start] * np.float32(gain)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float32)) + 1e-12))


# ------------------------------------------------------------------------------------------- instruments

_ELECTRONIC_FAMILY: Final = {  # the synthetic counterpart of each acoustic family, by role
    "comp": ("saw", "supersaw", "square", "fm"),
    "lead": ("square", "saw", "fm", "pulse", "supersaw"),
    "bass": ("synthbass", "square"),
}


class _Voice:
    """One instrument of one track; renders and caches notes by (pitch, length)."""

    def __init__(self, family: str, sig: ArtistSignature, rng: np.random.Generator, attack: float = 0.0):
        self.family, self.sig, self.rng, self.attack = family, sig, rng, attack
        self.cache: dict[tuple[float, int], np.ndarray] = {}
        self.fm = (1 + sig.variant % 3, 0.8 + 0.25 * (sig.variant % 5))

    def note(self, midi: float, dur: int) -> np.ndarray:
        """The waveform of a note of `dur` samples (plus its natural release)."""
        dur = max(256, (dur + 255) // 256 * 256)  # quantised so repeated notes hit the cache
        key = (midi, dur)
        wave = self.cache.get(key)
        if wave is None:
            wave = self.cache[key] = self._render(_hz(midi), dur)
        return wave

    def _render(self, hz: float, dur: int) -> np.ndarray:
        fam, sig = self.family, self.sig
        if fam in ("guitar", "twang", "sitar", "upright", "bassguitar", "harp"):
            return self._pluck(hz, dur)
        if fam in ("piano", "mallet"):
            return self._struck(hz, dur)
        if fam in ("strings", "cello", "reed", "flute", "voice", "tuba"):
            return self._sustained(hz, dur)
        # synthetic: exact pitch, flat gated envelope, no vibrato, no noise
        n = dur + int(0.02 * _SR)
        if fam in ("saw", "supersaw"):
            cents = (
                (-sig.detune_cents, sig.detune_cents) if fam == "saw" else (-sig.detune_cents, 0.0, sig.detune_cents)
            )
            wave = sum(
                _osc(_table("saw", _nharm(hz, 80)), hz * 2 ** (c / 1200), n, phase=i * 9_000_000)
                for i, c in enumerate(cents)
            ) / len(cents)
        elif fam == "square":
            wave = _osc(_table("square", _nharm(hz, 80)), hz, n)
        elif fam == "pulse":
            wave = _osc(_table("pulse", _nharm(hz, 80), 1.0, 0.25), hz, n)
        elif fam == "fm":
            wave = _osc(_fm_table(*self.fm), hz, n)
        elif fam == "sine":
            wave = _osc(_table("sine", 2), hz, n)
        elif fam == "synthbass":
            wave = (
                _osc(_table("saw", _nharm(hz, 64)), hz, n) * 0.7 + _osc(_table("square", _nharm(hz, 64)), hz, n) * 0.5
            )
        else:
            raise ValueError(fam)
        env = np.ones(n, dtype=np.float32)
        na = max(int(0.004 * _SR), int(self.attack * _SR))
        env[: min(na, n)] = np.linspace(0.0, 1.0, na, dtype=np.float32)[: min(na, n)]
        env[dur:] = np.linspace(1.0, 0.0, n - dur, dtype=np.float32)
        return (wave * env).astype(np.float32)

    def _pluck(self, hz: float, dur: int) -> np.ndarray:
        sig, fam = self.sig, self.family
        base = {"guitar": 1.0, "twang": 0.7, "sitar": 1.3, "upright": 1.4, "bassguitar": 1.8, "harp": 1.5}[fam]
        tau = base * sig.decay * float(np.clip((196.0 / hz) ** 0.5, 0.35, 2.2))
        n = int(max(512, min(dur + 0.05 * _SR, 5.0 * tau * _SR)))
        t = _time(n)
        position = {"twang": 0.07, "upright": 0.3, "bassguitar": 0.25}.get(fam, sig.pluck_position)
        dark_roll = 2.6 if fam in ("upright", "bassguitar") else 2.0
        if fam == "twang":  # a bright string that starts slightly sharp and settles (the "twang")
            bend = (hz * (1.0 + 0.012 * np.exp(-t / 0.04))).astype(np.float32)
            dark = _osc_var(_table("pluck", _nharm(hz * 1.02, 48), dark_roll, position), bend)
        else:
            bend = None
            dark = _osc(_table("pluck", _nharm(hz, 48), dark_roll, position), hz, n)
        wave = dark * np.exp(-t / tau)
        fast = tau * (0.35 if fam == "sitar" else 0.12)  # a sitar's jawari keeps it buzzing
        nb = min(n, int(5 * fast * _SR) + 1)
        table = _table("pluck", _nharm(hz * 1.02, 48), 0.7 / sig.brightness, position)
        bright = _osc_var(table, bend[:nb]) if bend is not None else _osc(table, hz, nb)
        wave[:nb] += 0.9 * bright * np.exp(-t[:nb] / fast)
        # stiff strings: upper partials sit slightly sharp of k*f (inharmonicity), and die fast
        ni = min(n, int(0.25 * _SR))
        for k in (3, 5):
            fk = k * hz * math.sqrt(1.0 + 0.0004 * k * k)
            if fk < 18_000:
                wave[:ni] += (0.25 / k) * np.sin((2 * np.pi * fk) * t[:ni]) * np.exp(-t[:ni] / 0.07)
        self._shape(wave, dur, attack=0.0015, release=0.035)
        return wave

    def _struck(self, hz: float, dur: int) -> np.ndarray:
        sig = self.sig
        if self.family == "mallet":  # vibraphone-like bars: partials at 1, 4 and 10 times f
            tau = 1.1 * sig.decay * float(np.clip((440.0 / hz) ** 0.3, 0.5, 1.6))
            n = int(max(512, min(dur + 0.08 * _SR, 4.0 * tau * _SR)))
            t = _time(n)
            wave = np.sin((2 * np.pi * hz) * t) * np.exp(-t / tau)
            for ratio, amp, div in ((4.0, 0.3, 6.0), (10.0, 0.1, 20.0)):
                if ratio * hz < 18_000:
                    wave += amp * np.sin((2 * np.pi * ratio * hz) * t) * np.exp(-t * (div / tau))
            wave = wave.astype(np.float32)
            self._shape(wave, dur, attack=0.001, release=0.12)
            return wave
        tau = 1.6 * sig.decay * float(np.clip((261.0 / hz) ** 0.4, 0.4, 2.5))
        n = int(max(512, min(dur + 0.12 * _SR, 4.0 * tau * _SR)))
        t = _time(n)
        dark = _osc(_table("pluck", _nharm(hz, 48), 2.4, 1 / 7), hz, n)
        wave = dark * (0.55 * np.exp(-t / (tau * 0.12)) + 0.45 * np.exp(-t / tau))  # two-stage piano decay
        nb = min(n, int(0.4 * tau * _SR) + 1)
        bright = _osc(_table("pluck", _nharm(hz * 1.01, 48), 0.9 / sig.brightness, 1 / 7), hz * 1.0007, nb)
        wave[:nb] += 0.7 * bright * np.exp(-t[:nb] / (tau * 0.06))
        nh = min(n, int(0.006 * _SR))  # hammer thump
        wave[:nh] += 0.3 * _noise(self.rng, nh) * np.linspace(1.0, 0.0, nh, dtype=np.float32)
        self._shape(wave, dur, attack=0.001, release=0.09)
        return wave

    def _sustained(self, hz: float, dur: int) -> np.ndarray:
        fam, sig = self.family, self.sig
        release = {"strings": 0.18, "cello": 0.2, "reed": 0.07, "flute": 0.08, "voice": 0.1, "tuba": 0.06}[fam]
        n = dur + int(4 * release * _SR)
        t = _time(n)
        rate, depth = {"reed": (5.0, 0.003), "flute": (5.2, 0.003), "voice": (5.6, 0.008), "tuba": (4.5, 0.0015)}.get(
            fam, (5.8, 0.004)
        )
        phase = float(self.rng.uniform(0, 2 * np.pi))
        vib = depth * np.sin((2 * np.pi * rate) * t + phase) * np.minimum(1.0, t / 0.35)
        freq = (hz * (1.0 + vib)).astype(np.float32)
        if fam in ("strings", "cello"):
            table = _table("bowed", _nharm(hz * 1.01, 40), 2.0 / sig.brightness)  # warmer than a raw saw
        elif fam in ("reed", "tuba"):
            table = _table("reed", _nharm(hz * 1.01, 30 if fam == "reed" else 12), 1.8 / sig.brightness)
        elif fam == "flute":
            table = _table("flute", _nharm(hz * 1.01, 6))
        else:
            vowel = "aoeiu"[sig.variant % 5] if sig.variant % 5 < 2 else "a"
            table = _vowel_table(vowel, round(hz / 5.0) * 5, int(sig.formant_scale * 100), False)
        wave = _osc_var(table, freq)
        noise_amt = {"strings": 0.03, "cello": 0.03, "reed": 0.04, "flute": 0.09, "voice": 0.03, "tuba": 0.02}[fam]
        noise = _noise(self.rng, n)
        wave += noise_amt * (noise - np.roll(noise, 1))  # breath / bow noise, high-passed by a difference
        attack = {"strings": 0.09, "cello": 0.1, "reed": 0.035, "flute": 0.05, "voice": 0.05, "tuba": 0.04}[fam]
        self._shape(wave, dur, attack=attack, release=release)
        wave *= 1.0 - 0.12 * np.minimum(1.0, t / max(dur / _SR, 0.05))  # a natural sag over the note
        return wave

    def _shape(self, wave: np.ndarray, dur: int, attack: float, release: float) -> None:
        """Apply attack (at least the mood's) and the note-off release in place."""
        na = min(wave.size, max(2, int(max(attack, self.attack) * _SR)))
        wave[:na] *= _smooth_rise(na)
        if dur < wave.size:
            wave[dur:] *= np.exp(-_time(wave.size - dur) / release)


def _metal(t: np.ndarray, freqs: Sequence[float], tune: float) -> np.ndarray:
    """A cluster of square waves at inharmonic ratios: the metal of cymbals and drum-machine hats."""
    out = np.zeros(t.size, np.float32)
    for f in freqs:
        out += np.sign(np.sin((2 * np.pi * f * tune) * t))
    return out


class _Kit:
    """A drum kit: a humanised acoustic one (variants per hit) or an exact drum machine."""

    def __init__(self, electronic: bool, sig: ArtistSignature, rng: np.random.Generator):
        self.electronic, self.tune, self.rng = electronic, sig.kit_tuning, rng
        self.cache: dict[str, list[np.ndarray]] = {}

    def hit(self, piece: str) -> np.ndarray:
        """One hit of `piece` (acoustic kits pick one of three recorded-like variants)."""
        variants = self.cache.get(piece)
        if variants is None:
            count = 1 if self.electronic else 3
            variants = self.cache[piece] = [self._render(piece) for _ in range(count)]
        return variants[int(self.rng.integers(0, len(variants)))]

    def _render(self, piece: str) -> np.ndarray:
        rng, tune = self.rng, self.tune

        def decay(n: int, tau: float) -> np.ndarray:
            return np.exp(-_time(n) / tau)

        def sweep(n: int, f_hi: float, f_lo: float, tau_f: float) -> np.ndarray:
            t = _time(n)
            f = f_lo + (f_hi - f_lo) * np.exp(-t / tau_f)
            return np.sin(np.cumsum(f * (2 * np.pi / _SR), dtype=np.float64)).astype(np.float32)

        if self.electronic:
            if piece == "kick":  # 808-style: a long pure sine sweep
                n = int(0.5 * _SR)
                return np.tanh(1.5 * sweep(n, 170 * tune, 46 * tune, 0.03) * decay(n, 0.28)).astype(np.float32)
            if piece in ("snare", "clap", "rim", "brush"):
                n = int(0.2 * _SR)
                if piece == "clap":  # three bursts a few ms apart
                    env = sum((_time(n) >= d) * decay(n, 0.012) for d in (0.0, 0.011, 0.022))
                    env = env + 0.4 * decay(n, 0.09)
                    return (_filt(_noise(rng, n), "bandpass", 900, 2800) * env * 1.8).astype(np.float32)
                if piece == "rim":
                    n = int(0.05 * _SR)
                    return (np.sign(np.sin(2 * np.pi * 1100 * tune * _time(n))) * decay(n, 0.008)).astype(np.float32)
                return (
                    0.6 * _noise(rng, n) * decay(n, 0.08) + np.sin(2 * np.pi * 200 * tune * _time(n)) * decay(n, 0.04)
                ).astype(np.float32)
            if piece in ("hat", "shaker", "ohat", "ride", "crash"):  # 808-style: six square waves, high-passed
                secs = {"hat": 0.06, "shaker": 0.05, "ohat": 0.3, "ride": 0.6, "crash": 1.0}[piece]
                n = int(secs * _SR)
                t = _time(n)
                x = _filt(_metal(t, (205, 304, 369, 522, 540, 800), tune), "highpass", 7000)
                return (x * 0.5 * decay(n, secs / 4)).astype(np.float32)
            if piece in ("conga_hi", "conga_lo", "tom"):
                f = {"conga_hi": 420, "conga_lo": 260, "tom": 110}[piece] * tune
                n = int((0.45 if piece == "tom" else 0.15) * _SR)
                return (sweep(n, f * 1.6, f, 0.02) * decay(n, n / _SR / 4)).astype(np.float32)
            raise ValueError(piece)

        # acoustic kit: filtered noise and pitched membranes with natural, slightly varying decays
        var = float(rng.uniform(0.9, 1.1))
        if piece == "kick":
            n = int(0.4 * _SR)
            body = sweep(n, 120 * tune * var, 52 * tune, 0.025) * decay(n, 0.16)
            click = np.zeros(n, np.float32)
            click[:160] = _filt(_noise(rng, 160), "lowpass", 3000) * np.linspace(1, 0, 160, dtype=np.float32)
            return (body + 0.5 * click).astype(np.float32)
        if piece == "snare":
            n = int(0.3 * _SR)
            wires = _filt(_noise(rng, n), "bandpass", 1200, 7000) * decay(n, 0.11 * var)
            shell = np.sin(2 * np.pi * 185 * tune * _time(n)) + 0.5 * np.sin(2 * np.pi * 330 * tune * _time(n))
            return (1.4 * wires + 0.6 * shell * decay(n, 0.05)).astype(np.float32)
        if piece == "rim":
            n = int(0.08 * _SR)
            return (
                _filt(_noise(rng, n), "bandpass", 1500, 5000) * decay(n, 0.012) * 2
                + np.sin(2 * np.pi * 820 * tune * _time(n)) * decay(n, 0.02)
            ).astype(np.float32)
        if piece == "brush":
            n = int(0.18 * _SR)
            env = _smooth_rise(n) ** 0.3 * decay(n, 0.06)
            return (_filt(_noise(rng, n), "bandpass", 2000, 9000) * env * 1.4).astype(np.float32)
        if piece == "clap":
            n = int(0.2 * _SR)
            env = sum((_time(n) >= d + float(rng.uniform(0, 0.004))) * decay(n, 0.01) for d in (0.0, 0.01, 0.021))
            return (_filt(_noise(rng, n), "bandpass", 800, 3500) * (env + 0.3 * decay(n, 0.08)) * 1.6).astype(
                np.float32
            )
        if piece in ("hat", "ohat", "ride", "crash", "shaker"):
            secs, tau, lo = {
                "hat": (0.12, 0.035, 6500),
                "ohat": (0.5, 0.16, 5500),
                "ride": (1.2, 0.45, 4000),
                "crash": (1.6, 0.55, 3500),
                "shaker": (0.12, 0.03, 5000),
            }[piece]
            n = int(secs * _SR)
            x = _filt(_noise(rng, n), "highpass", lo)
            if piece != "shaker":  # cymbal metal: a cluster of inharmonic square partials
                t = _time(n)
                x = x + 0.06 * _filt(_metal(t, (317, 442, 521, 671, 803), tune), "highpass", lo)
            env = decay(n, tau * var)
            if piece == "shaker":
                env = env * _smooth_rise(n) ** 0.2
            return (x * env * 0.9).astype(np.float32)
        if piece in ("conga_hi", "conga_lo", "tom"):
            f = {"conga_hi": 330, "conga_lo": 210, "tom": 92}[piece] * tune * var
            n = int((0.6 if piece == "tom" else 0.25) * _SR)
            skin = sweep(n, f * 1.15, f, 0.015) * decay(n, 0.25 if piece == "tom" else 0.09)
            slap = _filt(_noise(rng, n), "bandpass", 600, 4000) * decay(n, 0.012)
            return (skin + 0.5 * slap).astype(np.float32)
        raise ValueError(piece)


# ----------------------------------------------------------------------------------------------- drums

# 16 steps per 4/4 bar: X accent, x normal, o ghost. "high" energy adds the extra layer; "low" keeps the
# accents and normal hits on the quarter notes and drops ghosts and the extra layer.
_DRUMS: Final[dict[str, tuple[dict[str, str], dict[str, str]]]] = {
    "rock": (
        {"kick": "X.....x.X.x.....", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X.x...x.X.x...x.", "hat": "xxxxxxxxxxxxxxxx", "crash": "X..............."},
    ),
    "four": (
        {"kick": "X...X...X...X...", "clap": "....X.......X...", "ohat": "..x...x...x...x."},
        {"hat": "xoxoxoxoxoxoxoxo", "snare": "..............xx"},
    ),
    "boombap": (
        {"kick": "X......x..X.....", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X......x..X..x..", "hat": "xoxoxoxoxoxoxoxo"},
    ),
    "swing": (
        {"ride": "x...x.x.x...x.x.", "hat": "....x.......x...", "kick": "o...o...o...o..."},
        {"snare": "..o....o..o...o.", "ride": "X...x.x.X...x.x."},
    ),
    "shuffle": (
        {"kick": "x.......x.......", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "x.....x.x.....x.", "ride": "x...x...x...x..."},
    ),
    "train": (
        {"snare": "o.o.X.o.o.o.X.o.", "kick": "X.......X......."},
        {"snare": "ooooXoooooooXooo", "hat": "x.x.x.x.x.x.x.x."},
    ),
    "pop": (
        {"kick": "X.....x.X.......", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"clap": "....X.......X...", "shaker": "xoxoxoxoxoxoxoxo", "kick": "X.....x.X.x....."},
    ),
    "soul": (
        {"kick": "X..x......X.....", "snare": "....X.......X...", "hat": "xoxoxoxoxoxoxoxo"},
        {"snare": "..o....o.o..X.o.", "ohat": "..............x."},
    ),
    "hand": (
        {"conga_hi": "x..x..x...x..x..", "conga_lo": "X.......X.....x.", "shaker": "x.x.x.x.x.x.x.x."},
        {"conga_hi": "x.ox.ox.o.x.oxo.", "shaker": "xoxoxoxoxoxoxoxo"},
    ),
    "march": (
        {"kick": "X.......X.......", "brush": "....x.......x..."},
        {"snare": "x.o.x.o.x.o.x.oo", "crash": "X..............."},
    ),
    "cinema": ({"tom": "X.......x......."}, {"tom": "X.....x.X...x.x.", "shaker": "x.x.x.x.x.x.x.x."}),
    "lounge": ({"rim": "....x.......x...", "shaker": "x.x.x.x.x.x.x.x."}, {"kick": "x.......x......."}),
    "folk": ({}, {"kick": "X.......X.......", "clap": "....x.......x..."}),
    "none": ({}, {}),
}
_DRUM_GAIN: Final = {
    "kick": 1.0,
    "snare": 0.8,
    "clap": 0.7,
    "hat": 0.35,
    "ohat": 0.35,
    "ride": 0.3,
    "crash": 0.45,
    "rim": 0.5,
    "brush": 0.5,
    "shaker": 0.3,
    "conga_hi": 0.6,
    "conga_lo": 0.7,
    "tom": 0.9,
}


def _drum_hits(pattern: str, energy: str, mood: str) -> dict[str, list[tuple[int, float]]]:
    base, extra = _DRUMS[pattern]
    layers = {**base, **extra} if energy == "high" else dict(base)
    if energy == "high":
        for piece, steps in base.items():  # keep base hits that the extra layer does not replace
            if piece in extra:
                layers[piece] = "".join(e if e != "." else b for b, e in zip(steps, extra[piece], strict=True))
    hits: dict[str, list[tuple[int, float]]] = {}
    for piece, steps in layers.items():
        if mood == "somber" and piece in ("hat", "shaker", "ohat"):
            continue  # somber is sparse
        out = []
        for i, ch in enumerate(steps):
            if ch == ".":
                continue
            if energy == "low" and (ch == "o" or (piece in ("hat", "shaker", "ride", "ohat") and i % 4)):
                continue
            vel = {"X": 1.0, "x": 0.75, "o": 0.35}[ch]
            if mood == "dreamy" and piece in ("hat", "shaker", "ohat", "ride"):
                vel *= 0.5
            out.append((i, vel))
        hits[piece] = out
    return hits


# ------------------------------------------------------------------------------------------- composition


@dataclass
class _Song:
    """The grid and harmony of one rendered track."""

    plan: TrackPlan
    style: _GenreStyle
    rng: np.random.Generator
    n: int  # samples to render (pre-roll + clip)
    bpm: float
    electronic: bool
    scale: tuple[int, ...] = field(init=False)
    spb: float = field(init=False)  # seconds per beat
    bars: int = field(init=False)
    tonic: int = field(init=False)

    def __post_init__(self) -> None:
        self.scale = _SCALES[self.plan.mode]
        self.spb = 60.0 / self.bpm
        self.bars = math.ceil(self.n / _SR / (4 * self.spb)) + 1
        self.tonic = 48 + self.plan.key  # C3..B3

    def step_time(self, bar: int, step: float) -> float:
        """Seconds of 16th-step `step` in `bar`, with the genre's swing."""
        beat, sub = divmod(step, 4)
        pos = sub / 4
        if self.style.swing and sub == 2:
            pos = 0.5 + self.style.swing * (2 / 3 - 0.5)
        elif self.style.swing16 and sub in (1, 3):
            pos += self.style.swing16 * 0.085
        return (bar * 4 + beat + pos) * self.spb

    def sample(self, seconds: float, jitter: float = 0.0) -> int:
        if jitter and not self.electronic:  # humans are never exactly on the grid
            seconds += float(self.rng.normal(0.0, jitter))
        return round(seconds * _SR)

    def degree(self, d: int, base: int, scale: Sequence[int] | None = None) -> int:
        sc = scale if scale is not None else self.scale
        octave, idx = divmod(d, len(sc))
        return base + 12 * octave + sc[idx]

    def chord_at(self, bar: int, beat: int = 0) -> int:
        prog = self.style.progressions[0 if self.plan.valence == "positive" else 1]
        beats_per_chord = 2 if len(prog) == 8 else 4
        return prog[((bar * 4 + beat) // beats_per_chord) % len(prog)]

    def chord(self, root_degree: int, base: int) -> list[int]:
        kind = self.style.chord
        root = self.degree(root_degree, base)
        if kind == "power":  # root, fifth, octave: the mode is carried by the cleaner lead above it
            return [root, root + 7, root + 12]
        if kind == "dom7":
            third = 3 if self.plan.valence == "negative" else 4
            return [root, root + third, root + 7, root + 10]
        size = {"triad": 3, "seventh": 4, "ninth": 5}[kind]
        notes = [self.degree(root_degree + 2 * i, base) for i in range(size)]
        if self.plan.mood_style == "dreamy":  # wide voicing: add the 9th and spread the top up an octave
            notes = [*notes[:3], self.degree(root_degree + 8, base), notes[-1] + 12]
        return notes


def _comp_events(song: _Song) -> list[tuple[float, float, float, float]]:
    """(time s, duration s, midi, velocity) of the harmony part, by genre, articulated by mood."""
    style, plan, spb = song.style, song.plan, song.spb
    mood, energy = plan.mood_style, plan.energy
    shift = {"playful": 12, "somber": -12}.get(mood, 0)
    base = style.register + plan.key - 5 + shift
    gate = {"dreamy": 1.8, "driving": 0.45, "playful": 0.35, "somber": 1.0}[mood]
    events: list[tuple[float, float, float, float]] = []
    comp = style.comp
    patterns = {  # 16-step rhythms of chord hits
        "power": "x.x.x.x.x.x.x.x." if energy != "low" else "x.......x.......",
        "stab": "..x...x...x...x." if style.drums == "four" else "x..x..x...x.x...",
        "loop": "x.....x...x.....",
        "eighths": "x.x.x.x.x.x.x.x." if energy != "low" else "x...x...x...x...",
        "strum": "x..x..x.x.x.x..." if energy != "low" else "x.......x.......",
        "charleston": "x.....x.........",
        "shuffle": "....x.......x...",
        "oompah": "....x.......x...",
    }
    for bar in range(song.bars):
        if comp in patterns:
            steps = [i for i, ch in enumerate(patterns[comp]) if ch == "x"]
            if energy == "high" and comp in ("stab", "charleston", "loop"):
                steps = sorted({*steps, 14})
            for step in steps:
                if mood == "somber" and step % 8:
                    continue  # sparse: chords only on the half-bar
                chord = song.chord(song.chord_at(bar, step // 4), base)
                length = (16 if mood == "somber" else 2 if comp in ("power", "eighths") else 3) * spb / 4 * gate
                t0 = song.step_time(bar, step)
                strum = 0.012 if comp in ("strum", "power") and not song.electronic else 0.0
                vel = 1.0 if step % 16 == 0 or mood != "driving" else 0.7
                for j, note in enumerate(chord):
                    events.append((t0 + j * strum, length, note, vel / math.sqrt(len(chord))))
        elif comp in ("pad", "drone"):
            for half in range(2):
                beat = half * 2
                chord = song.chord(song.chord_at(bar, beat), base)
                if comp == "drone":
                    chord = [chord[0], chord[0] + 7]
                length = 2 * spb * (1.15 if mood != "driving" else 0.5)
                if mood == "driving":  # pulsing repeated chords instead of sustain
                    for e in range(4):
                        t0 = song.step_time(bar, beat * 4 + e * 2)
                        events += [(t0, spb * 0.25, n, 0.5) for n in chord]
                    continue
                t0 = song.step_time(bar, beat * 4)
                events += [(t0, length, n, 0.6 / math.sqrt(len(chord))) for n in chord]
        elif comp in ("fingerpick", "ostinato"):
            per_bar = 16 if (comp == "ostinato" and energy != "low") or energy == "high" else 8
            step_len = 16 // per_bar
            for i in range(per_bar):
                step = i * step_len
                if mood == "somber" and step % 8:
                    continue
                chord = song.chord(song.chord_at(bar, step // 4), base)
                order = [0, 2, 1, 2, 0, 2, 1, 3 % len(chord)] if comp == "fingerpick" else [0, 1, 2, 1]
                note = chord[order[i % len(order)] % len(chord)] + (12 if comp == "ostinato" and i % 4 == 3 else 0)
                length = step_len * spb / 4 * max(gate, 1.4 if comp == "fingerpick" else 0.8)
                events.append((song.step_time(bar, step), length, note, 0.7 if i % 4 else 0.9))
    if plan.mood_style == "dreamy":  # a slow-attack pad under everything: long, legato, wide
        for bar in range(song.bars):
            chord = song.chord(song.chord_at(bar), base + 12)
            events += [(song.step_time(bar, 0), 4 * spb * 1.3, n, 0.35 / math.sqrt(len(chord))) for n in chord]
    return events


def _lead_events(song: _Song) -> list[tuple[float, float, float, float]]:
    """The melody: its rhythm, register and contour are the mood; its scale is the genre and valence."""
    plan, rng, spb = song.plan, song.rng, song.spb
    mood, density = plan.mood_style, _ENERGY_DENSITY[plan.energy]
    lead_scales = song.style.lead_scales
    scale = lead_scales[0 if plan.valence == "positive" else 1] if lead_scales else song.scale
    events: list[tuple[float, float, float, float]] = []
    if mood == "dreamy":  # long legato notes drifting stepwise, mid-high
        step_len, base, deg = int(8 / density), song.tonic + 24, 2
        for bar in range(song.bars):
            for step in range(0, 16, step_len):
                deg = int(np.clip(deg + rng.choice([-1, 0, 1, 1, -1, 2]), -2, 9))
                events.append((song.step_time(bar, step), step_len * spb / 4 * 1.5, song.degree(deg, base, scale), 0.6))
    elif mood == "driving":  # a steady staccato ostinato on the chord, accents on the beat
        step_len = {"high": 1, "medium": 2, "low": 4}[plan.energy]
        cell = [0, 0, 4, 0, 2, 0, 4, 7] if rng.random() < 0.5 else [0, 4, 7, 4, 0, 4, 2, 4]
        base = song.tonic + 12
        for bar in range(song.bars):
            root = song.chord_at(bar)
            for k, step in enumerate(range(0, 16, step_len)):
                vel = 1.0 if step % 4 == 0 else 0.6
                pitch = song.degree(root + cell[k % len(cell)], base, scale)
                events.append((song.step_time(bar, step), step_len * spb / 4 * 0.45, pitch, vel))
    elif mood == "playful":  # syncopated, bouncy, high, short notes with skips
        count = max(3, int(6 * density))
        weights = np.array([0.5 if s % 4 == 0 else 1.6 if s % 2 else 1.0 for s in range(32)])
        onsets = sorted(int(s) for s in rng.choice(32, size=min(count, 32), replace=False, p=weights / weights.sum()))
        base, deg, up = song.tonic + 24, 2, True
        motif = []
        for _ in onsets:
            jump = int(rng.integers(2, 6))
            deg = deg + jump if up else deg - jump
            deg = int(np.clip(deg, -2, 11))
            up = not up
            motif.append(deg)
        for bar in range(0, song.bars, 2):
            for step, deg in zip(onsets, motif, strict=True):
                b, s = divmod(step, 16)
                events.append((song.step_time(bar + b, s), spb / 4 * 0.6, song.degree(deg, base, scale), 0.8))
    else:  # somber: sparse, low, slowly descending
        step_len, base, deg = int(16 / density), song.tonic, 7
        for bar in range(song.bars):
            for step in range(0, 16, step_len):
                events.append(
                    (song.step_time(bar, step), step_len * spb / 4 * 0.95, song.degree(deg, base, scale), 0.7)
                )
                deg = deg - 1 if deg > -3 else 7
            if step_len > 16 and bar % 2 == 1:
                events.pop()  # low energy: one note every two bars
    if song.style.drums == "hand":  # ornament: a grace note from above before each longer note
        events += [(t - 0.06, 0.05, m + 2, v * 0.6) for t, d, m, v in events if d > 0.15]
    return events


def _bass_events(song: _Song) -> list[tuple[float, float, float, float]]:
    """The bass line, by genre; energy thins or doubles it."""
    style, plan, spb = song.style, song.plan, song.spb
    base = 36 + plan.key
    kind, energy = style.bass, plan.energy
    events: list[tuple[float, float, float, float]] = []
    for bar in range(song.bars):
        root_deg = song.chord_at(bar)
        root = song.degree(root_deg, base)
        fifth = song.degree(root_deg + 4, base)
        if kind == "eighths":
            steps = tuple(range(0, 16, 2 if energy != "low" else 4))
            events += [(song.step_time(bar, s), spb * 0.45, root, 0.9) for s in steps]
        elif kind == "offbeat":
            steps = (2, 6, 10, 14) if energy != "high" else (2, 3, 6, 7, 10, 11, 14, 15)
            events += [(song.step_time(bar, s), spb * 0.22, root, 0.9) for s in steps]
        elif kind == "boom":
            events += [(song.step_time(bar, s), spb * 1.2, root, 0.9) for s in (0, 7, 10)]
        elif kind == "root8":
            steps = tuple(range(0, 16, 2 if energy == "high" else 4))
            events += [(song.step_time(bar, s), spb * 0.5, root, 0.85) for s in steps]
        elif kind == "root":
            events += [(song.step_time(bar, s), spb * 1.8, n, 0.8) for s, n in ((0, root), (8, fifth))]
        elif kind == "rootfifth":
            events += [(song.step_time(bar, s), spb * 0.8, n, 0.85) for s, n in ((0, root), (8, fifth - 12))]
            if energy == "high":
                events += [(song.step_time(bar, s), spb * 0.4, n, 0.6) for s, n in ((4, root + 12), (12, fifth))]
        elif kind == "walking":
            nxt = song.degree(song.chord_at(bar + 1), base)
            line = [root, song.degree(root_deg + 2, base), fifth, nxt - 1 if nxt > root else nxt + 1]
            events += [(song.step_time(bar, 4 * i), spb * 0.9, n, 0.85) for i, n in enumerate(line)]
        elif kind == "boogie":
            third = 3 if plan.valence == "negative" else 4
            riff = [0, third, 7, 9, 10, 9, 7, third]
            events += [(song.step_time(bar, 2 * i), spb * 0.45, root + r, 0.8) for i, r in enumerate(riff)]
        elif kind == "funk":
            pattern = [(0, 0), (3, 12), (6, 0), (8, 7), (10, 12), (14, 0)]
            if energy == "low":
                pattern = pattern[::2]
            events += [(song.step_time(bar, s), spb * 0.2, root + o, 0.9) for s, o in pattern]
        elif kind == "oompah":
            events += [(song.step_time(bar, s), spb * 0.6, n, 0.9) for s, n in ((0, root), (8, fifth - 12))]
        elif kind in ("pedal", "drone"):
            events.append((song.step_time(bar, 0), 4 * spb * 1.05, root, 0.7))
            if kind == "drone":
                events.append((song.step_time(bar, 0), 4 * spb * 1.05, root + 7, 0.4))
    if plan.mood_style == "somber":
        events = [(t, d * 1.5, m - 12 if m > 40 else m, v) for i, (t, d, m, v) in enumerate(events) if i % 2 == 0]
    return events


def _pick_family(style: _GenreStyle, role: str, sig: ArtistSignature, electronic: bool) -> str:
    if electronic:
        options = _ELECTRONIC_FAMILY[role]
        return options[sig.variant % len(options)]
    if role == "comp":
        return style.comp_family[sig.variant % len(style.comp_family)]
    if role == "lead":
        return style.lead_family[sig.variant % len(style.lead_family)]
    return style.bass_family


def _render_part(
    song: _Song, voice: _Voice, events: Sequence[tuple[float, float, float, float]], jitter: float = 0.006
) -> np.ndarray:
    buf = np.zeros(song.n, dtype=np.float32)
    for t0, dur, midi, vel in events:
        start = song.sample(t0, jitter)
        if start >= song.n:
            continue
        if not song.electronic:
            vel *= float(song.rng.uniform(0.85, 1.1))  # human dynamics
        _place(buf, start, voice.note(midi, int(dur * _SR)), vel)
    return buf


def _render_drums(song: _Song) -> np.ndarray:
    buf = np.zeros(song.n, dtype=np.float32)
    if song.style.drums == "none":
        return buf
    kit = _Kit(song.electronic, song.plan.signature, song.rng)
    hits = _drum_hits(song.style.drums, song.plan.energy, song.plan.mood_style)
    for piece, steps in hits.items():
        for bar in range(song.bars):
            if piece == "crash" and bar % 2:
                continue
            for step, vel in steps:
                v = vel * _DRUM_GAIN[piece]
                if not song.electronic:
                    v *= float(song.rng.uniform(0.8, 1.1))
                _place(buf, song.sample(song.step_time(bar, step), 0.004), kit.hit(piece), v)
    return buf


def _space(x: np.ndarray, tail: float, wet: float, room: bool, rng: np.random.Generator) -> np.ndarray:
    """Add a diffuse exponential tail (the mood's reverb) and, for acoustic takes, a room's early reflections.

    Convolved at a quarter of the sample rate: reverberant tails are dark anyway, and it is 16x cheaper.
    """
    d = 4
    m = x.size // d * d
    low = (x[0:m:4] + x[1:m:4] + x[2:m:4] + x[3:m:4]) * np.float32(0.25)
    sr = _SR / d
    n_ir = int(tail * sr)
    t = np.arange(n_ir, dtype=np.float32) / np.float32(sr)
    ir = _noise(rng, n_ir) * np.exp(-6.9 * t / tail) * np.minimum(1.0, t / 0.01)
    ir *= np.float32(wet * 2.5 / (np.sqrt(np.sum(ir**2)) + 1e-9))
    if room:  # a handful of discrete early reflections within 40 ms, as in a real recording room
        for _ in range(6):
            ir[int(rng.uniform(0.004, 0.04) * sr)] += np.float32(rng.uniform(0.1, 0.3))
    nfft = sfft.next_fast_len(low.size + n_ir, real=True)
    wet_sig = sfft.irfft(sfft.rfft(low, nfft) * sfft.rfft(ir, nfft), nfft)[: low.size].astype(np.float32)
    up = np.repeat(wet_sig, d)
    up = np.convolve(up, np.full(d, 1.0 / d, dtype=np.float32), mode="same").astype(np.float32)
    out = x.copy()
    out[:m] += up
    return out


def _render_music(song: _Song) -> np.ndarray:
    style, plan, rng = song.style, song.plan, song.rng
    # brighter timbres for positive, darker for negative valence (on top of the harmony and tempo)
    bright = 1.12 if plan.valence == "positive" else 0.88
    sig = replace(plan.signature, brightness=plan.signature.brightness * bright)
    mood_attack = {"dreamy": 0.25, "somber": 0.03}.get(plan.mood_style, 0.0)
    comp_voice = _Voice(_pick_family(style, "comp", sig, song.electronic), sig, rng, mood_attack)
    lead_voice = _Voice(_pick_family(style, "lead", sig, song.electronic), sig, rng, mood_attack)
    bass_voice = _Voice(_pick_family(style, "bass", sig, song.electronic), sig, rng)
    if style.comp in ("pad",) and not song.electronic:
        comp_voice = _Voice("strings", sig, rng, max(mood_attack, 0.15))
    drums = _render_drums(song)
    bass = _render_part(song, bass_voice, _bass_events(song)) if style.bass != "none" else np.zeros(song.n, np.float32)
    comp = _render_part(song, comp_voice, _comp_events(song))
    lead = _render_part(song, lead_voice, _lead_events(song))
    if style.distortion:  # overdriven guitars (or synths): harder with more energy
        drive = style.distortion * {"high": 1.6, "medium": 1.0, "low": 0.6}[plan.energy]
        for part, amount in ((comp, drive), (lead, min(drive, 1.5))) if style.distortion > 2 else ((lead, drive),):
            peak = float(np.abs(part).max()) + 1e-9
            part[:] = np.tanh(amount * part / peak) * peak
    mix = np.zeros(song.n, dtype=np.float32)
    target = 0.1
    for part, level in zip((drums, bass, comp, lead), style.levels, strict=True):
        r = _rms(part)
        if level and r > 1e-6:
            mix += part * np.float32(level * target / r)
    if style.drums == "boombap" and rng.random() < 0.6:  # a rap voice over the beat
        mix += _speech(song, rhythmic=True) * np.float32(0.5)
    return mix


# ------------------------------------------------------------------------------------------ spoken word


def _speech(song: _Song, rhythmic: bool = False) -> np.ndarray:
    """Speech-like audio: syllables of formant-filtered voicing and noise consonants with a pitch contour.

    acoustic = a natural voice (jitter, breath, rise-fall envelopes); electronic = a robotic monotone buzz
    with flat envelopes. Valence sets pitch height and contour direction; energy the rate and loudness;
    mood the rhythm (dreamy slow, driving isochronous, playful bouncy, somber low and sparse).
    """
    plan, rng, sig = song.plan, song.rng, song.plan.signature
    buf = np.zeros(song.n, dtype=np.float32)
    mood, energy, robotic = plan.mood_style, plan.energy, song.electronic
    rate = {"high": 5.5, "medium": 4.0, "low": 2.8}[energy] * {"dreamy": 0.75, "somber": 0.7}.get(mood, 1.0)
    f_base = (
        sig.voice_hz
        * {"positive": 1.15, "negative": 0.85}[plan.valence]
        * {"playful": 1.2, "somber": 0.85}.get(mood, 1.0)
    )
    span = {"positive": 0.28, "negative": 0.1}[plan.valence] * (1.6 if mood == "playful" else 1.0)
    fscale = int(sig.formant_scale * 100)
    t_now = float(rng.uniform(0.0, 0.3))
    end = song.n / _SR
    syll_period = song.spb / 2 if rhythmic else 1.0 / rate
    while t_now < end:
        n_syll = int(rng.integers(4, 13))
        for k in range(n_syll):
            if t_now >= end:
                break
            steady = rhythmic or mood == "driving"
            dur = syll_period * 0.8 if steady else float(rng.uniform(0.6, 1.4)) / rate
            # the phrase contour: rising for positive, falling for negative valence
            pos = k / max(n_syll - 1, 1)
            contour = (1.0 + span * (pos - 0.5)) if plan.valence == "positive" else (1.0 + span * (0.5 - pos))
            if mood == "playful":
                contour *= 1.12 if k % 2 else 0.92
            if mood == "somber":
                contour *= 1.0 - 0.15 * pos
            f0 = f_base * contour
            start = int(t_now * _SR)
            # consonant onset
            kind = int(rng.integers(0, 4))
            if kind < 3:
                nc = int((0.05 if kind == 0 else 0.015) * _SR)
                cons = _noise(rng, nc)
                cons = _filt(cons, "highpass", 3500 if kind == 0 else 1500)
                env_c = np.ones(nc, np.float32) if robotic else _smooth_rise(nc)[::-1]
                _place(buf, start, cons * env_c, 0.25 if kind == 0 else 0.4)
                start += nc
            nv = max(int(dur * 0.75 * _SR), 400)
            t = _time(nv)
            vowel = "aeiou"[int(rng.integers(0, 5))]
            if robotic:  # a vocoder: one quantised pitch, a buzzy carrier, flat envelope
                f_q = 440.0 * 2 ** (round(12 * math.log2(f0 / 440.0)) / 12)
                wave = _osc(_vowel_table(vowel, round(f_q / 5) * 5, fscale, True), f_q, nv)
                env = np.ones(nv, np.float32)
                env[:200] = np.linspace(0, 1, 200, dtype=np.float32)
                env[-200:] = np.linspace(1, 0, 200, dtype=np.float32)
            else:
                jitter = 1.0 + 0.012 * np.sin(2 * np.pi * float(rng.uniform(3, 7)) * t)
                glide = 1.0 + (0.06 if plan.valence == "positive" else -0.06) * t / (nv / _SR)
                freq = (f0 * jitter * glide).astype(np.float32)
                wave = _osc_var(_vowel_table(vowel, round(f0 / 5) * 5, fscale, False), freq)
                wave = wave + 0.05 * _noise(rng, nv)  # breath
                arch = np.abs(np.sin(np.pi * np.linspace(0, 1, nv, dtype=np.float32)))
                env = arch ** (0.5 if mood != "dreamy" else 1.5)
            _place(buf, start, wave * env, 0.8 * (1.1 if k == 0 else 1.0))
            t_now += dur if not rhythmic else syll_period * (1 if rng.random() < 0.7 else 2)
        # the pause between phrases
        pause = {"high": 0.25, "medium": 0.45, "low": 0.8}[energy] * (1.8 if mood == "somber" else 1.0)
        t_now += syll_period * 2 if rhythmic else float(rng.uniform(0.6, 1.4)) * pause
    return buf


def _render_spoken(song: _Song) -> np.ndarray:
    voice = _speech(song)
    room = _noise(song.rng, song.n) * np.float32(0.002)  # the room tone of a real recording
    return voice + room


# ---------------------------------------------------------------------------------------------- experimental


def _render_experimental(song: _Song) -> np.ndarray:
    """Irregular textures: noise bursts, metallic clangs, glitches, drones; no regular beat (unless driving)."""
    plan, rng, sig = song.plan, song.rng, song.plan.signature
    buf = np.zeros(song.n, dtype=np.float32)
    mood, energy, electronic = plan.mood_style, plan.energy, song.electronic
    rate = {"high": 7.0, "medium": 3.5, "low": 1.5}[energy]
    scale = song.scale
    register = {"playful": 84, "somber": 40, "dreamy": 64}.get(mood, 60) + plan.key
    if mood in ("dreamy", "somber"):  # a drone bed: a slowly beating chord (major or minor by valence)
        third = 4 if plan.valence == "positive" else 3
        fam = "supersaw" if electronic else "cello"
        voice = _Voice(fam, sig, rng, attack=1.5)
        for interval in (0, 7, third + 12):
            _place(buf, 0, voice.note(register - 12 + interval, song.n), 0.25)
    t_now = 0.0
    end = song.n / _SR
    pulse = song.spb / 2
    pluck = _Voice("sine" if electronic else "mallet", sig, rng)
    deg = 7
    while t_now < end:
        t_now += pulse if mood == "driving" else float(rng.exponential(1.0 / rate))
        start = int(t_now * _SR)
        kind = int(rng.integers(0, 4))
        if mood == "driving" and rng.random() < 0.5:
            kind = 3  # the mechanical pulse is made of clicks
        if mood == "somber":
            deg -= 1
        else:
            deg = int(rng.integers(0, 10))
        midi = song.degree(deg, register, scale)
        if kind == 0:  # pitched event from the scale
            pitch = midi if mood != "playful" else midi + 12
            _place(buf, start, pluck.note(pitch, int(float(rng.uniform(0.05, 0.4)) * _SR)), 0.7)
        elif kind == 1:  # a scrape of filtered noise (acoustic) or a gated square-wave burst (electronic)
            nb = int(float(rng.uniform(0.04, 0.6)) * _SR)
            if electronic:
                x = _osc(_table("square", _nharm(_hz(midi - 12), 80)), _hz(midi - 12), nb)
                env = np.ones(nb, np.float32)
                env[-256:] = np.linspace(1, 0, 256, dtype=np.float32)
            else:
                lo = 200.0 * 2 ** (int(rng.integers(0, 13)) / 3)  # third-octave steps: filter designs are cached
                x = _filt(_noise(rng, nb), "bandpass", lo, lo * 2.5)
                env = _smooth_rise(nb) ** 2 * np.exp(-_time(nb) / (nb / _SR / 2))
            _place(buf, start, x * env, 0.6)
        elif kind == 2:  # metallic clang (inharmonic partials) or an FM bleep
            nb = int(float(rng.uniform(0.2, 1.2)) * _SR)
            t = _time(nb)
            f = _hz(midi)
            if electronic:
                x = _osc(_fm_table(int(rng.integers(2, 5)), float(rng.uniform(1.5, 3.0))), f, nb)
                env = np.ones(nb, np.float32)
                env[-256:] = np.linspace(1, 0, 256, dtype=np.float32)
            else:
                x = np.zeros(nb, np.float32)
                for r in (1.0, 2.76, 5.4, 8.93):  # free-bar partials: inharmonic, the higher the shorter
                    x += np.sin((2 * np.pi * f * r) * t) * np.exp(-t * (r / 0.5)) / r
                env = np.ones(nb, np.float32)
            _place(buf, start, (x * env).astype(np.float32), 0.5)
        else:  # glitch: a tiny tone grain stuttered (electronic) or a sharp knock (acoustic)
            grain = int(float(rng.uniform(0.003, 0.02)) * _SR)
            if electronic:
                g = _osc(_table("saw", _nharm(_hz(midi + 12), 80)), _hz(midi + 12), grain)
                _place(buf, start, np.tile(g, int(rng.integers(2, 12))), 0.5)
            else:
                g = _filt(_noise(rng, grain * 4), "bandpass", 300, 3000) * np.exp(-_time(grain * 4) / 0.01)
                _place(buf, start, g, 0.9)
    return buf


# --------------------------------------------------------------------------------------------- the track


def render_track(plan: TrackPlan, seconds: float) -> np.ndarray:
    """Render one track's mono float32 audio at 44.1 kHz (deterministic in the plan's seed and track id)."""
    rng = np.random.default_rng([plan.seed, plan.track_id])
    style = GENRE_STYLES[plan.genre_top]
    n_clip = round(seconds * _SR)
    pre = int(float(rng.uniform(0.3, 1.2)) * _SR)  # a clip starts mid-phrase, as FMA's 30 s excerpts do
    song = _Song(
        plan=plan, style=style, rng=rng, n=pre + n_clip, bpm=plan.tempo_bpm, electronic=plan.source == "electronic"
    )
    if plan.genre_top == "Spoken":
        mix = _render_spoken(song)
    elif plan.genre_top == "Experimental":
        mix = _render_experimental(song)
    else:
        mix = _render_music(song)

    tail, wet = _REVERB[plan.mood_style]
    if plan.genre_top == "Spoken":
        wet *= 0.5
    acoustic = plan.source == "acoustic"
    mix = _space(mix, tail, wet, acoustic, rng)
    if acoustic:  # microphones hear a noise floor; a synth straight into the desk does not
        mix += _noise(rng, mix.size) * np.float32(0.003 * (float(np.abs(mix).max()) + 1e-9))

    if plan.genre_top == "Old-Time / Historic":  # a 78 rpm record: narrow band, hiss and crackle
        mix = _filt(mix, "bandpass", 350, 3200)
        peak = float(np.abs(mix).max()) + 1e-9
        hiss = _filt(_noise(rng, song.n), "highpass", 2500) * np.float32(0.03 * peak)
        crackle = np.zeros(song.n, np.float32)
        pops = rng.integers(0, song.n, size=int(song.n / _SR * 25))
        crackle[pops] = rng.uniform(-1, 1, size=pops.size).astype(np.float32) * np.float32(0.5 * peak)
        mix = mix + hiss + _filt(crackle, "highpass", 1500)

    out = mix[pre : pre + n_clip]
    out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.abs(out).max())
    if peak < 1e-6:  # never silent: a clip that happened to fall into a pause keeps its room tone
        out = out + _noise(rng, out.size) * np.float32(1e-3)
        peak = float(np.abs(out).max())
    # energy: high is saturated (denser, louder RMS at the same peak), low is left dynamic
    drive = {"high": 2.2, "medium": 1.2, "low": 0.0}[plan.energy]
    if drive:
        out = np.tanh(drive * out / peak)
        peak = float(np.abs(out).max())
    fade = min(out.size // 4, int(0.005 * _SR))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        out[:fade] *= ramp
        out[-fade:] *= ramp[::-1]
    gain = 0.9 * _ENERGY_GAIN[plan.energy] / peak
    return (out * np.float32(gain)).astype(np.float32)


# CBR 128 kbit/s mono keeps the full 44.1 kHz band (~16 kHz lowpass); libsndfile's writer exposes no LAME speed
# setting and took ~80 % of a track's CPU time, hence lameenc.
_MP3_KBPS: Final = 128


def encode_mp3(path: Path, audio: np.ndarray) -> None:
    """Write `audio` as a 44.1 kHz 128 kbit/s MP3 with LAME (atomically: a crash never leaves a partial file)."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(_MP3_KBPS)
    encoder.set_in_sample_rate(_SR)
    encoder.set_channels(1)
    # LAME -q 5: its default speed/quality trade-off, ~2.5x faster than libsndfile's MP3 writer at this rate
    encoder.set_quality(5)
    data = encoder.encode(pcm.tobytes()) + encoder.flush()
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(bytes(data))
    os.replace(tmp, path)


def _render_chunk(jobs: Sequence[tuple[TrackPlan, float, str]]) -> list[tuple[int, float, float]]:
    return [_render_one(job) for job in jobs]


def _render_one(job: tuple[TrackPlan, float, str]) -> tuple[int, float, float]:
    plan, seconds, root = job
    t0 = time.perf_counter()
    audio = render_track(plan, seconds)
    t1 = time.perf_counter()
    path = Path(root) / plan.relative_path
    path.parent.mkdir(parents=True, exist_ok=True)
    encode_mp3(path, audio)
    return plan.track_id, t1 - t0, time.perf_counter() - t1


# ------------------------------------------------------------------------------------------------ the job


def synthesize_corpus(
    out: Path,
    tracks: int = 300,
    seconds: float = 10.0,
    seed: int = 0,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SynthReport:
    """Write a synthetic FMA corpus under `out/` and return what was done.

    Writes `fma_full/AAA/TTTTTT.mp3`, `fma_metadata/{tracks,genres}.csv`, `synth_ground_truth.csv` and
    `synth_report.json`. Deterministic in `seed` whatever `workers` is (None = one per CPU; 1 = in-process).
    Resumable: a rerun with the same parameters keeps the MP3s already written. `progress(done, total)` is
    called as tracks finish.
    """
    if tracks < 1:
        raise ValueError("tracks must be >= 1")
    if not 0.5 <= seconds <= 600:
        raise ValueError("seconds must be between 0.5 and 600")
    started = time.perf_counter()
    out = Path(out)
    audio_root = out / "fma_full"
    meta = out / "fma_metadata"
    audio_root.mkdir(parents=True, exist_ok=True)
    meta.mkdir(parents=True, exist_ok=True)

    plans = plan_corpus(tracks, seed)
    write_tracks_csv(meta / "tracks.csv", plans, seconds)
    write_genres_csv(meta / "genres.csv", plans)
    write_ground_truth(out / "synth_ground_truth.csv", plans)

    # resume only when the existing audio was made with the same parameters
    params = {"tracks": tracks, "seconds": float(seconds), "seed": seed}
    params_path = out / ".synth_params.json"
    if not (params_path.exists() and json.loads(params_path.read_text()) == params):
        for plan in plans:  # audio of another corpus at our paths must not pass for ours on a later resume
            (audio_root / plan.relative_path).unlink(missing_ok=True)
        params_path.write_text(json.dumps(params))
    todo = [p for p in plans if not (audio_root / p.relative_path).exists()]
    done = len(plans) - len(todo)
    if progress:
        progress(done, len(plans))

    jobs = [(p, float(seconds), str(audio_root)) for p in todo]
    n_workers = max(1, min(workers if workers is not None else (os.cpu_count() or 1), len(jobs)))
    if n_workers == 1:
        for job in jobs:
            _render_one(job)
            done += 1
            if progress:
                progress(done, len(plans))
    else:
        size = max(1, min(4, len(jobs) // (n_workers * 4)))  # small chunks keep the progress bar moving
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=pool_context(["museed.synth"])) as pool:
            futures = [pool.submit(_render_chunk, chunk) for chunk in chunks]
            try:
                for future in as_completed(futures):
                    done += len(future.result())
                    if progress:
                        progress(done, len(plans))
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)  # stop quickly on an error or Ctrl-C
                raise

    report = SynthReport(
        out=out,
        tracks=len(plans),
        seconds=float(seconds),
        seed=seed,
        wall_seconds=time.perf_counter() - started,
        genre_counts=dict(Counter(p.genre_top for p in plans).most_common()),
        artists=len({p.artist_id for p in plans}),
    )
    payload = {**asdict(report), "out": str(out), "tracks_per_second": report.tracks_per_second}
    (out / "synth_report.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return report

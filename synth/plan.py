"""The corpus plan: artist signatures and `TrackPlan`s (metadata, ground-truth labels, the sound of each
track) decided by `plan_corpus` without rendering audio.

Underscore names are package-internal: shared between synth's modules, never exported by `synth`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from museed.vocab import ENERGY, MOOD_STYLES, SOURCE, VALENCE
from synth.genres import _PARENT, _SMALL_GENRES, GENRE_IDS, SUB_GENRES, _root_of, planned_genre_counts
from synth.styles import GENRE_STYLES

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

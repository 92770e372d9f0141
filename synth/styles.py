"""How each top-level genre sounds (tempo, harmony, drums, instruments, levels) and which tags it tends to
carry, plus the label -> sound tables shared by the arrangement and the renderer (energy gain and density,
mood reverb).

Underscore names are package-internal: shared between synth's modules, never exported by `synth`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

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

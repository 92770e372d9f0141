"""The instruments of a track: `_Voice` (plucked, struck, sustained and synthetic notes), `_Kit` (acoustic
kit or drum machine), the genre drum patterns and how a role picks its instrument family.

Underscore names are package-internal: shared between synth's modules, never exported by `synth`.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from synth.dsp import (
    _SR,
    _filt,
    _fm_table,
    _hz,
    _metal,
    _nharm,
    _noise,
    _osc,
    _osc_var,
    _smooth_rise,
    _table,
    _time,
    _vowel_table,
)
from synth.plan import ArtistSignature
from synth.styles import _GenreStyle

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


def _pick_family(style: _GenreStyle, role: str, sig: ArtistSignature, electronic: bool) -> str:
    if electronic:
        options = _ELECTRONIC_FAMILY[role]
        return options[sig.variant % len(options)]
    if role == "comp":
        return style.comp_family[sig.variant % len(style.comp_family)]
    if role == "lead":
        return style.lead_family[sig.variant % len(style.lead_family)]
    return style.bass_family

"""The arrangement of a track: `_Song` (tempo grid, swing, scale and chords) and the note events of its
comping, lead and bass parts, by genre, energy, valence and mood.

Underscore names are package-internal: shared between synth's modules, never exported by `synth`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from synth.dsp import _SR
from synth.plan import TrackPlan
from synth.styles import _ENERGY_DENSITY, _SCALES, _GenreStyle

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

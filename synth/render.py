"""Rendering one track: the music, spoken-word and experimental renderers, and `render_track`, which adds
the space, the noise floor, the 78 rpm treatment, the energy saturation and the final gain.

The calls draw from one random generator per track, so their order here is part of the audio.

Underscore names are package-internal: shared between synth's modules, never exported by `synth`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from synth.arrangement import _bass_events, _comp_events, _lead_events, _Song
from synth.dsp import (
    _SR,
    _filt,
    _fm_table,
    _hz,
    _nharm,
    _noise,
    _osc,
    _osc_var,
    _place,
    _rms,
    _smooth_rise,
    _space,
    _table,
    _time,
    _vowel_table,
)
from synth.instruments import _DRUM_GAIN, _drum_hits, _Kit, _pick_family, _Voice
from synth.plan import TrackPlan
from synth.styles import _ENERGY_GAIN, _REVERB, GENRE_STYLES


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

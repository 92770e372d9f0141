"""Synthesis primitives: the sample rate, the fixed noise bank, time ramps, band-limited wavetables and
oscillators, Butterworth filters, mixing helpers and the reverb.

The noise bank and the ramps are module state created once at import (the ramps grow on demand; their prefix
never changes), so every track draws the same numbers whichever process renders it.

Underscore names are package-internal: shared between synth's modules, never exported by `synth`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Final

import numpy as np
import scipy.fft as sfft
from scipy import signal

SAMPLE_RATE: Final = 44_100
_SR: Final = SAMPLE_RATE

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


def _metal(t: np.ndarray, freqs: Sequence[float], tune: float) -> np.ndarray:
    """A cluster of square waves at inharmonic ratios: the metal of cymbals and drum-machine hats."""
    out = np.zeros(t.size, np.float32)
    for f in freqs:
        out += np.sign(np.sin((2 * np.pi * f * tune) * t))
    return out


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

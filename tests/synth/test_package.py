"""The synth package split: public names, the fixed noise bank, and workers started by a forkserver."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

import synth
from museed.parallel import pool_context
from synth import synthesize_corpus
from synth.dsp import _NOISE


def test_public_names_resolve() -> None:
    assert all(hasattr(synth, name) for name in synth.__all__)
    assert synth.SAMPLE_RATE == 44_100


def test_noise_bank_is_the_fixed_one() -> None:
    # every track's noise is a window of this bank, so its seed and size are part of the audio
    expected = np.random.default_rng(20240611).standard_normal(1 << 20).astype(np.float32)
    assert _NOISE.dtype == np.float32
    assert np.array_equal(_NOISE, expected)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "synth_report.json"
    }


def test_forkserver_workers_write_the_same_corpus(tmp_path: Path) -> None:
    """A live thread makes `pool_context` pick forkserver, whose server preloads `synth.corpus`."""
    synthesize_corpus(tmp_path / "serial", tracks=6, seconds=1.0, seed=4, workers=1)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        assert pool_context().get_start_method() == "forkserver"
        synthesize_corpus(tmp_path / "forkserver", tracks=6, seconds=1.0, seed=4, workers=2)
    finally:
        stop.set()
        thread.join()
    assert _files(tmp_path / "serial") == _files(tmp_path / "forkserver")

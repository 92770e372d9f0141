"""Regenerate `tests/embedding/reference/musicnn_reference.npz`: the stock TensorFlow musicnn graph on fixed inputs.

Run it in a throwaway venv, never the project's (TensorFlow is not a MUSEED dependency):

    python3 -m venv /tmp/tfref && /tmp/tfref/bin/pip install "tensorflow-cpu==2.21.*" "tf-keras==2.21.*" librosa
    /tmp/tfref/bin/pip install --no-deps musicnn==0.1.0
    TF_USE_LEGACY_KERAS=1 /tmp/tfref/bin/python benchmarks/musicnn_reference.py

The input is a formula (no RNG): `reference_waveform()`; its log-mel is computed with librosa the way musicnn's
extractor does, but in float32 (the extractor's float16 overflows). The graph is musicnn's own
`models.define_model`, restored with `Saver.restore` outside any `except`, so a failed restore fails here.
`tests/embedding/test_musicnn.py` compares the PyTorch port against these arrays.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "embedding" / "reference" / "musicnn_reference.npz"
SAMPLE_RATE = 16_000
N_FRAMES = 187  # musicnn's 3-s patch


def reference_waveform(seconds: float = 3.2) -> np.ndarray:
    """A deterministic test signal: a decaying chord, a chirp and pulses (float32, 16 kHz)."""
    t = np.arange(int(seconds * SAMPLE_RATE), dtype=np.float64) / SAMPLE_RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63)) * np.exp(-0.5 * t)
    chirp = 0.3 * np.sin(2 * np.pi * (200 * t + 400 * t**2))
    pulses = 0.5 * (np.sin(2 * np.pi * 2 * t) > 0.95) * np.sin(2 * np.pi * 1500 * t)
    return (0.25 * (chord + chirp + pulses)).astype(np.float32)


def main() -> None:
    """Write the reference arrays for MSD_musicnn and MTT_musicnn."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import librosa
    import musicnn
    import tensorflow as tf
    from musicnn import models

    tf.compat.v1.disable_eager_execution()
    wave = reference_waveform()
    mel = librosa.feature.melspectrogram(y=wave, sr=SAMPLE_RATE, hop_length=256, n_fft=512, n_mels=96).T
    logmel = np.log10(10000 * mel.astype(np.float32) + 1).astype(np.float32)
    # two patches: the first 187 frames, and the last 187 frames at half level (another operating point)
    patches = np.stack([logmel[:N_FRAMES], 0.5 * logmel[-N_FRAMES:]]).astype(np.float32)
    arrays: dict[str, np.ndarray] = {"logmel": logmel}  # the test rebuilds the waveform and the patches
    for model in ("MSD_musicnn", "MTT_musicnn"):
        tf.compat.v1.reset_default_graph()
        with tf.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, 96])
            is_training = tf.compat.v1.placeholder(tf.bool)
            logits, _, _, _, _, _, mean_pool, max_pool, penultimate = models.define_model(x, is_training, model, 50)
            probs = tf.nn.sigmoid(logits)
        with tf.compat.v1.Session() as sess:
            tf.compat.v1.train.Saver().restore(sess, str(Path(musicnn.__file__).parent / model) + "/")
            out = sess.run([probs, mean_pool, max_pool, penultimate], {x: patches, is_training: False})
        for key, value in zip(("taggram", "mean_pool", "max_pool", "penultimate"), out, strict=True):
            arrays[f"{model}/{key}"] = np.asarray(value, dtype=np.float32)
    arrays["versions"] = np.array([f"{name} {metadata.version(name)}" for name in ("tensorflow-cpu", "librosa")])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes): {sorted(arrays)}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""A synthetic FMA corpus in the real FMA layout, whose labels are audible. Imports only the shared kit (`museed`).

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
Audio is mono MP3 at 44.1 kHz (LAME CBR 128 kbit/s through lameenc, ~16 kHz wide); tracks.csv lists
`bit_rate` 320000 like most of FMA, which is metadata only. `benchmarks/synth.py` measures the throughput.

Modules, by concern (each imports only those above it, and `museed`):
- `genres`: FMA's genre taxonomy and fma_large counts; `styles`: how each genre sounds.
- `plan`: artist signatures and track plans; `metadata`: tracks.csv, genres.csv and the ground truth.
- `dsp`: oscillators, wavetables, filters, the noise bank, reverb; `instruments`: voices, drum kits, patterns.
- `arrangement`: the song grid and note events; `render`: `render_track` and the part renderers.
- `corpus`: `synthesize_corpus` (workers, resume, report) and `encode_mp3`.
"""

from synth.corpus import SynthReport, encode_mp3, synthesize_corpus
from synth.dsp import SAMPLE_RATE
from synth.genres import FMA_LARGE_GENRE_TOP_COUNTS, planned_genre_counts
from synth.metadata import TRACKS_COLUMNS
from synth.plan import ArtistSignature, TrackPlan, plan_corpus
from synth.render import render_track
from synth.styles import GENRE_STYLES

__all__ = [
    "FMA_LARGE_GENRE_TOP_COUNTS",
    "GENRE_STYLES",
    "SAMPLE_RATE",
    "TRACKS_COLUMNS",
    "ArtistSignature",
    "SynthReport",
    "TrackPlan",
    "encode_mp3",
    "plan_corpus",
    "planned_genre_counts",
    "render_track",
    "synthesize_corpus",
]

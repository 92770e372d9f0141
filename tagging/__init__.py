"""Multi-axis tags for every track (`multi_axis_analysis_results.jsonl`): MuQ-MuLan zero-shot or weights-free DSP.

Two taggers write the same `museed.tags.TrackTags` records; `genre` always comes from the catalog metadata.

- `tagging.prompts`: the label prompts (several phrasings per label) of the zero-shot tagger.
- `tagging.zeroshot`: MuLan text-vs-audio scoring with prompt ensembling and per-label calibration.
- `tagging.dsp_features`: signal-processing descriptors of one clip per track, in worker processes.
- `tagging.dsp`: the DSP tagger's decisions from unsupervised library statistics.
- `tagging.report`: agreement with the synthetic corpus' ground truth.
- `tagging.run`: the `museed tag` stage (`run_tag`).

Tagging builds on `embedding` (the MuLan encoder, the embedding job, pooling); `embedding` never imports it.
"""

from __future__ import annotations

from tagging.base import TaggingError, calibrate_scores, catalog_genres
from tagging.dsp import DSP_LOW_CONFIDENCE, DSP_TAGGER, dsp_decisions, tag_from_audio, tag_from_features
from tagging.dsp_features import DSP_MAX_SECONDS, DSP_SAMPLE_RATE, audio_features, extract_library_features
from tagging.prompts import PROMPTS, all_prompt_texts
from tagging.report import REPORT_JSON, REPORT_MD, tag_quality, write_tag_report
from tagging.run import FAILURES_FILE, GROUND_TRUTH_FILE, TagRunReport, run_tag
from tagging.zeroshot import MULAN_LOW_CONFIDENCE, MULAN_TAGGER, TextEncoder, label_text_vectors, tag_from_embeddings

__all__ = [
    "DSP_LOW_CONFIDENCE",
    "DSP_MAX_SECONDS",
    "DSP_SAMPLE_RATE",
    "DSP_TAGGER",
    "FAILURES_FILE",
    "GROUND_TRUTH_FILE",
    "MULAN_LOW_CONFIDENCE",
    "MULAN_TAGGER",
    "PROMPTS",
    "REPORT_JSON",
    "REPORT_MD",
    "TagRunReport",
    "TaggingError",
    "TextEncoder",
    "all_prompt_texts",
    "audio_features",
    "calibrate_scores",
    "catalog_genres",
    "dsp_decisions",
    "extract_library_features",
    "label_text_vectors",
    "run_tag",
    "tag_from_audio",
    "tag_from_embeddings",
    "tag_from_features",
    "tag_quality",
    "write_tag_report",
]

"""The `museed tag` stage: tag every catalog track into the JSONL tags file, with failures and a quality report."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from embedding.base import EncoderError
from museed.catalog import load_catalog
from museed.tags import TAGS_FILE, TrackTags, ground_truth_tags, write_tags
from tagging.base import Progress, TaggingError
from tagging.dsp import DSP_TAGGER, tag_from_audio
from tagging.report import pct, tag_quality, write_tag_report
from tagging.zeroshot import MULAN_TAGGER, tag_from_embeddings

if TYPE_CHECKING:
    from museed.catalog import Catalog
    from museed.settings import Settings

log = logging.getLogger(__name__)

GROUND_TRUTH_FILE: Final = "synth_ground_truth.csv"
FAILURES_FILE: Final = "tag_failures.jsonl"


@dataclass
class TagRunReport:
    """What `museed tag` did."""

    out: Path
    tagger: str
    tagged: int = 0
    failed: int = 0
    wall_seconds: float = 0.0
    notices: list[str] = field(default_factory=list)
    failures_path: Path | None = None
    report_paths: list[Path] = field(default_factory=list)
    quality: dict[str, Any] | None = None

    def summary_lines(self) -> list[str]:
        """Human-readable summary for the CLI."""
        lines = [*self.notices, f"tags: {self.out}  (tagger {self.tagger})"]
        lines.append(f"tracks tagged {self.tagged}, failed {self.failed}, wall {self.wall_seconds:.1f} s")
        if self.failures_path is not None:
            lines.append(f"failures: {self.failures_path}")
        if self.quality is not None:
            acc = ", ".join(f"{a} {pct(v['accuracy'])}" for a, v in self.quality["axes"].items())
            lines.append(f"agreement with synth_ground_truth.csv: {acc}")
            lines.append("report: " + ", ".join(str(p) for p in self.report_paths))
        return lines


def run_tag(
    fma: Path,
    out: Path,
    *,
    mulan_vectors: Path | None = None,
    tagger: str = "auto",
    limit: int | None = None,
    workers: int = 2,
    progress: Progress = None,
    settings: Settings | None = None,
) -> TagRunReport:
    """Tag every catalog track into the JSONL `out` (plus failures and, on a synthetic corpus, a quality report).

    `tagger`: "mulan" (score MuLan vectors, from `mulan_vectors` or embedded now with MuQ-MuLan from the HF cache),
    "dsp" (the weights-free tagger), "auto" (MuLan when vectors or weights are available, else DSP, announced).
    `settings` (default: the process settings) give the segment policy when MuLan vectors are embedded here.
    """
    if tagger not in ("auto", "mulan", "dsp"):
        raise TaggingError(f"unknown tagger {tagger!r}: expected auto, mulan or dsp")
    started = time.perf_counter()
    out = Path(out)
    if out.suffix != ".jsonl":  # a directory was given: use the conventional file name inside it
        out = out / TAGS_FILE
    catalog = load_catalog(fma, scan_unlisted=False)
    items = list(catalog.audio_paths().items())[: limit or None]
    report = TagRunReport(out=out, tagger=tagger)

    tags: list[TrackTags] | None = None
    failures: list[dict[str, Any]] = []
    if tagger in ("auto", "mulan"):
        try:
            tags, failures = _tag_with_mulan(catalog, items, out, mulan_vectors, progress, settings)
            report.tagger = MULAN_TAGGER
        except (EncoderError, TaggingError) as exc:
            if tagger == "mulan":
                raise TaggingError(f"MuLan tagging is not possible: {exc}") from exc
            report.notices.append(f"NO MuQ-MuLan AVAILABLE ({exc}); using the weights-free DSP tagger ({DSP_TAGGER})")
            log.warning(report.notices[-1])
    if tags is None:
        tags, failures = tag_from_audio(items, catalog, workers=workers, progress=progress)
        report.tagger = DSP_TAGGER
    if not tags:
        raise TaggingError(f"no track could be tagged ({len(failures)} failures)")
    report.tagged = write_tags(out, tags)
    report.failed = len(failures)
    failures_path = out.with_name(FAILURES_FILE)
    if failures:
        failures_path.write_text("".join(json.dumps(f, ensure_ascii=False) + "\n" for f in failures))
        report.failures_path = failures_path
    else:
        failures_path.unlink(missing_ok=True)  # a stale list from an earlier run would mislead
    truth_path = Path(fma) / GROUND_TRUTH_FILE
    if truth_path.is_file():
        report.quality = tag_quality(tags, ground_truth_tags(truth_path))
        command = f"museed tag --fma {fma} --out {out} --tagger {tagger}" + (f" --limit {limit}" if limit else "")
        report.report_paths = write_tag_report(out.parent, report.quality, command=command)
    report.wall_seconds = time.perf_counter() - started
    return report


def _tag_with_mulan(
    catalog: Catalog,
    items: Sequence[tuple[int, str | None]],
    out: Path,
    mulan_vectors: Path | None,
    progress: Progress,
    settings: Settings | None,
) -> tuple[list[TrackTags], list[dict[str, Any]]]:
    """MuLan tags of `items`: from a stored MuLan vector set, or after embedding them with cached MuQ-MuLan."""
    # imported here: MuQ-MuLan needs torch, which the DSP path never loads
    from embedding.job import SegmentPolicy, TrackAudio, embed_plain
    from embedding.mulan import load_mulan
    from museed.settings import get_settings
    from museed.vectorset import VectorSet, load_vector_set, read_failures

    if mulan_vectors is not None:
        vs = load_vector_set(mulan_vectors)
        source = vs.manifest.encoder.get("source") if isinstance(vs.manifest.encoder, dict) else None
        if not source:
            raise TaggingError(f"{mulan_vectors}: the manifest does not say which MuQ-MuLan made the vectors")
        encoder = load_mulan(f"mulan:{source}")
        where = Path(mulan_vectors)
    else:
        encoder = load_mulan("mulan")  # the HF cache or EncoderNotCachedError
        where = out.parent / "mulan_vectors"
        policy = SegmentPolicy.from_settings(settings or get_settings(), sample_rate=encoder.sample_rate)
        embed_plain([TrackAudio(t, p) for t, p in items], encoder, where, policy=policy, progress=progress)
        vs = load_vector_set(where)
    wanted = {t for t, _ in items}
    keep = np.asarray([int(t) in wanted for t in vs.track_ids], dtype=bool)
    subset = VectorSet(
        vs.manifest, vs.track_ids[keep], vs.vectors[keep], vs.n_segments[keep], vs.duration_seconds[keep]
    )
    if len(subset) == 0:
        raise TaggingError(f"{where} holds no vectors of the catalog's tracks")
    tags = tag_from_embeddings(subset, encoder, catalog)
    reasons = {int(f["track_id"]): f for f in read_failures(where) if f.get("track_id") is not None}
    have = {int(t) for t in subset.track_ids}
    failures = [
        reasons.get(t, {"track_id": t, "path": p, "stage": "embed", "reason": "not_in_vector_set"})
        for t, p in items
        if t not in have
    ]
    return tags, failures

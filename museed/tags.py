"""Per-track tags (`multi_axis_analysis_results.jsonl`): the record every tagger writes and every consumer reads.

One JSON object per line::

    {"track_id": 2, "tagger": "dsp-v1", "genre": "Rock",
     "instrumentation": {"source": "electronic"},
     "affect": {"valence": "positive", "energy": "high"},
     "mood_style": "driving",
     "margins": {"instrumentation.source": 0.21, "affect.valence": 0.04, "affect.energy": 0.3, "mood_style": 0.1},
     "low_confidence": ["affect.valence"]}

`genre` is the top-level genre from the catalog (None when unknown); the four tag axes use `museed.vocab`;
`margins[axis]` is the score gap between the chosen label and the runner-up (how sure the tagger is).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from museed.errors import PipelineError
from museed.vocab import AXES, AXES_BY_NAME, AXES_BY_PATH, TagAxis

TAGS_FILE = "multi_axis_analysis_results.jsonl"


class TagsError(PipelineError):
    """A tags file or record is malformed or uses labels outside the vocabulary."""


@dataclass(frozen=True)
class TrackTags:
    """The tags of one track; each axis is the attribute named after it (`museed.vocab.TAG_AXES`), and the
    record's keys (`margins`, `low_confidence`, the JSONL nesting) are the axes' JSONL paths."""

    track_id: int
    tagger: str
    genre: str | None
    source: str
    valence: str
    energy: str
    mood_style: str
    margins: dict[str, float] = field(default_factory=dict)
    low_confidence: tuple[str, ...] = ()

    def label(self, axis: TagAxis) -> str | None:
        """The label on `axis` (None only for an unknown genre)."""
        value: str | None = getattr(self, axis.name)
        return value

    def axis(self, path: str) -> str:
        """The label on the tagged axis at JSONL path `path` ("affect.energy", "instrumentation.source", ...)."""
        value: str = getattr(self, AXES_BY_PATH[path].name)
        return value

    @classmethod
    def from_labels(
        cls,
        track_id: int,
        tagger: str,
        genre: str | None,
        labels: Mapping[str, str],
        margins: dict[str, float] | None = None,
        low_confidence: tuple[str, ...] = (),
    ) -> TrackTags:
        """The tags of one track from `labels` keyed by JSONL path (the taggers' and `margins`' keys)."""
        by_name: dict[str, Any] = {AXES_BY_PATH[path].name: label for path, label in labels.items()}
        return cls(
            track_id=track_id,
            tagger=tagger,
            genre=genre,
            **by_name,
            margins=margins if margins is not None else {},
            low_confidence=low_confidence,
        )

    def validate(self) -> TrackTags:
        """Raise TagsError when a label is outside the vocabulary."""
        for axis, vocab in AXES.items():
            if self.axis(axis) not in vocab:
                raise TagsError(f"track {self.track_id}: {axis}={self.axis(axis)!r} is not one of {vocab}")
        return self

    def to_json(self) -> dict[str, Any]:
        """The JSONL record."""
        rec: dict[str, Any] = {"track_id": self.track_id, "tagger": self.tagger}
        for axis in _RECORD_AXES:
            *parents, leaf = axis.jsonl_path.split(".")
            node = rec
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = self.label(axis)
        rec["margins"] = {k: round(float(v), 6) for k, v in self.margins.items()}
        rec["low_confidence"] = list(self.low_confidence)
        return rec

    @classmethod
    def from_json(cls, rec: dict[str, Any]) -> TrackTags:
        """Parse (and validate) one JSONL record."""
        try:
            return cls(
                track_id=int(rec["track_id"]),
                tagger=str(rec["tagger"]),
                genre=rec.get("genre"),
                **{a.name: _at_path(rec, a.jsonl_path) for a in _RECORD_AXES if a.labels},
                margins={k: float(v) for k, v in (rec.get("margins") or {}).items()},
                low_confidence=tuple(rec.get("low_confidence") or ()),
            ).validate()
        except (KeyError, TypeError) as exc:
            raise TagsError(f"malformed tags record {rec!r}: missing or wrong field {exc}") from exc


#: the axes in the order a record lists them: TrackTags' field order (genre first, at the top level)
_RECORD_AXES: tuple[TagAxis, ...] = tuple(AXES_BY_NAME[f.name] for f in fields(TrackTags) if f.name in AXES_BY_NAME)


def _at_path(rec: dict[str, Any], path: str) -> Any:
    """rec["affect"]["valence"] for "affect.valence" (KeyError / TypeError when the record lacks it)."""
    node: Any = rec
    for key in path.split("."):
        node = node[key]
    return node


def write_tags(path: Path, tags: Iterable[TrackTags]) -> int:
    """Write a JSONL tags file atomically; returns the number of lines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    n = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for t in tags:
            fh.write(json.dumps(t.validate().to_json(), ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def read_tags(path: Path) -> dict[int, TrackTags]:
    """Read a JSONL tags file into {track_id: TrackTags}."""
    path = Path(path)
    if not path.exists():
        raise TagsError(f"no tags file at {path} (run `museed tag` first)")
    out: dict[int, TrackTags] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TagsError(f"{path}:{lineno}: not JSON ({exc.msg})") from exc
        t = TrackTags.from_json(rec)
        out[t.track_id] = t
    return out


def ground_truth_tags(path: Path) -> dict[int, TrackTags]:
    """The synthetic corpus' `synth_ground_truth.csv` as TrackTags (tagger "ground-truth"), for tests and reports."""
    import csv

    out: dict[int, TrackTags] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            labels: dict[str, Any] = {a.name: row[a.name] for a in _RECORD_AXES if a.labels}
            t = TrackTags(
                track_id=int(row["track_id"]),
                tagger="ground-truth",
                genre=row["genre_top"] or None,
                **labels,
            ).validate()
            out[t.track_id] = t
    return out

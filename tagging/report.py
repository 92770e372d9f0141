"""The tag quality report against the synthetic corpus' ground truth (`tag_report.json` and `tag_report.md`)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from museed.tags import TrackTags
from museed.vocab import AXES

REPORT_MD: Final = "tag_report.md"
REPORT_JSON: Final = "tag_report.json"


def tag_quality(tags: Sequence[TrackTags], truth: Mapping[int, TrackTags]) -> dict[str, Any]:
    """Agreement with ground truth per axis (accuracy, chance, confusion), label distribution per genre, and the
    share of low-confidence tags. `truth` is e.g. `museed.tags.ground_truth_tags(synth_ground_truth.csv)`."""
    matched = [t for t in tags if t.track_id in truth]
    axes: dict[str, Any] = {}
    for axis, vocab in AXES.items():
        confusion = {a: dict.fromkeys(vocab, 0) for a in vocab}
        for t in matched:
            confusion[truth[t.track_id].axis(axis)][t.axis(axis)] += 1
        correct = sum(confusion[a][a] for a in vocab)
        true_counts = Counter(truth[t.track_id].axis(axis) for t in matched)
        low = sum(axis in t.low_confidence for t in tags)
        confident = [t for t in matched if axis not in t.low_confidence]
        axes[axis] = {
            "accuracy": correct / len(matched) if matched else None,
            "chance_uniform": 1 / len(vocab),
            "majority_baseline": max(true_counts.values()) / len(matched) if matched else None,
            "accuracy_confident": (
                sum(t.axis(axis) == truth[t.track_id].axis(axis) for t in confident) / len(confident)
                if confident
                else None
            ),
            "low_confidence_share": low / len(tags) if tags else None,
            "predicted": dict(Counter(t.axis(axis) for t in tags)),
            "truth": dict(true_counts),
            "confusion": confusion,  # rows: ground truth, columns: predicted
        }
    per_genre: dict[str, dict[str, dict[str, int]]] = {}
    for t in tags:
        g = per_genre.setdefault(t.genre or "(no genre_top)", {a: {} for a in AXES})
        for axis in AXES:
            g[axis][t.axis(axis)] = g[axis].get(t.axis(axis), 0) + 1
    return {
        "tagger": sorted({t.tagger for t in tags}),
        "tracks_tagged": len(tags),
        "tracks_with_truth": len(matched),
        "any_low_confidence_share": sum(bool(t.low_confidence) for t in tags) / len(tags) if tags else None,
        "axes": axes,
        "per_genre": dict(sorted(per_genre.items(), key=lambda kv: -sum(kv[1]["affect.energy"].values()))),
    }


def write_tag_report(directory: Path, quality: Mapping[str, Any], command: str | None = None) -> list[Path]:
    """Write `tag_report.json` and a readable `tag_report.md` into `directory`; returns both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / REPORT_JSON, directory / REPORT_MD
    json_path.write_text(json.dumps({**quality, "command": command}, indent=2, ensure_ascii=False) + "\n")
    lines = [
        "# Tag quality vs the synthetic ground truth",
        "",
        f"tagger: {', '.join(quality['tagger'])}; tracks tagged {quality['tracks_tagged']}, "
        f"with ground truth {quality['tracks_with_truth']}; "
        f"tracks with any low-confidence axis: {pct(quality['any_low_confidence_share'])}",
        "",
    ]
    if command:
        lines += [f"command: `{command}`", ""]
    lines += [
        "| axis | accuracy | uniform chance | majority baseline | accuracy (confident only) | low-confidence share |",
        "|---|---|---|---|---|---|",
    ]
    for axis, a in quality["axes"].items():
        lines.append(
            f"| {axis} | {pct(a['accuracy'])} | {pct(a['chance_uniform'])} | {pct(a['majority_baseline'])} | "
            f"{pct(a['accuracy_confident'])} | {pct(a['low_confidence_share'])} |"
        )
    for axis, a in quality["axes"].items():
        vocab = list(AXES[axis])
        lines += [
            "",
            f"## {axis}: confusion (rows truth, columns predicted)",
            "",
            "| truth \\ pred | " + " | ".join(vocab) + " |",
        ]
        lines.append("|---" * (len(vocab) + 1) + "|")
        for true_label in vocab:
            row = a["confusion"][true_label]
            lines.append(f"| {true_label} | " + " | ".join(str(row[p]) for p in vocab) + " |")
    lines += ["", "## Label distribution per genre", "", "| genre | tracks | " + " | ".join(AXES) + " |"]
    lines.append("|---" * (len(AXES) + 2) + "|")
    for genre, dist in quality["per_genre"].items():
        n = sum(dist["affect.energy"].values())
        cells = [", ".join(f"{k} {v}" for k, v in sorted(dist[a].items(), key=lambda kv: -kv[1])) for a in AXES]
        lines.append(f"| {genre} | {n} | " + " | ".join(cells) + " |")
    md_path.write_text("\n".join(lines) + "\n")
    return [md_path, json_path]


def pct(x: float | None) -> str:
    """A share as a percentage with one decimal, "-" when unknown."""
    return "-" if x is None else f"{100 * x:.1f} %"

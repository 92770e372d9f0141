"""The evaluation report as markdown, rendered from the metrics.json content (so the two never disagree)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

HEADLINE_METRICS: Final = ("knn_accuracy", "precision_at_10", "map")
METRIC_TITLES: Final = {"knn_accuracy": "k-NN accuracy", "precision_at_10": "P@10", "map": "mAP"}


def pct(x: float | None, digits: int = 1) -> str:
    """A share as a percentage ("n/a" for missing)."""
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f} %"


def pp(x: float | None) -> str:
    """A difference in percentage points, signed."""
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:+.1f} pp"


def ci(interval: Sequence[float | None] | None, signed: bool = False) -> str:
    """A confidence interval of shares as "[lo, hi]" in percent (empty when unknown)."""
    if not interval or interval[0] is None or interval[1] is None:
        return ""
    low, high = float(interval[0]), float(interval[1])
    if math.isnan(low) or math.isnan(high):
        return ""
    fmt = "{:+.1f}" if signed else "{:.1f}"
    return f"[{fmt.format(100 * low)}, {fmt.format(100 * high)}]"


def num(x: float | None, digits: int = 3) -> str:
    """A plain number ("n/a" for missing)."""
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _md_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(m: dict[str, Any]) -> str:
    """The report as markdown, from the metrics.json content (so the two never disagree)."""
    cfg = m["config"]
    conf = round(100 * cfg["confidence"])
    names = [vs["name"] for vs in m["vector_sets"]]
    lines: list[str] = ["# MUSEED evaluation report", ""]
    lines.append(f"Generated {m['generated_at']}" + (f" by `{m['command']}`." if m["command"] else "."))
    lines.append(
        f"{m['tracks']['evaluated']} tracks by {m['tracks']['artists']} artists; k-NN with k = {cfg['k']} "
        f"(cosine, leave-one-out); retrieval and hubness on the top {cfg['retrieval_k']}; {conf} % bootstrap "
        f"intervals from {cfg['bootstrap']} resamples of the query tracks (seed {cfg['seed']})."
    )
    lines.append("")
    random_sets = [vs for vs in m["vector_sets"] if vs["random_init"]]
    if random_sets:
        lines.append(
            "> **Warning: "
            + "; ".join(f"`{vs['name']}`: {vs['note']}" for vs in random_sets)
            + ".** No pretrained MuQ-large weights were used for these vectors."
        )
        lines.append("")

    lines += [
        "## Vector sets",
        "",
        "| name | role | encoder | vector set id | dim | note |",
        "|---|---|---|---|---|---|",
    ]
    for vs in m["vector_sets"]:
        lines.append(
            f"| `{vs['name']}` | {vs['role']} | `{_md_escape(vs['encoder_id'])}` | {vs['vector_set_id']} | "
            f"{vs['dim']} | {_md_escape(vs['note'] or '')} |"
        )
    lines += ["", "Labels:", ""]
    for ls in m["label_sets"].values():
        lines.append(
            f"- **{ls['title']}** from {ls['source']}: {ls['tracks']} tracks in {len(ls['classes'])} classes"
            + (f" ({ls['unlabelled']} without a label, left out)" if ls["unlabelled"] else "")
            + f"; majority class {pct(ls['majority_share'])}, random-ranking P@10 / mAP about "
            f"{pct(ls['random_precision'])}."
        )
    for note in m["ground_truth_notes"]:
        lines.append(f"- Ground truth: {note}.")
    lines.append("")

    lines += ["## Headline figures", ""]
    for key, ls in m["label_sets"].items():
        lines += [
            f"### {ls['title']}",
            "",
            "| vector set | k-NN acc | macro k-NN acc | k-NN acc, other artists | P@10 | mAP | silhouette |",
            "|---|---|---|---|---|---|---|",
        ]
        for name in names:
            r = m["results"][name].get(key)
            if r is None:
                continue
            lines.append(
                f"| `{name}` | {pct(r['knn_accuracy']['value'])} {ci(r['knn_accuracy']['ci'])} | "
                f"{pct(r['knn_macro_accuracy'])} | {pct(r['knn_accuracy_other_artists']['value'])} "
                f"{ci(r['knn_accuracy_other_artists']['ci'])} | {pct(r['precision_at_10']['value'])} "
                f"{ci(r['precision_at_10']['ci'])} | {pct(r['map']['value'])} {ci(r['map']['ci'])} | "
                f"{num(r['silhouette']['value'])} |"
            )
        lines.append(
            f"| chance | {pct(ls['majority_share'])} (majority) | {pct(1 / max(1, len(ls['classes'])))} | | "
            f"{pct(ls['random_precision'])} | {pct(ls['random_precision'])} | 0 |"
        )
        first = m["results"][names[0]][key]
        lines += [
            "",
            f"mAP over {first['map']['queries']} query tracks; silhouette (cosine) on a seeded sample of "
            f"{first['silhouette']['sample_size']} tracks.",
            "",
        ]
    if m["tracks"]["held_out"]:
        lines += [
            "### Held-out queries only",
            "",
            f"Queries from the {m['tracks']['held_out']} tracks outside the triplets' training split (artist-"
            f"disjoint; split source {m['tracks']['split_source']}); their neighbours still come from the whole "
            "catalogue.",
            "",
            "| labels | vector set | k-NN acc | P@10 | mAP |",
            "|---|---|---|---|---|",
        ]
        for key, ls in m["label_sets"].items():
            for name in names:
                h = m["results"][name][key]["held_out"]
                lines.append(
                    f"| {ls['title']} | `{name}` | {pct(h['knn_accuracy']['value'])} {ci(h['knn_accuracy']['ci'])}"
                    f" | {pct(h['precision_at_10']['value'])} {ci(h['precision_at_10']['ci'])} | "
                    f"{pct(h['map']['value'])} {ci(h['map']['ci'])} |"
                )
        lines.append("")

    if m["comparisons"]:
        lines += [
            "## Differences",
            "",
            f"Paired differences (other minus reference) over the same query tracks, with {conf} % bootstrap "
            "intervals; **bold** where the interval excludes 0. A difference whose interval includes 0 is not "
            "evidence of a change.",
            "",
            "| labels | comparison | queries | Δ k-NN acc | Δ P@10 | Δ mAP |",
            "|---|---|---|---|---|---|",
        ]
        for scope, prefix in (("all", ""), ("held-out", "held_out_")):
            for c in m["comparisons"]:
                cells = []
                for metric in HEADLINE_METRICS:
                    d = c[f"{prefix}{metric}"]
                    text = f"{pp(d['diff'])} {ci(d['ci'], signed=True)}"
                    cells.append(f"**{text}**" if d["excludes_zero"] else text)
                label = m["label_sets"][c["label_set"]]["title"]
                lines.append(f"| {label} | `{c['other']}` − `{c['reference']}` | {scope} | " + " | ".join(cells) + " |")
        lines.append("")

    lines += _per_genre_section(m, names)
    lines += _retrieval_section(m, names)
    lines += _hubness_section(m, names)
    lines += _hubness_correction_section(m, names)
    lines += _training_section(m)
    lines += [
        "## t-SNE maps",
        "",
        f"Cosine t-SNE (PCA init, seed {cfg['seed']}) of {m['tracks']['tsne_points']} tracks (the same tracks in "
        "every panel), coloured by genre. Distances between far-apart clusters mean little in t-SNE; look at "
        "whether genres form tight groups.",
        "",
        f"![t-SNE by genre]({m['figures']['tsne']})",
        "",
    ]
    lines += _case_study_section(m, names)
    lines += ["## Caveats", ""] + [f"- {c}" for c in m["caveats"]] + [""]
    lines += _definitions(cfg)
    return "\n".join(lines)


def _per_genre_section(m: dict[str, Any], names: list[str]) -> list[str]:
    cfg = m["config"]
    tables = {name: m["results"][name].get("per_genre") for name in names}
    first = tables[names[0]]
    if not first:
        return []
    lines = [
        "## Per genre",
        "",
        f"Every top-level genre present, largest first. k-NN = share of the genre's tracks whose k-NN vote is "
        f"right (recall); P@10 = share of same-genre tracks among the top 10; ceiling = the best P@10 the "
        f"genre's size allows; silhouette over the genre's sampled tracks (n). Minority = below "
        f"{pct(cfg['minority_share'], 0)} of the tracks.",
        "",
    ]
    header = "| genre | support | share | " + " | ".join(f"k-NN `{n}`" for n in names)
    header += " | " + " | ".join(f"P@10 `{n}`" for n in names) + " | P@10 ceiling | "
    header += " | ".join(f"silhouette `{n}`" for n in names) + " |"
    lines += [header, "|" + "---|" * (4 + 3 * len(names))]
    rows = {name: {r["genre"]: r for r in (tables[name] or [])} for name in names}
    for r in first:
        g = r["genre"]
        cells = [f"**{g}** (minority)" if r["minority"] else g, str(r["support"]), pct(r["share"])]
        cells += [pct(rows[n][g]["knn_accuracy"]) for n in names]
        cells += [pct(rows[n][g]["precision_at_10"]) for n in names]
        cells.append(pct(r["precision_ceiling"], 0))
        cells += [f"{num(rows[n][g]['silhouette'], 2)} (n={rows[n][g]['silhouette_n']})" for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    minority = [r["genre"] for r in first if r["minority"]]
    lines.append("")
    if minority:
        lines.append(
            f"Minority genres ({len(minority)}): {', '.join(minority)}. Their intervals are wide and k-NN with "
            f"k = {cfg['k']} rarely votes for them; read their rows as anecdotes, not estimates."
        )
        lines.append("")
    lines += [f"![per-genre k-NN accuracy]({m['figures']['per_genre']})", ""]
    return lines


def _retrieval_section(m: dict[str, Any], names: list[str]) -> list[str]:
    lines = [
        "## Retrieval",
        "",
        "Precision@10 and mean average precision of the full cosine ranking, relevant = same label.",
        "",
        "| vector set | "
        + " | ".join(f"{ls['title']} P@10 | {ls['title']} mAP" for ls in m["label_sets"].values())
        + " |",
        "|---|" + "---|---|" * len(m["label_sets"]),
    ]
    for name in names:
        cells = []
        for key in m["label_sets"]:
            r = m["results"][name][key]
            cells += [
                f"{pct(r['precision_at_10']['value'])} {ci(r['precision_at_10']['ci'])}",
                f"{pct(r['map']['value'])} {ci(r['map']['ci'])}",
            ]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _hubness_section(m: dict[str, Any], names: list[str]) -> list[str]:
    k = m["config"]["retrieval_k"]
    lines = [
        "## Hubness",
        "",
        f"N_{k}(x) = how many top-{k} lists track x appears in (mean exactly {k}). Skewness of N_{k} near 0 means "
        "every track is recommended about equally often; large positive skewness means a few hub tracks turn up "
        f"everywhere. Coverage = share of the catalogue in at least one top-{k} list.",
        "",
        f"| vector set | N_{k} skewness | coverage | max N_{k} | top hubs (track: N_{k}, genre) |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        h = m["results"][name]["hubness"]
        hubs = ", ".join(f"{x['track_id']}: {x['k_occurrence']} ({x['genre'] or '?'})" for x in h["hubs"][:5])
        lines.append(f"| `{name}` | {num(h['skewness'], 2)} | {pct(h['coverage'])} | {h['max_occurrence']} | {hubs} |")
    return [*lines, "", f"![k-occurrence]({m['figures']['k_occurrence']})", ""]


def _hubness_correction_section(m: dict[str, Any], names: list[str]) -> list[str]:
    fix = m.get("hubness_correction")
    if not fix:
        return []  # metrics written before the discovery engine
    k = m["config"]["retrieval_k"]
    lines = [
        "## Hubness and diversity after the correction",
        "",
        f"The discovery dial's hubness correction (`discovery.dial`, CSLS): every top-{k} list re-ranked by "
        f"2 cos(q, x) - r_{k}(x), where r_{k}(x) is x's mean cosine to its {k} nearest tracks, so tracks that sit in "
        "too many neighbourhoods are discounted. Intra-list diversity = mean cosine distance between the tracks of "
        "one list; similarity = mean cosine between a track and its list.",
        "",
        f"| vector set | lists | N_{k} skewness | max N_{k} | coverage | intra-list diversity | similarity |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        if name not in fix:
            continue
        for label, row in (("plain", fix[name]["plain"]), ("corrected", fix[name]["corrected"])):
            lines.append(
                f"| `{name}` | {label} | {num(row['k_occurrence_skew'], 2)} | {row['max_k_occurrence']} | "
                f"{pct(row['coverage'])} | {num(row['intra_list_diversity'])} | {num(row['mean_similarity'])} |"
            )
    return [*lines, ""]


def _training_section(m: dict[str, Any]) -> list[str]:
    t = m.get("training")
    if not t:
        return []
    lines = [
        "## Training run",
        "",
        f"From `{t['run_dir']}`: {t['steps']} optimiser steps, triplet loss {num(t['first_step_loss'])} at the "
        f"first step and {num(t['last_step_loss'])} at the last; best epoch (by validation triplet accuracy, "
        f"the exported encoder): {t['best_epoch'] if t['best_epoch'] is not None else 'n/a'}.",
        "",
        "| epoch | step | train loss | val loss | val triplet acc | by negative level | backbone-only val acc |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in t["epochs"]:
        backbone = pct(e["backbone_val_accuracy"]) if e["backbone_val_accuracy"] is not None else ""
        levels = ", ".join(f"{k.removeprefix('level')}: {pct(v, 0)}" for k, v in e["val_accuracy_by_level"].items())
        lines.append(
            f"| {e['epoch']} | {e['step']} | {num(e['train_loss'])} | {num(e['val_loss'])} | "
            f"{pct(e['val_accuracy'])} | {levels} | {backbone} |"
        )
    return [*lines, "", f"![training curves]({t['figure']})", ""]


def _case_study_section(m: dict[str, Any], names: list[str]) -> list[str]:
    cs = m["case_studies"]
    lines = [
        "## Case studies",
        "",
        "Top-10 playlists (nearest neighbours by cosine, seed excluded) for the first track (lowest id) of major "
        "and minority genres, from every vector set. Tags are the tags file's.",
        "",
    ]
    lines += [f"- {note}." for note in cs["notes"]]
    if cs["notes"]:
        lines.append("")
    for s in cs["seeds"]:
        seed = s["seed"]
        lines += [
            f"### {s['genre']} ({s['group']}, {s['genre_support']} tracks): seed {seed['track_id']} "
            f"“{_md_escape(seed['title'])}” by {_md_escape(seed['artist'])}",
            "",
            f"Seed tags: mood {seed['mood_style']}, energy {seed['energy']}, valence {seed['valence']}, "
            f"source {seed['source']}. Same genre as the seed: "
            + ", ".join(f"`{n}` {pct(s['playlists'][n]['same_genre'], 0)}" for n in names)
            + "; by the seed's own artist: "
            + ", ".join(f"`{n}` {pct(s['playlists'][n]['same_artist'], 0)}" for n in names)
            + ".",
            "",
        ]
        for name in names:
            lines += [
                f"`{name}`:",
                "",
                "| # | track | title | artist | genre | mood | energy | valence | source | cosine |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            for i, t in enumerate(s["playlists"][name]["tracks"], start=1):
                genre = t["genre"] or "?"
                if t["genre"] == s["genre"]:
                    genre = f"**{genre}**"
                lines.append(
                    f"| {i} | {t['track_id']} | {_md_escape(t['title'])} | {_md_escape(t['artist'])} | {genre} | "
                    f"{t['mood_style']} | {t['energy']} | {t['valence']} | {t['source']} | {t['similarity']:.3f} |"
                )
            lines.append("")
    return lines


def _definitions(cfg: dict[str, Any]) -> list[str]:
    return [
        "## How the numbers are computed",
        "",
        f"- **k-NN accuracy**: every track is a query (leave-one-out); its {cfg['k']} nearest other tracks by "
        "cosine vote; the most frequent label wins, ties go to the label whose nearest voter ranks highest. "
        "Macro = mean of per-class accuracies (each class counts once). *Other artists*: the query's own "
        "artist's tracks are removed from its neighbours first.",
        "- **P@10**: share of the top 10 that carry the query's label. **mAP**: mean over queries of the average "
        "precision of the full ranking of all other tracks (relevant = same label), on at most "
        f"{cfg['map_queries']} seeded query tracks.",
        f"- **Silhouette**: scikit-learn's cosine silhouette on a seeded sample of at most "
        f"{cfg['silhouette_sample']} tracks; from -1 to 1, above 0 when tracks are closer to their own class "
        "than to the next one.",
        f"- **Intervals**: percentile bootstrap over query tracks ({cfg['bootstrap']} resamples, seed "
        f"{cfg['seed']}); differences resample the same queries for both sets (paired).",
        "- **Hubness**: skewness of the k-occurrence distribution (Radovanović et al., JMLR 2010).",
        "",
    ]

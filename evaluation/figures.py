"""The evaluation report's PNG figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

UNKNOWN_COLOUR = "#b0b0b0"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def genre_colours(genres_by_size: Sequence[str]) -> dict[str, Any]:
    """One distinct colour per genre (tab20), largest genre first, so colours are stable across panels."""
    plt = _pyplot()
    cmap = plt.get_cmap("tab20")
    return {g: cmap(i % 20) for i, g in enumerate(genres_by_size)}


def tsne_maps(
    vectors: Mapping[str, np.ndarray],
    genres: Sequence[str | None],
    genres_by_size: Sequence[str],
    out: Path,
    seed: int = 0,
) -> Path:
    """t-SNE (cosine, PCA init, seeded) of each vector set's rows, coloured by genre, one panel per set."""
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    plt = _pyplot()
    colours = genre_colours(genres_by_size)
    names = list(vectors)
    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 5.5), squeeze=False)
    labels = np.asarray([g if g else "" for g in genres], dtype=object)
    for ax, name in zip(axes[0], names, strict=True):
        x = vectors[name]
        perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
        # one OpenMP thread: on a shared 2-core machine the Barnes-Hut threads spin at every iteration's barrier
        # (300 points took 30 s with 2 threads next to one busy process, 0.9 s with 1; 3000 points take ~12 s)
        with threadpool_limits(1, user_api="openmp"):
            tsne = TSNE(n_components=2, metric="cosine", init="pca", perplexity=perplexity, random_state=seed)
            xy = tsne.fit_transform(x)
        unknown = labels == ""
        ax.scatter(xy[unknown, 0], xy[unknown, 1], s=6, c=UNKNOWN_COLOUR, label="(no genre)" if unknown.any() else None)
        for genre in genres_by_size:
            sel = labels == genre
            if sel.any():
                ax.scatter(xy[sel, 0], xy[sel, 1], s=8, color=colours[genre], label=genre)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    handles, legend_labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, legend_labels, loc="lower center", ncol=min(8, max(1, len(legend_labels))), fontsize=8)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def per_genre_bars(table: Mapping[str, Sequence[Mapping[str, Any]]], out: Path, metric: str = "knn_accuracy") -> Path:
    """Grouped bars of one per-genre metric: genres (largest first) on x, one bar per vector set."""
    plt = _pyplot()
    names = list(table)
    genres = [row["genre"] for row in table[names[0]]]
    width = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(min(14.0, max(8.0, 0.35 * len(genres) * len(names))), 4.5))
    x = np.arange(len(genres))
    for i, name in enumerate(names):
        values = {row["genre"]: row[metric] for row in table[name]}
        ax.bar(x + (i - (len(names) - 1) / 2) * width, [values.get(g, np.nan) for g in genres], width, label=name)
    supports = {row["genre"]: row["support"] for row in table[names[0]]}
    ax.set_xticks(x, [f"{g}\n(n={supports[g]})" for g in genres], rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel(metric.replace("knn", "k-NN").replace("_", " "))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def k_occurrence_histograms(counts: Mapping[str, np.ndarray], k: int, out: Path) -> Path:
    """Distribution of N_k (how often a track is in others' top-k lists) per vector set; a long tail = hubs."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    top = max(int(c.max(initial=0)) for c in counts.values())
    bins = np.arange(0, top + 2) - 0.5
    for name, c in counts.items():
        ax.hist(c, bins=bins, histtype="step", lw=1.5, label=name)
    ax.axvline(k, color="black", lw=0.8, ls="--", label=f"k = {k} (every track equally often)")
    ax.set_xlabel(f"N_{k}: top-{k} lists a track appears in")
    ax.set_ylabel("tracks")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def training_curves(steps: Any, val: Any, out: Path) -> Path:
    """Triplet loss per optimiser step and validation loss / accuracy per epoch (pandas frames of the run's CSVs)."""
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    if len(steps) and "triplet/loss" in steps:
        ax1.plot(steps["step"], steps["triplet/loss"], lw=0.8, label="train triplet loss (per step)")
    if len(val) and "val/triplet_loss" in val:
        ax1.plot(val["step"], val["val/triplet_loss"], "o-", label="val triplet loss (per epoch)")
    ax1.set_xlabel("optimiser step")
    ax1.set_ylabel("triplet loss")
    ax1.legend(fontsize=8)
    if len(val):
        for column in [c for c in val.columns if c.startswith("val/triplet_acc")]:
            style = "o-" if column == "val/triplet_acc" else ".--"
            ax2.plot(val["epoch"], val[column], style, lw=1.5 if column == "val/triplet_acc" else 0.8, label=column)
    ax2.set_xlabel("epoch (0 = before training)")
    ax2.set_ylabel("validation triplet accuracy")
    ax2.set_ylim(0, 1)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out

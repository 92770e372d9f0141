"""`museed demo`: every stage built so far, on a synthetic corpus, with embedded defaults only."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from museed.settings import get_settings

ProgressBar = Callable[[str], AbstractContextManager[Callable[[int, int], None]]]


def _corpus_is_current(fma: Path, tracks: int, seconds: float, seed: int) -> bool:
    report = fma / "synth_report.json"
    if not report.exists():
        return False
    data = json.loads(report.read_text())
    return bool(data.get("tracks") == tracks and data.get("seconds") == seconds and data.get("seed") == seed)


def run_demo(
    out: Path,
    tracks: int,
    seconds: float,
    seed: int,
    encoder: str,
    console: Console,
    progress_bar: ProgressBar,
) -> dict[str, Any]:
    """Synthesise, load the catalog, embed, tag, fine-tune, re-embed, index, write the before/after evaluation
    report and make one playlist through the HTTP API; returns timings."""
    from embedding.tagging import run_tag
    from evaluation.report import EvaluationConfig, cli_command, run_evaluation
    from museed.pipeline import run_db_load, run_embed, run_index, run_train, run_triplets
    from museed.synth import synthesize_corpus
    from museed.tags import TAGS_FILE

    settings = get_settings()
    fma = out / "fma"
    vectors = out / "vectors"
    timings: dict[str, float] = {}
    started = time.perf_counter()

    t0 = time.perf_counter()
    if _corpus_is_current(fma, tracks, seconds, seed):
        console.print(f"[1/9] synthetic corpus already at {fma} (same tracks/seconds/seed): reused")
    else:
        with progress_bar("[1/9] synthesising corpus") as update:
            rep = synthesize_corpus(fma, tracks=tracks, seconds=seconds, seed=seed, progress=update)
        console.print(
            f"[1/9] wrote {rep.tracks} tracks x {seconds:g} s, {rep.artists} artists, "
            f"{len(rep.genre_counts)} genres to {fma} ({rep.tracks_per_second:.1f} tracks/s)"
        )
    timings["synth"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with progress_bar("[2/9] loading catalog into DB") as update:
        load, catalog = run_db_load(fma, settings, progress=update)
    console.print(
        f"[2/9] catalog: {load.tracks} tracks, {load.artists} artists, {load.genres} genres "
        f"-> {settings.sqlalchemy_url}"
    )
    for line in catalog.report.summary_lines():
        console.print(f"      {escape(line)}")
    timings["db_load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with progress_bar("[3/9] embedding") as update:
        emb = run_embed(fma, vectors, settings, encoder_spec=encoder, progress=update)
    for line in emb.summary_lines():
        console.print(f"[3/9] {escape(line)}")
    if emb.encoder_id.startswith("muq-small-random"):
        console.print(
            "[bold red][3/9] no pretrained MuQ weights on this machine: these vectors come from a SMALL RANDOMLY "
            "INITIALISED MuQ, not from MuQ-large; the fine-tuning stage below trains it on the corpus[/bold red]"
        )
    timings["embed"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tags_file = out / "tags" / TAGS_FILE
    with progress_bar("[4/9] tagging") as update:
        tagged = run_tag(fma, tags_file, tagger="auto", progress=update)
    for line in tagged.summary_lines():
        console.print(f"[4/9] {escape(line)}")
    timings["tag"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    triplets = out / "triplets" / "triplets.parquet"
    stats = run_triplets(fma, tags_file, triplets, n=3000, seed=seed)
    levels = ", ".join(f"{k}: {v}" for k, v in sorted(stats.realised_per_level.items()))
    console.print(
        f"[5/9] {stats.n_triplets} triplets -> {triplets} (per split {stats.per_split}; per level {levels}; "
        f"fallbacks {sum(stats.fallbacks.values())})"
    )
    timings["triplets"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    run_dir = out / "train"
    if run_dir.exists():
        shutil.rmtree(run_dir)  # the demo trains afresh; `museed train --resume` continues a run instead
    with progress_bar("[6/9] fine-tuning") as update:
        trained = run_train(fma, triplets, run_dir, overrides={"encoder": encoder, "epochs": 6}, progress=update)
    for line in trained.summary_lines():
        console.print(f"[6/9] {escape(line)}")
    timings["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tuned = out / "vectors-finetuned"
    if tuned.exists():
        shutil.rmtree(tuned)  # a new checkpoint means new vectors
    with progress_bar("[7/9] re-embedding with the fine-tuned encoder") as update:
        emb2 = run_embed(fma, tuned, settings, encoder_spec=str(trained.encoder_dir), progress=update)
    for line in emb2.summary_lines():
        console.print(f"[7/9] {escape(line)}")
    timings["re-embed"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with progress_bar("[8/9] indexing") as update:
        idx = run_index(tuned, fma, settings, progress=update, tags_path=tags_file)
    console.print(
        f"[8/9] Milvus ({idx.engine}, {settings.milvus_target}): collection {idx.collection}, {idx.rows} vectors, "
        f"{idx.index_type} nlist={idx.nlist} nprobe={idx.nprobe}, alias '{idx.alias}', "
        f"{idx.tagged_tracks} tracks with tags"
    )
    timings["index"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report_dir = out / "report"
    eval_config = EvaluationConfig(baseline="mfcc")
    command = cli_command(vectors, tags_file, report_dir, fma, compare=[tuned], train_run=run_dir, config=eval_config)
    with progress_bar("[9/9] evaluation report (MFCC baseline tracks)") as update:
        evaluation = run_evaluation(
            vectors,
            tags_file,
            report_dir,
            fma,
            compare=[tuned],
            train_run=run_dir,
            config=eval_config,
            settings=settings,
            command=command,
            log=lambda line: console.print(f"[9/9] {escape(line)}"),
            progress=update,
        )
    for line in evaluation.summary_lines():
        console.print(f"[9/9] {escape(line)}")  # encoder ids hold "[...]", which rich would read as markup
    timings["evaluate"] = time.perf_counter() - t0
    # the API must embed uploads with the encoder whose vectors it serves
    os.environ["MUSEED_ENCODER"] = str(trained.encoder_dir)
    get_settings.cache_clear()
    console.print(f"      served encoder: MUSEED_ENCODER={trained.encoder_dir}")

    t0 = time.perf_counter()
    playlist = _example_playlist(catalog)
    _print_playlist(console, playlist)
    timings["playlist"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    console.print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    return timings


def _example_playlist(catalog: Any) -> dict[str, Any]:
    """POST /api/playlists through the real app (in-process ASGI) for a seed from the largest genre."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    tracks = catalog.with_audio()
    top = tracks["genre_top"].value_counts().index[0]
    seed_id = int(tracks[tracks["genre_top"] == top].index[0])
    with TestClient(create_app()) as client:
        creds = {"email": "demo@museed.local", "password": "museed-demo-password"}
        signup = client.post("/api/auth/signup", json={**creds, "display_name": "Demo listener"})
        if signup.status_code not in (201, 409):  # 409: the demo user exists from an earlier run
            raise RuntimeError(f"demo sign-up failed: {signup.status_code} {signup.text}")
        token = client.post("/api/auth/login", json=creds).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        resp = client.post("/api/playlists", json={"seed_track_ids": [seed_id], "size": 10})
        if resp.status_code != 201:
            raise RuntimeError(f"playlist request failed: {resp.status_code} {resp.text}")
        return dict(resp.json())


def _print_playlist(console: Console, playlist: dict[str, Any]) -> None:
    seed = playlist["seed_tracks"][0]
    table = Table(title=f"[playlist] {playlist['title']}  (GET /api/playlists/{playlist['id']})")
    for col in ("#", "track", "title", "artist", "genre", "score", "why"):
        table.add_column(col)
    for t in playlist["tracks"]:
        table.add_row(
            str(t["position"] + 1),
            str(t["track_id"]),
            escape(t["title"]),
            escape(t["artist"]),
            t["genre_top"] or "?",
            f"{t['score']:.3f}",
            escape(t.get("why") or ""),
        )
    console.print(f"seed: {seed['track_id']} “{seed['title']}” by {seed['artist']} ({seed['genre_top']})")
    console.print(table)
    same = sum(t["genre_top"] == seed["genre_top"] for t in playlist["tracks"])
    console.print(f"{same}/{len(playlist['tracks'])} tracks share the seed's genre")

"""`museed demo`: every stage built so far, on a synthetic corpus, with embedded defaults only."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from museed.settings import get_settings
from museed.vectorset import read_manifest

if TYPE_CHECKING:
    from museed.catalog import Catalog

ProgressBar = Callable[[str], AbstractContextManager[Callable[[int, int], None]]]
T = TypeVar("T")


def _corpus_is_current(fma: Path, tracks: int, seconds: float, seed: int) -> bool:
    report = fma / "synth_report.json"
    if not report.exists():
        return False
    data = json.loads(report.read_text())
    return bool(data.get("tracks") == tracks and data.get("seconds") == seconds and data.get("seed") == seed)


class _Steps:
    """Runs the demo's numbered steps: a progress bar each, its summary lines prefixed `[i/N]`, its timing."""

    def __init__(self, total: int, console: Console, progress_bar: ProgressBar) -> None:
        self.total, self.console, self.progress_bar = total, console, progress_bar
        self.done = 0
        self.timings: dict[str, float] = {}

    def run(self, name: str, label: str, work: Callable[[Callable[[int, int], None]], T]) -> T:
        """Run `work(progress)` as the next step and record its wall time under `name`."""
        self.done += 1
        t0 = time.perf_counter()
        with self.progress_bar(f"{self.tag} {label}") as update:
            result = work(update)
        self.timings[name] = time.perf_counter() - t0
        return result

    @property
    def tag(self) -> str:
        """The `[i/N]` prefix of the step running now."""
        return f"[{self.done}/{self.total}]"

    def say(self, lines: Iterable[str], markup: bool = False) -> None:
        """Print a step's summary lines (escaped unless they carry rich markup of their own)."""
        for line in lines:
            self.console.print(f"{self.tag} {line if markup else escape(line)}")


def run_demo(
    out: Path,
    tracks: int,
    seconds: float,
    seed: int,
    encoder: str,
    console: Console,
    progress_bar: ProgressBar,
) -> dict[str, float]:
    """Synthesise, load the catalog, embed, tag, fine-tune, re-embed, write the before/after evaluation report,
    choose the served vector set on the held-out test split, index it and make one playlist through the HTTP
    API; returns timings. Each step is the stage function the CLI runs, and prints the same summary lines."""
    from evaluation.report import EvaluationConfig, cli_command, run_evaluation
    from evaluation.test_split import choose_served_set, write_choice
    from museed.tags import TAGS_FILE
    from orchestration.stages import (
        run_db_load,
        run_embed,
        run_index,
        run_train,
        run_triplets,
        synth_summary_lines,
        triplet_summary_lines,
    )
    from synth import synthesize_corpus
    from tagging import run_tag
    from training.config import config_for_encoder

    settings = get_settings()
    fma, vectors, tuned = out / "fma", out / "vectors", out / "vectors-finetuned"
    tags_file = out / "tags" / TAGS_FILE
    triplets = out / "triplets" / "triplets.parquet"
    run_dir, report_dir = out / "train", out / "report"
    steps = _Steps(10, console, progress_bar)
    started = time.perf_counter()

    if _corpus_is_current(fma, tracks, seconds, seed):
        steps.done += 1
        steps.timings["synth"] = 0.0
        steps.say([f"synthetic corpus already at {fma} (same tracks/seconds/seed): reused"])
    else:
        rep = steps.run(
            "synth",
            "synthesising corpus",
            lambda update: synthesize_corpus(fma, tracks=tracks, seconds=seconds, seed=seed, progress=update),
        )
        steps.say(synth_summary_lines(rep))

    load, catalog = steps.run("db_load", "loading catalog into DB", lambda u: run_db_load(fma, settings, progress=u))
    steps.say(
        [f"catalog: {load.tracks} tracks, {load.artists} artists, {load.genres} genres -> {settings.sqlalchemy_url}"]
    )
    steps.say(catalog.report.summary_lines())

    emb = steps.run("embed", "embedding", lambda u: run_embed(fma, vectors, settings, encoder_spec=encoder, progress=u))
    steps.say(emb.summary_lines())
    if emb.encoder_id.startswith("muq-small-random"):
        console.print(
            f"[bold red]{steps.tag} no pretrained MuQ weights on this machine: these vectors come from a SMALL "
            "RANDOMLY INITIALISED MuQ, not from MuQ-large; the fine-tuning stage below trains it on the corpus"
            "[/bold red]"
        )
    else:
        licence = read_manifest(vectors).encoder.get("weights_licence") or "not stated"
        steps.say([f"encoder {emb.encoder_id} (pretrained); weights licence: {licence}"])

    tagged = steps.run("tag", "tagging", lambda u: run_tag(fma, tags_file, tagger="auto", progress=u))
    steps.say(tagged.summary_lines())

    stats = steps.run("triplets", "triplets", lambda u: run_triplets(fma, tags_file, triplets, n=3000, seed=seed))
    steps.say(triplet_summary_lines(stats, triplets))

    if run_dir.exists():
        shutil.rmtree(run_dir)  # the demo trains afresh; `museed train --resume` continues a run instead
    train_config = config_for_encoder(emb.encoder_id)  # the resolved encoder: `auto` may be MusiCNN or MuQ
    trained = steps.run(
        "train",
        f"fine-tuning ({train_config.name})",
        lambda u: run_train(fma, triplets, run_dir, config=train_config, overrides={"encoder": encoder}, progress=u),
    )
    steps.say(trained.summary_lines())

    if tuned.exists():
        shutil.rmtree(tuned)  # a new checkpoint means new vectors
    emb2 = steps.run(
        "re-embed",
        "re-embedding with the fine-tuned encoder",
        lambda u: run_embed(fma, tuned, settings, encoder_spec=str(trained.encoder_dir), progress=u),
    )
    steps.say(emb2.summary_lines())

    eval_config = EvaluationConfig(baseline="mfcc")
    command = cli_command(vectors, tags_file, report_dir, fma, compare=[tuned], train_run=run_dir, config=eval_config)
    evaluation = steps.run(
        "evaluate",
        "evaluation report (MFCC baseline tracks)",
        lambda u: run_evaluation(
            vectors,
            tags_file,
            report_dir,
            fma,
            compare=[tuned],
            train_run=run_dir,
            config=eval_config,
            settings=settings,
            command=command,
            log=lambda line: steps.say([line]),
            progress=u,
        ),
    )
    steps.say(evaluation.summary_lines())  # encoder ids hold "[...]", which rich would read as markup

    # serve the fine-tuned vectors only when they measurably beat the un-tuned ones on artists never trained on
    choice = steps.run(
        "choose",
        "choosing the served vector set (test split)",
        lambda _u: choose_served_set(vectors, tuned, tags_file, fma, eval_config),
    )
    write_choice(report_dir, choice)
    steps.say(choice.summary_lines())
    served_encoder = str(trained.encoder_dir) if choice.served == "finetuned" else encoder

    idx = steps.run(
        "index", "indexing", lambda u: run_index(choice.path, fma, settings, progress=u, tags_path=tags_file)
    )
    steps.say([f"Milvus ({idx.engine}, {settings.milvus_target}): {choice.served} vectors from {choice.path}"])
    steps.say(idx.summary_lines(), markup=True)
    # the API must embed uploads with the encoder whose vectors it serves
    os.environ["MUSEED_ENCODER"] = served_encoder
    get_settings.cache_clear()
    console.print(f"      served encoder: MUSEED_ENCODER={served_encoder} ({choice.served} vectors)")

    t0 = time.perf_counter()
    playlist = _example_playlist(catalog)
    _print_playlist(console, playlist)
    timings = steps.timings
    timings["playlist"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    console.print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    console.print("web page: run `museed serve`, then open http://127.0.0.1:8000/ (API docs at /docs)")
    return timings


def _example_playlist(catalog: Catalog) -> dict[str, Any]:
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

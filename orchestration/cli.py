"""The `museed` command line: every pipeline stage, the service and the one-command demo."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from typer import _click  # typer vendors click: its Context is the one TyperGroup.invoke is typed with
from typer.core import TyperGroup

from museed.errors import PipelineError
from museed.settings import get_settings
from orchestration.doctor import doctor_command
from orchestration.keys import keys_app, orgs_app
from orchestration.loadtest import loadtest_command
from orchestration.scale_library import loadtest_library_command

console = Console(stderr=True)


class PipelineErrors(TyperGroup):
    """Every command's `PipelineError` ends here: one red line on stderr and exit code 2, never a traceback."""

    def invoke(self, ctx: _click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PipelineError as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(code=2) from exc


app = typer.Typer(
    cls=PipelineErrors, help="MUSEED: one seed song in, a playlist of similar songs out.", no_args_is_help=True
)
db_app = typer.Typer(help="Metadata database: migrations and catalog load.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.callback()
def _main() -> None:
    """Quiet duplicate warnings: the random-encoder fallback is already logged loudly once per run."""
    warnings.filterwarnings("ignore", message="NO PRETRAINED MuQ")
    warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")


FmaOpt = Annotated[Path, typer.Option("--fma", help="FMA root holding fma_metadata/ and fma_full|large|medium|small/")]


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar fed by `(done, total)` callbacks."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=2)


@app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", help="where to write the corpus (FMA layout)")],
    tracks: Annotated[int, typer.Option("--tracks", min=1, help="number of tracks")] = 300,
    seconds: Annotated[float, typer.Option("--seconds", min=1.0, max=600.0, help="length of each track")] = 10.0,
    seed: Annotated[int, typer.Option("--seed", help="random seed (same seed, same corpus)")] = 0,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="processes (default: all cores)")] = None,
) -> None:
    """Write a synthetic corpus in the real FMA layout whose genre/energy/valence/source/mood are audible."""
    from orchestration.stages import synth_summary_lines
    from synth import synthesize_corpus

    with progress_bar("synthesising") as update:
        report = synthesize_corpus(out, tracks=tracks, seconds=seconds, seed=seed, workers=workers, progress=update)
    for line in synth_summary_lines(report):
        console.print(line)


@app.command()
def catalog(fma: FmaOpt) -> None:
    """Load an FMA catalog and report what it holds (missing audio, unlisted files, genre_top gaps)."""
    from museed.catalog import load_catalog

    cat = load_catalog(fma)
    for line in cat.report.summary_lines():
        console.print(line)
    console.print(f"top-level genres ({len(cat.top_level_genres)}): {', '.join(cat.top_level_genres)}")


@app.command()
def embed(
    fma: FmaOpt,
    out: Annotated[Path, typer.Option("--out", help="vector set directory (created or resumed)")],
    encoder: Annotated[
        str, typer.Option("--encoder", help="auto | small[:SEED] | a hub id | a local MuQ or checkpoint dir")
    ] = "auto",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="embed only the first N listed tracks")] = None,
    engine: Annotated[
        str, typer.Option("--engine", help="ray (Ray Data job, local or --ray-address) | local (one process)")
    ] = "ray",
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="existing Ray cluster ('auto' inside one); default: local")
    ] = None,
    also_encoder: Annotated[
        list[str] | None, typer.Option("--also-encoder", help="another encoder fed from the same decode pass")
    ] = None,
    also_out: Annotated[
        list[Path] | None, typer.Option("--also-out", help="vector set of each --also-encoder, in order")
    ] = None,
    npy: Annotated[Path | None, typer.Option("--npy", help="also write <track_id>.npy per track here")] = None,
    actors: Annotated[
        int | None, typer.Option("--actors", min=1, help="encoder actors (default: GPUs, or cores / 2)")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="tracks per encoder batch")] = 8,
    num_gpus: Annotated[
        float | None, typer.Option("--num-gpus", min=0.0, help="GPUs per encoder actor (default: 1 if CUDA)")
    ] = None,
    shard_tracks: Annotated[int, typer.Option("--shard-tracks", min=1, help="tracks per Parquet shard")] = 256,
) -> None:
    """Decode each track (24 kHz mono segments), embed it with MuQ and write L2-normalised vectors."""
    from orchestration.stages import run_embed

    if engine not in ("ray", "local"):
        raise _fail(f"--engine must be 'ray' or 'local', not {engine!r}")
    extra_specs, extra_outs = also_encoder or [], also_out or []
    if len(extra_specs) != len(extra_outs):
        raise _fail("give one --also-out DIR for every --also-encoder SPEC")
    with progress_bar(f"embedding ({engine})") as update:
        report = run_embed(
            fma,
            out,
            get_settings(),
            encoder_spec=encoder,
            limit=limit,
            progress=update,
            engine=engine,
            also=list(zip(extra_specs, extra_outs, strict=True)),
            npy_dir=npy,
            ray_address=ray_address,
            actors=actors,
            batch_size=batch_size,
            num_gpus=num_gpus,
            shard_tracks=shard_tracks,
        )
    for line in report.summary_lines():
        console.print(line)


@app.command()
def index(
    vectors: Annotated[Path, typer.Option("--vectors", help="vector set directory written by `museed embed`")],
    fma: FmaOpt,
    tags: Annotated[
        Path | None, typer.Option("--tags", help="multi_axis_analysis_results.jsonl (tag filters stay empty without)")
    ] = None,
    recall_target: Annotated[
        float, typer.Option("--recall-target", min=0.0, max=1.0, help="recall@10 the FAISS tuning must reach")
    ] = 0.95,
    plan: Annotated[
        Path | None, typer.Option("--plan", help="plan JSON: used as is when it exists, else written there")
    ] = None,
    keep_previous: Annotated[
        int, typer.Option("--keep-previous", min=0, help="superseded collections kept for rollback")
    ] = 1,
    grace_seconds: Annotated[
        float, typer.Option("--grace-seconds", min=0.0, help="a superseded collection is dropped only this long after")
    ] = 600.0,
    report: Annotated[bool, typer.Option("--report", help="print every FAISS operating point examined")] = False,
) -> None:
    """Tune IVF-PQ with FAISS, load vectors into a new Milvus collection, verify it and move the serving alias."""
    from orchestration.stages import run_index

    with progress_bar("indexing") as update:
        result = run_index(
            vectors,
            fma,
            get_settings(),
            progress=update,
            tags_path=tags,
            recall_target=recall_target,
            plan_path=plan,
            keep_previous=keep_previous,
            grace_seconds=grace_seconds,
            log=console.print if report else None,
        )
    for line in result.summary_lines(operating_points=report):
        console.print(line)


@app.command()
def windows(
    fma: FmaOpt,
    encoder: Annotated[
        str, typer.Option("--encoder", help="the encoder the API serves uploads with (auto | small[:SEED] | ...)")
    ] = "auto",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="only the first N listed tracks")] = None,
) -> None:
    """Embed every library track window by window (the segment store) and fill the window index that answers
    "which library recording is this?" (`GET /api/uploads/{id}/matches`); resumes where it stopped."""
    from orchestration.windows import run_windows

    with progress_bar("window index") as update:
        report = run_windows(get_settings(), fma=fma, encoder=encoder, limit=limit, progress=update)
    for line in report.summary_lines():
        console.print(line)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every Alembic migration to the metadata DB."""
    from orchestration.stages import run_db_upgrade

    console.print(f"database at head: {run_db_upgrade(get_settings())}")


@db_app.command("load")
def db_load(fma: FmaOpt) -> None:
    """Upsert the FMA catalog (genres, artists, tracks) into the metadata DB."""
    from orchestration.stages import run_db_load

    with progress_bar("loading catalog") as update:
        report, cat = run_db_load(fma, get_settings(), progress=update)
    for line in cat.report.summary_lines():
        console.print(line)
    console.print(f"upserted {report.genres} genres, {report.artists} artists, {report.tracks} tracks")


@app.command()
def tag(
    fma: FmaOpt,
    out: Annotated[Path, typer.Option("--out", help="tags JSONL to write (multi_axis_analysis_results.jsonl)")],
    mulan_vectors: Annotated[
        Path | None, typer.Option("--mulan-vectors", help="vector set made by a MuQ-MuLan audio tower")
    ] = None,
    tagger: Annotated[str, typer.Option("--tagger", help="auto | mulan | dsp (auto: MuLan if available)")] = "auto",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="tag only the first N listed tracks")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="processes for DSP feature extraction")] = 2,
) -> None:
    """Tag every track on energy, valence, source and mood style (MuQ-MuLan zero-shot, or the DSP tagger)."""
    from tagging import run_tag

    with progress_bar("tagging") as update:
        report = run_tag(
            fma, out, mulan_vectors=mulan_vectors, tagger=tagger, limit=limit, workers=workers, progress=update
        )
    for line in report.summary_lines():
        console.print(line)


@app.command()
def triplets(
    fma: FmaOpt,
    tags: Annotated[Path, typer.Option("--tags", help="tags JSONL from `museed tag` (or synth_ground_truth.csv)")],
    out: Annotated[Path, typer.Option("--out", help="triplets Parquet to write (stats go to OUT.stats.json)")],
    n: Annotated[int, typer.Option("--n", min=1, help="number of triplets over all splits")] = 10_000,
    mix: Annotated[
        str | None, typer.Option("--mix", help='negative-level weights, e.g. "0:0.2,1:0.2,2:0.2,3:0.2,4:0.2"')
    ] = None,
    curriculum: Annotated[
        bool, typer.Option("--curriculum", help="easy -> hard over --curriculum-epochs (column `epoch`)")
    ] = False,
    curriculum_epochs: Annotated[int, typer.Option("--curriculum-epochs", min=2, help="epochs of the curriculum")] = 4,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Genre-balanced anchors, tag-matched positives and five hard-negative levels, split by artist."""
    from orchestration.stages import run_triplets, triplet_summary_lines

    stats = run_triplets(fma, tags, out, n, mix, curriculum_epochs if curriculum else 1, seed)
    for line in triplet_summary_lines(stats, out):
        console.print(line)


@app.command()
def train(
    fma: FmaOpt,
    triplets_file: Annotated[Path, typer.Option("--triplets", help="Parquet written by `museed triplets`")],
    out: Annotated[Path, typer.Option("--out", help="run directory (checkpoints, logs, encoder/)")],
    config: Annotated[
        Path | None, typer.Option("--config", help="experiment YAML (default: training/configs/small_cpu.yml)")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue from OUT/checkpoints/latest")] = False,
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="override the config's epochs")] = None,
) -> None:
    """Triplet-loss fine-tuning of MuQ + projection head; exports OUT/encoder for `museed embed --encoder`."""
    from orchestration.stages import run_train

    overrides = {"epochs": epochs} if epochs else None
    with progress_bar("training (epochs)") as update:
        report = run_train(fma, triplets_file, out, config, resume, overrides, progress=update)
    for line in report.summary_lines():
        console.print(line)


@app.command()
def evaluate(
    fma: FmaOpt,
    embeddings: Annotated[
        Path, typer.Option("--embeddings", help="reference vector set (e.g. the encoder before fine-tuning)")
    ],
    tags: Annotated[Path, typer.Option("--tags", help="tags JSONL from `museed tag` (mood_style labels)")],
    out: Annotated[Path, typer.Option("--out", help="report directory: report.md, metrics.json, PNG figures")],
    compare: Annotated[
        list[Path] | None, typer.Option("--compare", help="vector set compared with the reference (repeatable)")
    ] = None,
    train_run: Annotated[
        Path | None, typer.Option("--train-run", help="`museed train` run directory: loss and validation curves")
    ] = None,
    baseline: Annotated[
        str, typer.Option("--baseline", help="none | mfcc (MFCC-statistics vectors built into OUT/baseline-mfcc)")
    ] = "none",
    k: Annotated[int, typer.Option("--k", min=1, help="neighbours in the k-NN vote")] = 10,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=1, help="bootstrap resamples over query tracks")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="seed of every sample and resample")] = 0,
    silhouette_sample: Annotated[
        int, typer.Option("--silhouette-sample", min=3, help="tracks sampled for the silhouette")
    ] = 5000,
    map_queries: Annotated[
        int, typer.Option("--map-queries", min=1, help="query tracks sampled for mAP (full ranking each)")
    ] = 5000,
    tsne_points: Annotated[int, typer.Option("--tsne-points", min=10, help="tracks on the t-SNE maps")] = 3000,
    minority_share: Annotated[
        float, typer.Option("--minority-share", min=0.0, max=1.0, help="genres below this share are 'minority'")
    ] = 0.02,
    workers: Annotated[int, typer.Option("--workers", min=1, help="processes decoding audio for the baseline")] = 2,
) -> None:
    """Compare vector sets (k-NN, silhouette, per genre, retrieval, hubness, case studies, t-SNE) in a report."""
    from rich.markup import escape

    from evaluation.report import EvaluationConfig, cli_command, run_evaluation

    if baseline not in ("none", "mfcc"):
        raise _fail(f"--baseline must be 'none' or 'mfcc', not {baseline!r}")
    config = EvaluationConfig(
        k=k,
        bootstrap=bootstrap,
        seed=seed,
        silhouette_sample=silhouette_sample,
        map_queries=map_queries,
        tsne_points=tsne_points,
        minority_share=minority_share,
        baseline=None if baseline == "none" else baseline,
        workers=workers,
    )
    others = compare or []
    command = cli_command(embeddings, tags, out, fma, compare=others, train_run=train_run, config=config)
    with progress_bar("MFCC baseline (tracks)") if config.baseline else nullcontext(None) as update:
        result = run_evaluation(
            embeddings,
            tags,
            out,
            fma,
            compare=others,
            train_run=train_run,
            config=config,
            settings=get_settings(),
            command=command,
            log=lambda line: console.print(escape(line)),
            progress=update,
        )
    for line in result.summary_lines():
        console.print(escape(line))  # encoder ids hold "[...]", which rich would read as markup


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Run the HTTP API (FastAPI + uvicorn)."""
    import uvicorn

    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="info")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", help="where the demo corpus and vectors go")] = Path("data/demo"),
    tracks: Annotated[int, typer.Option("--tracks", min=20, help="synthetic tracks")] = 300,
    seconds: Annotated[float, typer.Option("--seconds", min=3.0, help="seconds per track")] = 10.0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    encoder: Annotated[str, typer.Option("--encoder", help="encoder spec (see `museed embed`)")] = "auto",
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="serve the API when done")] = True,
    port: Annotated[int, typer.Option(help="port for --serve")] = 8000,
) -> None:
    """Run every stage on a fresh synthetic corpus with embedded defaults, print a playlist, then serve."""
    from orchestration.demo import run_demo

    run_demo(
        out=out, tracks=tracks, seconds=seconds, seed=seed, encoder=encoder, console=console, progress_bar=progress_bar
    )
    if serve_after:
        console.print(f"serving the API on http://127.0.0.1:{port}  (docs: /docs; Ctrl-C to stop)")
        serve(host="127.0.0.1", port=port, workers=1)


app.command("loadtest")(loadtest_command)
app.command("loadtest-library")(loadtest_library_command)
app.command("doctor")(doctor_command)
app.add_typer(keys_app, name="keys")
app.add_typer(orgs_app, name="orgs")


if __name__ == "__main__":
    app()

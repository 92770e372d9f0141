"""Pipeline stages as plain functions with typed inputs and outputs; the CLI, the demo and tests call these."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from museed.catalog import Catalog, load_catalog
from museed.errors import PipelineError
from museed.settings import Settings
from museed.vocab import VOCAB_AXES

if TYPE_CHECKING:  # the stages import their packages lazily: `museed --help` must not load torch
    from api.db.load import LoadReport
    from embedding.job import EmbedReport
    from synth import SynthReport
    from training.train import TrainReport
    from training.triplets import TripletStats

Progress = Callable[[int, int], None] | None


class StageError(PipelineError):
    """A stage was asked for something it cannot do (an unknown engine, a plan for another dimension)."""


def synth_summary_lines(report: SynthReport) -> list[str]:
    """What `synthesize_corpus` wrote, for the CLI and the demo."""
    return [
        f"wrote {report.tracks} tracks x {report.seconds:g} s ({report.artists} artists, "
        f"{len(report.genre_counts)} genres) to {report.out} in {report.wall_seconds:.1f} s "
        f"({report.tracks_per_second:.1f} tracks/s)"
    ]


def run_embed(
    fma: Path,
    out: Path,
    settings: Settings,
    encoder_spec: str = "auto",
    limit: int | None = None,
    progress: Progress = None,
    *,
    engine: str = "local",
    also: Sequence[tuple[str, Path]] = (),
    npy_dir: Path | None = None,
    ray_address: str | None = None,
    actors: int | None = None,
    batch_size: int = 8,
    num_gpus: float | None = None,
    shard_tracks: int = 256,
) -> EmbedReport:
    """Embed the catalog's tracks into the vector set at `out` (resumes a partial one).

    `engine="ray"` runs the Ray Data job (`embedding.ray_job.embed_ray`: one decode pass feeding every encoder
    in `also` too); `"local"` the single-process loop, once per encoder. `npy_dir` also receives one
    `<track_id>.npy` per track of the primary encoder.
    """
    from embedding.encoders import load_encoder
    from embedding.job import SegmentPolicy, catalog_tracks, embed_plain

    if engine not in ("ray", "local"):
        raise StageError(f"unknown engine {engine!r}: use 'ray' or 'local'")
    catalog = load_catalog(fma)
    tracks = catalog_tracks(catalog, limit)
    policy = SegmentPolicy.from_settings(settings)
    if engine == "ray":
        from embedding.ray_job import embed_ray

        return embed_ray(
            tracks,
            encoder_spec,
            out,
            None,  # the job builds the settings' policy at the encoders' sample rate (16 kHz for MusiCNN)
            also=also,
            settings=settings,
            ray_address=ray_address,
            num_gpus_per_actor=num_gpus,
            concurrency=actors,
            batch_size=batch_size,
            npy_dir=npy_dir,
            shard_tracks=shard_tracks,
            progress=progress,
        )
    reports = []
    for spec, target in [(encoder_spec, out), *also]:
        encoder = load_encoder(spec, settings=settings, batch_size=batch_size)
        reports.append(
            embed_plain(
                tracks,
                encoder,
                target,
                policy=replace(policy, sample_rate=encoder.sample_rate),
                batch_tracks=batch_size,
                shard_tracks=shard_tracks,
                progress=progress,
            )
        )
    if npy_dir is not None:
        from embedding.ray_job import write_npy_for

        write_npy_for(Path(npy_dir), out, {t.track_id for t in tracks})
    if also:
        from embedding.ray_job import RayEmbedReport

        head = reports[0]
        return RayEmbedReport(**{**vars(head), "also": reports[1:], "engine": "local"})
    return reports[0]


@dataclass
class IndexReport:
    """What `museed index` built."""

    collection: str
    alias: str
    rows: int
    index_type: str
    nlist: int
    nprobe: int
    engine: str
    vector_set_id: str
    encoder_id: str
    m: int | None = None
    nbits: int | None = None
    #: the index type the plan asked for when the engine could not build it (IVF_PQ on Milvus Lite)
    substitute_for: str | None = None
    #: how the plan was chosen: "tuned", "plan-file" or "default" (too few vectors to tune)
    plan_source: str = "default"
    plan_file: str | None = None
    tuned_recall: float | None = None
    meets_target: bool | None = None
    sample_recall: float | None = None
    tagged_tracks: int = 0
    dropped: list[str] = field(default_factory=list)
    operating_points: list[Any] = field(default_factory=list)
    recall_target: float = 0.95

    def summary_lines(self, operating_points: bool = False) -> list[str]:
        """What was built and served, for the CLI and the demo (rich markup in the plan-target verdict)."""
        pq = f" m={self.m} nbits={self.nbits}" if self.m else ""
        lines = [
            f"collection {self.collection} ({self.rows} vectors, {self.index_type} nlist={self.nlist}{pq} "
            f"nprobe={self.nprobe}, {self.engine}) now served as alias '{self.alias}'"
        ]
        if self.substitute_for:
            lines.append(
                f"[yellow]{self.engine} cannot build {self.substitute_for}: serving {self.index_type} with the "
                f"plan's nlist/nprobe instead (a Milvus server builds the tuned {self.substitute_for})[/yellow]"
            )
        if self.plan_source == "default":
            lines.append(f"plan: default {self.index_type} (fewer vectors than FAISS tuning needs)")
        else:
            status = "meets" if self.meets_target else "[bold red]MISSES[/bold red]"
            lines.append(
                f"plan ({self.plan_source}, {self.plan_file}): FAISS recall@10 {self.tuned_recall:.3f} {status} "
                f"the target {self.recall_target:.2f}"
            )
        if self.sample_recall is not None:
            lines.append(f"verification: sample recall@10 of the served collection {self.sample_recall:.3f}")
        lines.append(f"tag fields filled for {self.tagged_tracks} of {self.rows} tracks")
        if self.dropped:
            lines.append(f"dropped superseded collections: {', '.join(self.dropped)}")
        if operating_points and self.operating_points:
            lines.append("nlist  m    nbits nprobe recall@10 ms/query (FAISS, batch of held-out queries)")
            lines.extend(
                f"{p.nlist:<6} {p.m:<4} {p.nbits:<5} {p.nprobe:<6} {p.recall:<9.3f} {p.ms_per_query:.3f}"
                for p in self.operating_points
            )
        return lines


#: below this many vectors IVF-PQ is not worth tuning (PQ's 256 centroids per sub-space need the points)
MIN_TUNE_VECTORS = 2000


def track_metadata(catalog: Catalog, tags: dict[int, Any] | None = None) -> dict[int, dict[str, Any]]:
    """Scalar fields stored next to each vector (filters and per-artist caps); tag fields stay empty for
    tracks without tags (or when no tags file is given)."""
    t = catalog.tracks
    tags = tags or {}
    out: dict[int, dict[str, Any]] = {}
    for tid, g, a, ga, d in zip(t.index, t["genre_top"], t["artist_id"], t["genres_all"], t["duration"], strict=True):
        tag = tags.get(int(tid))
        out[int(tid)] = {
            "genre_top": g if isinstance(g, str) else None,
            "artist_id": int(a),
            "genres_all": [int(x) for x in ga] if isinstance(ga, list | tuple) else [],
            "duration": float(d) if d == d else None,  # NaN: unknown
            **{axis.milvus_field: getattr(tag, axis.name) if tag else None for axis in VOCAB_AXES},
        }
    return out


def run_index(
    vectors: Path,
    fma: Path,
    settings: Settings,
    progress: Progress = None,
    tags_path: Path | None = None,
    recall_target: float = 0.95,
    plan_path: Path | None = None,
    keep_previous: int = 1,
    grace_seconds: float = 600.0,
    log: Callable[[str], None] | None = None,
) -> IndexReport:
    """Tune (or read) an IVF-PQ plan, load a vector set into a new Milvus collection, verify it, point the serving
    alias at it and drop superseded collections past the grace period (keeping `keep_previous`).

    The plan JSON is written to `plan_path` (default `<data_dir>/index_plans/<vector_set_id>.json`); an existing
    `plan_path` is used as is instead of re-tuning.
    """
    from indexing.faiss_tuning import read_plan, tune_ivf_pq
    from indexing.milvus_index import IndexPlan, TrackIndex, default_plan
    from indexing.plan import SERVING_RERANK, segment_rows
    from museed.tags import read_tags
    from museed.vectorset import load_vector_set

    vs = load_vector_set(vectors)
    catalog = load_catalog(fma, scan_unlisted=False)
    tags = read_tags(tags_path) if tags_path else {}
    plan_file = plan_path or settings.data_dir / "index_plans" / f"{vs.manifest.vector_set_id}.json"
    tuned = None
    plan: IndexPlan
    if plan_path is not None and plan_path.exists():
        tuned, source = read_plan(plan_path), "plan-file"
        if tuned.dim != vs.manifest.dim:
            raise StageError(f"plan {plan_path} is for dim {tuned.dim}, the vector set has dim {vs.manifest.dim}")
        plan = tuned.index_plan()
    elif len(vs) >= MIN_TUNE_VECTORS:
        # re-rank mode: a small m plus int8 copies in the API process (issue 19), tuned on one segment's rows
        tuned = tune_ivf_pq(
            vs.vectors,
            recall_target=recall_target,
            vector_set_id=vs.manifest.vector_set_id,
            log=log,
            rerank=SERVING_RERANK,
            tune_rows=segment_rows(vs.manifest.dim),
        )
        tuned.write(plan_file)
        plan, source = tuned.index_plan(), "tuned"
    else:
        plan, source = default_plan(len(vs)), "default"
    if settings.milvus_is_lite:
        Path(settings.milvus_target).parent.mkdir(parents=True, exist_ok=True)
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else None
    index = TrackIndex(settings.milvus_target, alias=settings.milvus_alias, token=token)
    try:
        info: dict[str, Any] = {"plan_source": source}
        if tuned is not None:
            info.update(recall=tuned.recall, recall_target=tuned.recall_target, vector_set_id=tuned.vector_set_id)
        # the verification demands most of the tuned recall (a sample of 50 queries is noisy)
        min_recall = max(0.0, tuned.recall - 0.15) if tuned is not None else 0.0
        name = index.build(
            vs,
            track_metadata(catalog, tags),
            plan=plan,
            progress=progress,
            plan_info=info,
            min_recall=min_recall,
            # the compact store every API worker memory-maps: exact small filters and the re-rank
            store_dir=settings.data_dir / "index_stores",
        )
        dropped = index.prune(keep_previous=keep_previous, grace_seconds=grace_seconds)
        served = index.current_plan()
        check = index.last_check
        return IndexReport(
            collection=name,
            alias=settings.milvus_alias,
            rows=index.count(),
            index_type=served.index_type,
            nlist=served.nlist,
            nprobe=served.nprobe,
            engine=index.engine,
            vector_set_id=vs.manifest.vector_set_id,
            encoder_id=vs.manifest.encoder_id,
            m=served.m,
            nbits=served.nbits,
            substitute_for=served.substitute_for,
            plan_source=source,
            plan_file=str(plan_file) if source != "default" else None,
            tuned_recall=tuned.recall if tuned else None,
            meets_target=tuned.meets_target if tuned else None,
            sample_recall=check.sample_recall if check else None,
            tagged_tracks=sum(int(t) in tags for t in vs.track_ids),
            dropped=dropped,
            operating_points=list(tuned.operating_points) if tuned else [],
            recall_target=recall_target,
        )
    finally:
        index.close()


def run_db_upgrade(settings: Settings) -> str:
    """Migrate the metadata DB to the latest revision; returns the URL (without credentials)."""
    from api.db.migrate import upgrade

    upgrade(settings.sqlalchemy_url)
    return settings.sqlalchemy_url.split("@")[-1]


def run_db_load(fma: Path, settings: Settings, progress: Progress = None) -> tuple[LoadReport, Catalog]:
    """Upsert the FMA catalog into the metadata DB (migrating it first)."""
    from sqlalchemy import text

    from api.db.load import load_catalog_into_db
    from api.db.session import session_factory, transaction

    run_db_upgrade(settings)
    catalog = load_catalog(fma)
    factory = session_factory(settings.sqlalchemy_url)
    with transaction(factory) as session:
        report = load_catalog_into_db(session, catalog, progress=progress)
    # fresh planner statistics for the rows just written: without them PostgreSQL takes a common search word for a
    # rare one and reads every match (autovacuum gets there eventually); SQLite's planner needs none here
    with factory() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE genres, artists, tracks"))
            session.commit()
    return report, catalog


def triplet_summary_lines(stats: TripletStats, out: Path) -> list[str]:
    """What `run_triplets` wrote, for the CLI and the demo."""
    from training.triplets import LEVEL_NAMES, stats_path_for

    levels = ", ".join(f"{k} {LEVEL_NAMES[k]}: {v}" for k, v in sorted(stats.realised_per_level.items()))
    return [
        f"wrote {stats.n_triplets} triplets to {out} ({stats.per_split}; split by {stats.split_source})",
        f"negatives per level: {levels}; fallbacks {stats.fallbacks or 'none'}",
        f"stats (anchor-genre law vs realised, positives, skipped genres): {stats_path_for(out)}",
    ]


def run_triplets(
    fma: Path,
    tags: Path,
    out: Path,
    n: int,
    mix: str | None = None,
    curriculum_epochs: int = 1,
    seed: int = 0,
) -> TripletStats:
    """Build the triplets Parquet (and its stats JSON) from the catalog and a tags file; returns the stats."""
    from training.triplets import make_triplets, parse_mix

    return make_triplets(fma, tags, out, n, mix=parse_mix(mix), curriculum_epochs=curriculum_epochs, seed=seed)


def run_train(
    fma: Path,
    triplets: Path,
    out: Path,
    config: Path | None = None,
    resume: bool = False,
    overrides: dict[str, Any] | None = None,
    progress: Progress = None,
) -> TrainReport:
    """Fine-tune the encoder on triplets into the run dir `out`; returns the TrainReport (encoder in out/encoder)."""
    from training.train import DEFAULT_CONFIG, TrainConfig, train_run

    run_config = TrainConfig.from_file(config or DEFAULT_CONFIG, overrides)
    return train_run(fma, triplets, out, run_config, resume=resume, progress=progress)

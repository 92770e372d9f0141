"""`museed loadtest`: run a Locust profile (loadtests/) against a running deployment, or against a small seeded
library served on the embedded defaults (SQLite + Milvus Lite) that it builds and starts itself.

The load test itself speaks HTTP only; this module builds the library with the pipeline's stage functions,
starts `uvicorn api.app:create_app --factory` in a subprocess pointed at it, runs `locust --headless` in another,
prints the per-request table from Locust's CSV and hands back Locust's exit code (1 on a threshold breach).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from museed.errors import PipelineError
from orchestration.scale_library import ScaleLibrarySpec, build_scale_library, hashed_url, library_settings

#: the repository root, where `loadtests/` lives next to the packages
REPO_ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = REPO_ROOT / "loadtests" / "locustfile.py"
PROFILES_DIR = REPO_ROOT / "loadtests" / "profiles"
_LIBRARY_MARKER = "loadtest_library.json"
_TABLE_WIDTH = 110


class LoadTestError(PipelineError):
    """The load test could not run: a bad profile, a library that would not build, a server that never got ready."""


@dataclass(frozen=True)
class LibrarySpec:
    """The seeded library served when no `--host` is given (small: it builds in under a minute on 2 cores), on the
    embedded defaults unless `database_url` / `milvus_uri` name servers (then more than one worker may serve it)."""

    tracks: int = 60
    seconds: float = 4.0
    seed: int = 0
    encoder: str = "small"
    # the segment policy of the library's vectors; the server embeds uploads the same way
    segment_seconds: float = 2.0
    segments_per_track: int = 2
    # the embedded defaults under the data dir unless given: a PostgreSQL URL, a Milvus server URI
    database_url: str | None = None
    milvus_uri: str | None = None
    milvus_alias: str = "tracks"
    #: no audio: the catalog and clustered vectors of the served dimension (orchestration/scale_library.py), the
    #: library at catalog scale (90,000 tracks); uploads still embed with `encoder`
    synthetic_vectors: bool = False


@dataclass(frozen=True)
class RequestRow:
    """One line of the per-request table (times in ms), as Locust's CSV reports it."""

    name: str
    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    rps: float


@dataclass
class LoadTestResult:
    """What a load-test run did and found."""

    exit_code: int
    profile: str
    host: str
    out: Path
    stats_csv: Path
    html: Path
    rows: list[RequestRow] = field(default_factory=list)
    breaches: list[str] = field(default_factory=list)
    judgement: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when Locust exited 0 (every threshold met)."""
        return self.exit_code == 0


@dataclass(frozen=True)
class ProfileFile:
    """What the runner needs of a profile (the locustfile reads and checks the whole of it)."""

    path: Path
    name: str
    seconds: float
    max_ramp_wait_seconds: float


def read_profile_file(profile: str | Path) -> ProfileFile:
    """Find a profile (a name under loadtests/profiles, or a path) and read its name and planned length.

    Read as TOML data here, not through `loadtests`: the load tests are an HTTP client the orchestration layer
    runs, never imports (tests/test_architecture.py)."""
    path = Path(profile)
    if not (path.suffix == ".toml" or path.exists()):
        path = PROFILES_DIR / f"{profile}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
        raise LoadTestError(f"unknown profile {str(profile)!r}: use one of {known} or a path to a .toml file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        seconds = sum(float(stage["seconds"]) for stage in raw["stages"])
        return ProfileFile(
            path=path.resolve(),
            name=str(raw.get("name", path.stem)),
            seconds=seconds,
            max_ramp_wait_seconds=float(raw.get("max_ramp_wait_seconds", 60.0)),
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise LoadTestError(f"profile {path}: cannot read its stages ({exc})") from exc


def build_library(data_dir: Path, spec: LibrarySpec = LibrarySpec(), log: Callable[[str], None] = print) -> Any:
    """Synthesise, load, embed and index a small library under `data_dir` (kept and reused when it was built
    with the same spec); returns its settings."""
    from orchestration.stages import run_db_load, run_embed, run_index
    from synth import synthesize_corpus

    if spec.synthetic_vectors:
        scale = ScaleLibrarySpec(
            tracks=spec.tracks,
            seed=spec.seed,
            encoder=spec.encoder,
            segment_seconds=spec.segment_seconds,
            segments_per_track=spec.segments_per_track,
            database_url=spec.database_url,
            milvus_uri=spec.milvus_uri,
            milvus_alias=spec.milvus_alias,
        )
        settings, built = build_scale_library(data_dir, scale, log=log)
        for line in built.summary_lines():
            log(line)
        return settings
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = library_settings(data_dir, spec)
    marker = data_dir / _LIBRARY_MARKER
    if marker.is_file() and json.loads(marker.read_text()) == _fingerprint(spec):
        log(f"reusing the load-test library in {data_dir}")
        return settings
    fma, vectors = data_dir / "fma", data_dir / "vectors"
    started = time.perf_counter()
    log(f"building a {spec.tracks}-track library in {data_dir} (encoder {spec.encoder})")
    synthesize_corpus(fma, tracks=spec.tracks, seconds=spec.seconds, seed=spec.seed)
    run_db_load(fma, settings)
    run_embed(fma, vectors, settings, encoder_spec=spec.encoder, engine="local")
    report = run_index(vectors, fma, settings)
    marker.write_text(json.dumps(_fingerprint(spec)))
    log(f"library ready: {report.rows} tracks in {report.collection} ({time.perf_counter() - started:.0f} s)")
    return settings


def _fingerprint(spec: LibrarySpec) -> dict[str, Any]:
    # what the reuse marker records: the spec, with the database URL hashed
    record = asdict(spec)
    record["database_url"] = hashed_url(spec.database_url)
    return record


def build_library_apart(data_dir: Path, spec: LibrarySpec = LibrarySpec(), log: Callable[[str], None] = print) -> Any:
    """`build_library` in a child process: Milvus Lite keeps its file locked by the process that opened it until
    that process exits, and the server must open it next."""
    code = "import sys, json; from orchestration.loadtest import _build_child; _build_child(sys.argv[1], sys.argv[2])"
    cmd = [sys.executable, "-c", code, str(data_dir), json.dumps(asdict(spec))]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith(_BUILD_LOG):
            log(line.removeprefix(_BUILD_LOG))
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise LoadTestError(f"building the load-test library failed (exit code {proc.returncode}): {tail}")
    return library_settings(data_dir, spec)


_BUILD_LOG = "loadtest-build: "


def _build_child(data_dir: str, spec_json: str) -> None:
    spec = LibrarySpec(**json.loads(spec_json))
    build_library(Path(data_dir), spec, log=lambda line: print(_BUILD_LOG + line, flush=True))


def server_env(settings: Any) -> dict[str, str]:
    """The environment of a server process serving `settings`' library (other MUSEED_* variables dropped)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSEED_")}
    env.update(
        MUSEED_ENVIRONMENT="local",
        MUSEED_DATA_DIR=str(settings.data_dir),
        MUSEED_DATABASE_URL=settings.sqlalchemy_url,
        MUSEED_MILVUS_URI=settings.milvus_target,
        MUSEED_MILVUS_ALIAS=settings.milvus_alias,
        MUSEED_ENCODER=settings.encoder,
        MUSEED_SEGMENT_SECONDS=str(settings.segment_seconds),
        MUSEED_SEGMENTS_PER_TRACK=str(settings.segments_per_track),
        # every simulated listener signs up from this one address
        MUSEED_SIGNUP_RATE_LIMIT="100000/hour",
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    if settings.redis_url:
        env["MUSEED_REDIS_URL"] = settings.redis_url  # limits and quotas shared by the workers
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(host: str, timeout: float = 180.0, process: subprocess.Popen[bytes] | None = None) -> None:
    """Poll `host/readyz` until it answers 200; LoadTestError when `timeout` passes or `process` exits."""
    import httpx

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise LoadTestError(f"the server exited with code {process.returncode} before it was ready")
        try:
            r = httpx.get(f"{host}/readyz", timeout=5.0)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}: {r.text[:200]}"
        except httpx.HTTPError as exc:
            last = str(exc) or type(exc).__name__
        time.sleep(0.5)
    raise LoadTestError(f"{host}/readyz not ready after {timeout:.0f} s ({last})")


@contextmanager
def serve_library(settings: Any, log_file: Path, workers: int = 1, timeout: float = 180.0) -> Iterator[str]:
    """Run the API on the library of `settings` in a uvicorn subprocess; yields its base URL, stops it after."""
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    host = f"http://127.0.0.1:{port}"
    with log_file.open("wb") as log:
        # cwd = the library: no project .env applies to the server; its own process group, stopped as one
        process = subprocess.Popen(
            cmd, env=server_env(settings), cwd=settings.data_dir, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            try:
                wait_ready(host, timeout=timeout, process=process)
            except LoadTestError as exc:
                raise LoadTestError(f"{exc}; server log: {_tail(log_file)}") from exc
            yield host
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[Any], grace: float = 20.0) -> None:
    """Stop a process group we started: SIGTERM, then SIGKILL after `grace` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_locust(
    profile_path: Path,
    host: str,
    out: Path,
    prefix: str,
    timeout: float,
    log: Callable[[str], None] = print,
) -> int:
    """Run the locustfile headless with `profile_path` against `host`, writing `<out>/<prefix>_*.csv`,
    `<prefix>.html` and `locust.log`; echoes the profile and threshold lines; returns Locust's exit code."""
    cmd = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", host,
        "--loadtest-profile", str(profile_path), "--csv", str(out / prefix), "--html", str(out / f"{prefix}.html"),
        "--only-summary", "--loglevel", "INFO",
    ]  # fmt: skip
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    log_path = out / "locust.log"
    with log_path.open("w", encoding="utf-8") as log_file:
        process = subprocess.Popen(
            cmd, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        assert process.stdout is not None
        try:
            for line in process.stdout:
                log_file.write(line)
                if line.startswith(("threshold", "load-test profile")) or "Traceback" in line:
                    log(line.rstrip())
                if time.monotonic() > deadline:
                    raise LoadTestError(f"locust ran past {timeout:.0f} s; see {log_path}")
            return process.wait(timeout=30)
        finally:
            _stop(process, grace=5.0)


def read_stats(stats_csv: Path) -> list[RequestRow]:
    """The per-request rows of Locust's `<prefix>_stats.csv` (the "Aggregated" row last)."""

    def num(value: str) -> float | None:
        try:
            return float(value)
        except ValueError:  # "N/A": no requests under that name
            return None

    rows = []
    with stats_csv.open(newline="", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            rows.append(
                RequestRow(
                    name=rec["Name"],
                    requests=int(rec["Request Count"]),
                    failures=int(rec["Failure Count"]),
                    p50_ms=num(rec["50%"]),
                    p95_ms=num(rec["95%"]),
                    p99_ms=num(rec["99%"]),
                    rps=float(rec["Requests/s"] or 0),
                )
            )
    return rows


def print_table(rows: list[RequestRow], title: str, console: Any = None) -> None:
    """The per-request table: name, requests, failures, p50, p95, p99 (ms) and requests/s."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title)
    for col, justify in (("request", "left"), ("requests", "right"), ("failures", "right"), ("p50 ms", "right"),
                         ("p95 ms", "right"), ("p99 ms", "right"), ("req/s", "right")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    for r in rows:
        table.add_row(
            escape(r.name), str(r.requests), str(r.failures), ms(r.p50_ms), ms(r.p95_ms), ms(r.p99_ms), f"{r.rps:.2f}"
        )
    console = console or Console()
    if console.width < _TABLE_WIDTH:
        # a narrow (or piped, 80-column) console would wrap the request names: widen the table's own output
        console = Console(file=console.file, width=_TABLE_WIDTH, force_terminal=console.is_terminal)
    console.print(table)


def run_loadtest(
    profile: str | Path = "smoke",
    host: str | None = None,
    out: Path = Path("loadtest-report"),
    *,
    data_dir: Path | None = None,
    library: LibrarySpec = LibrarySpec(),
    workers: int = 1,
    console: Any = None,
) -> LoadTestResult:
    """Run a load-test profile and print the per-request table; the result carries Locust's exit code (0: every
    threshold met, 1: a breach or failures).

    With `host`, targets that running deployment and builds nothing. Without, builds (or reuses, in `data_dir`)
    a small seeded library on the embedded defaults, serves it with `workers` uvicorn workers on a free port,
    runs the profile against it and stops the server. Reports go to `out/<profile>_stats.csv` (and the other
    Locust CSVs), `<profile>.html`, `<profile>_thresholds.json`, `locust.log` and, when served, `server.log`.
    """
    from rich.console import Console

    console = console or Console()

    def say(line: str) -> None:
        console.print(line, markup=False, highlight=False)

    prof = read_profile_file(profile)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    prefix = prof.name
    timeout = prof.seconds + prof.max_ramp_wait_seconds + 120.0

    def run_against(target: str) -> int:
        say(f"load test {prof.name} against {target} ({prof.seconds:.0f} s); reports in {out}")
        return run_locust(prof.path, target, out, prefix, timeout, log=say)

    if host is not None:
        code = run_against(host.rstrip("/"))
        target = host
    else:
        with _library_dir(data_dir) as lib_dir:
            settings = build_library_apart(lib_dir, library, log=say)
            with serve_library(settings, out / "server.log", workers=workers) as target:
                code = run_against(target)
    stats_csv = out / f"{prefix}_stats.csv"
    if not stats_csv.is_file():
        raise LoadTestError(f"locust wrote no {stats_csv.name} (exit code {code}): {_tail(out / 'locust.log')}")
    judgement_file = out / f"{prefix}_thresholds.json"
    judgement = json.loads(judgement_file.read_text()) if judgement_file.is_file() else {}
    result = LoadTestResult(
        exit_code=code,
        profile=prof.name,
        host=target,
        out=out,
        stats_csv=stats_csv,
        html=out / f"{prefix}.html",
        rows=read_stats(stats_csv),
        breaches=[b["line"] for b in judgement.get("breaches", [])],
        judgement=judgement,
    )
    print_table(result.rows, f"load test {prof.name}: measured window, sign-in apart", console)
    verdict = "passed" if result.passed else f"FAILED (exit code {code})"
    say(f"{verdict}: {len(result.breaches)} threshold breach(es); reports in {out}")
    return result


@contextmanager
def _library_dir(data_dir: Path | None) -> Iterator[Path]:
    if data_dir is not None:
        yield Path(data_dir)
        return
    with tempfile.TemporaryDirectory(prefix="museed-loadtest-") as tmp:
        yield Path(tmp)


def loadtest_command(
    profile: Annotated[
        str, typer.Option("--profile", "-p", help="profile: smoke, steady, spike, uploads, or a path to a .toml")
    ] = "smoke",
    host: Annotated[
        str | None, typer.Option("--host", help="a running deployment (e.g. http://127.0.0.1:8000); builds nothing")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="where the CSV/HTML reports go")] = Path("loadtest-report"),
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="keep (and reuse) the seeded library here instead of a temp dir")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="uvicorn workers of the served library")] = 1,
    tracks: Annotated[int, typer.Option("--tracks", min=20, help="tracks of the seeded library")] = 60,
    library_size: Annotated[
        int | None,
        typer.Option(
            "--library-size", min=20, help="serve a catalog-scale library of this many tracks (no audio; e.g. 90000)"
        ),
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="the served library's PostgreSQL URL (default: SQLite)")
    ] = None,
    milvus_uri: Annotated[
        str | None, typer.Option("--milvus-uri", help="the served library's Milvus server (default: Milvus Lite)")
    ] = None,
) -> None:
    """Run a Locust load-test profile and print the per-request table; exits 1 on a threshold breach.

    Without --host it builds and serves a seeded library (SQLite + Milvus Lite unless --database-url /
    --milvus-uri): a small one with audio, or with --library-size a catalog-scale one; with --host it builds nothing.
    """
    spec = LibrarySpec(
        tracks=library_size or tracks,
        synthetic_vectors=library_size is not None,
        database_url=database_url,
        milvus_uri=milvus_uri,
    )
    result = run_loadtest(profile, host, out, data_dir=data_dir, library=spec, workers=workers)
    if result.exit_code != 0:
        raise typer.Exit(code=result.exit_code)

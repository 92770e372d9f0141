"""The issue-14 measurement on the server stack: PostgreSQL + a Milvus 2.3.5 server + Redis, N uvicorn workers, a
catalog-scale library (the same tracks in the database and in Milvus), B2B keys, then Locust profiles with the
listener journey, the anonymous browser and the B2B client, and the CPU each part of the stack used.

    python -m benchmarks.server_stack --tracks 90000 --data-dir /tmp/stack90k \\
        --database-url postgresql+psycopg2://postgres@127.0.0.1:5432/stack90k --profile steady --profile overload

Everything runs on this machine (load generator included), so the CPU table says what bounds the throughput.
The Milvus server lives for the run only, so the library is built into it each time (the catalog load is an
idempotent upsert into the same database). `--profile b2b` is issue 13's figure: 50 B2B clients alone, spread over
`--b2b-keys` keys. `--py-spy N` samples one API worker for N s of each profile (from 20 s in) and prints where
its busy time went (`benchmarks.profile_server.spy`)."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import tomllib
from pathlib import Path
from typing import Annotated, Any

import psutil
import typer

from benchmarks.common import Machine, ensure_database, load_text, start_server, write_json

app = typer.Typer(add_completion=False)
PROFILES = Path(__file__).resolve().parents[1] / "loadtests" / "profiles"
#: the B2B client's share of the users in every profile measured here (listeners 4 : anonymous 1 : b2b 1)
B2B_WEIGHT = 1


def _log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def _b2b_keys(settings: Any, n: int) -> list[str]:
    """`n` `pro` keys with the recommend scope, each for its own load-test organisation (a plan's rate windows
    and quotas are per key and organisation: the B2B clients spread over them)."""
    from api.b2b.service import b2b_service_for
    from api.db.session import session_factory, transaction

    keys = []
    with transaction(session_factory(settings.sqlalchemy_url)) as session:
        b2b = b2b_service_for(session)
        for i in range(n):
            name = f"loadtest-{int(time.time())}-{i}"
            b2b.create_org(name)
            keys.append(b2b.create_key(name, "pro", ["recommend"], "server-stack benchmark").key)
    return keys


def _with_b2b(profile: str, out: Path) -> Path:
    """A copy of a profile with the B2B client switched on (the profiles ship with it off)."""
    raw = (PROFILES / f"{profile}.toml").read_text(encoding="utf-8")
    parsed = tomllib.loads(raw)
    if parsed["users"].get("b2b", 0) == B2B_WEIGHT:
        return PROFILES / f"{profile}.toml"
    lines = [
        f"b2b = {B2B_WEIGHT}" if line.strip().startswith("b2b =") and not line.startswith("[") else line
        for line in raw.splitlines()
    ]
    path = out / f"{profile}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class CpuMeter:
    """CPU seconds per part of the stack between `start` and `stop`: the API (the uvicorn process and its worker
    processes), Milvus, PostgreSQL, Redis and the load generator (Locust). A thread samples every process once a
    second, so processes that start or end inside the window (Locust's) count too."""

    GROUPS = ("api", "milvus", "postgres", "redis", "locust")

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.first: dict[int, float] = {}  # cpu seconds when first seen (0 for processes born in the window)
        self.last: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def _group(proc: psutil.Process) -> str | None:
        try:
            name, cmd = proc.name(), " ".join(proc.cmdline())
            chain = [" ".join(p.cmdline()) for p in proc.parents()[:2]]
        except psutil.Error:
            return None
        if "locust" in cmd:
            return "locust"
        if "api.app:create_app" in cmd or any("api.app:create_app" in c for c in chain):
            return "api"
        if "milvus" in name or "milvus" in cmd.split(" ")[0]:
            return "milvus"
        if name.startswith("postgres"):
            return "postgres"
        if name.startswith("redis"):
            return "redis"
        return None

    def _sample(self, initial: bool) -> None:
        for proc in psutil.process_iter():
            group = self._group(proc)
            if group is None:
                continue
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            cpu = t.user + t.system
            if proc.pid not in self.first:
                self.first[proc.pid] = cpu if initial else 0.0
            self.last[proc.pid] = (group, cpu)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(initial=False)

    def start(self) -> None:
        self._sample(initial=True)
        self.started = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample(initial=False)
        wall = time.perf_counter() - self.started
        used = dict.fromkeys(self.GROUPS, 0.0)
        for pid, (group, cpu) in self.last.items():
            used[group] += cpu - self.first.get(pid, 0.0)
        total = sum(used.values()) or 1.0
        return {
            "wall_s": round(wall, 1),
            "cpu_s": {g: round(v, 1) for g, v in used.items()},
            "share": {g: round(v / total, 3) for g, v in used.items()},
            "cores_busy": round(total / wall, 2),
        }


def _api_worker() -> psutil.Process | None:
    """The busiest uvicorn worker process of the API being served (a `multiprocessing` child of the
    `api.app:create_app` master; the master's resource tracker is a child too, and idle)."""
    workers = []
    for proc in psutil.process_iter():
        try:
            parent = proc.parent()
            serving = parent is not None and "api.app:create_app" in " ".join(parent.cmdline())
            if serving and "resource_tracker" not in " ".join(proc.cmdline()):
                workers.append((sum(proc.cpu_times()[:2]), proc))
        except psutil.Error:
            continue
    return max(workers, key=lambda w: w[0])[1] if workers else None


class ApiSampler:
    """py-spy on one API worker for `seconds`, `delay` s into a profile (in a thread beside Locust); `result`
    is `benchmarks.profile_server.spy`'s summary, or why there is none."""

    def __init__(self, seconds: int, delay: float, out: Path) -> None:
        self.seconds, self.delay, self.out = seconds, delay, out
        self.result: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from benchmarks.profile_server import spy

        time.sleep(self.delay)
        worker = _api_worker()
        if worker is None:
            self.result = {"error": "no API worker process found"}
            return
        try:
            self.result = {"pid": worker.pid, **spy(worker.pid, self.seconds, self.out)}
        except Exception as exc:  # a profile is a bonus: the load figures stand without it
            self.result = {"error": str(exc)}

    def start(self) -> None:
        self._thread.start()

    def join(self) -> dict[str, Any]:
        self._thread.join()
        return self.result


def _wait_quiet(load: float, seconds: float) -> None:
    """Wait until the 1-minute load average is at most `load` (0: do not wait), or `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while load > 0 and os.getloadavg()[0] > load and time.monotonic() < deadline:
        time.sleep(10)
    _log(f"load {load_text()}")


@app.command()
def main(
    data_dir: Annotated[Path, typer.Option("--data-dir")],
    database_url: Annotated[str, typer.Option("--database-url", help="PostgreSQL (created if missing)")],
    tracks: Annotated[int, typer.Option("--tracks", min=20)] = 90_000,
    redis_url: Annotated[str, typer.Option("--redis-url")] = "redis://127.0.0.1:6379/0",
    workers: Annotated[int, typer.Option("--workers", min=1)] = 2,
    profile: Annotated[list[str], typer.Option("--profile", help="repeatable: smoke, steady, overload, ...")] = [  # noqa: B006
        "steady"
    ],
    out: Annotated[Path, typer.Option("--out")] = Path("data/bench/server-stack"),
    encoder: Annotated[str, typer.Option("--encoder")] = "small",
    quiet_load: Annotated[
        float, typer.Option("--quiet-load", help="before each profile, wait (at most --quiet-wait s) for this load")
    ] = 0.0,
    quiet_wait: Annotated[float, typer.Option("--quiet-wait")] = 1800.0,
    b2b_keys: Annotated[int, typer.Option("--b2b-keys", min=1, help="keys the B2B clients spread over")] = 10,
    py_spy: Annotated[
        int, typer.Option("--py-spy", help="sample one API worker with py-spy for this many s of each profile")
    ] = 0,
) -> None:
    """Build the library into a fresh Milvus server and PostgreSQL, serve it, run each profile, print figures."""
    from orchestration.loadtest import print_table, read_stats, run_locust, serve_library
    from orchestration.scale_library import ScaleLibrarySpec, build_scale_library

    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"machine": Machine.now().__dict__, "tracks": tracks, "workers": workers, "runs": {}}
    ensure_database(database_url)
    base = tempfile.mkdtemp(prefix="museed-stack-milvus-")
    _log(f"starting a Milvus server under {base} (load {load_text()})")
    t0 = time.perf_counter()
    server, milvus_uri = start_server(base)
    record["milvus_start_s"] = round(time.perf_counter() - t0, 1)
    try:
        spec = ScaleLibrarySpec(tracks=tracks, encoder=encoder, database_url=database_url, milvus_uri=milvus_uri)
        marker = Path(data_dir) / "scale_library.json"
        if marker.is_file():
            marker.unlink()  # the collection lives in this run's server: build it again (the DB load is idempotent)
        t0 = time.perf_counter()
        settings, report = build_scale_library(Path(data_dir), spec, log=_log)
        record["build_s"] = round(time.perf_counter() - t0, 1)
        record["build"] = report.__dict__
        settings = settings.model_copy(update={"redis_url": redis_url})
        os.environ["LOADTEST_B2B_API_KEY"] = ",".join(_b2b_keys(settings, b2b_keys))
        with serve_library(settings, out / "server.log", workers=workers) as host:
            for name in profile:
                path = _with_b2b(name, out)
                _wait_quiet(quiet_load, quiet_wait)
                _log(f"profile {name} against {host} ({workers} workers; load {load_text()})")
                meter = CpuMeter()
                sampler = ApiSampler(py_spy, delay=20.0, out=out / f"{name}-api.speedscope.json") if py_spy else None
                meter.start()
                if sampler is not None:
                    sampler.start()
                code = run_locust(path, host, out, name, timeout=900.0, log=_log)
                cpu = meter.stop()
                api_profile = sampler.join() if sampler is not None else None
                if api_profile:
                    summary = {k: v for k, v in api_profile.items() if k != "hot_frames"}
                    _log(f"API worker profile: {json.dumps(summary)}")
                    for frame, share in api_profile.get("hot_frames", [])[:25]:
                        _log(f"  {100 * share:5.1f} %  {frame}")
                rows = read_stats(out / f"{name}_stats.csv")
                print_table(rows, f"server stack, {tracks} tracks, {workers} workers: {name}")
                _log(f"CPU: {json.dumps(cpu)}")
                judgement_file = out / f"{name}_thresholds.json"
                record["runs"][name] = {
                    "exit_code": code,
                    "rows": [r.__dict__ for r in rows],
                    "cpu": cpu,
                    "api_profile": api_profile,
                    "judgement": json.loads(judgement_file.read_text()) if judgement_file.is_file() else None,
                    "load_after": load_text(),
                }
    finally:
        server.stop()
    write_json(out / "server-stack.json", record)
    _log(f"wrote {out / 'server-stack.json'}")


if __name__ == "__main__":
    app()

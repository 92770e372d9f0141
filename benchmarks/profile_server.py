"""Where a loaded server's time goes: runs `museed loadtest` (embedded stack unless `--host`), samples the API
process with py-spy during the run, and sums the busy samples by where they were (Argon2, SQL statements,
the ORM, Milvus, response building, HTTP). Idle worker threads and the idle event loop are left out.

    python -m benchmarks.profile_server --profile steady --seconds 45 --out data/bench/profile-steady.json
"""

from __future__ import annotations

import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import psutil
import typer

from benchmarks.common import Command, Machine

app = typer.Typer(add_completion=False)

#: (category, substrings of a stack's frames that place a sample in it), first match wins
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Argon2 password hashing (sign-up, login)", ("argon2",)),
    ("Milvus calls (pymilvus, gRPC)", ("pymilvus", "grpc")),
    ("SQL statements (driver execute + fetch)", ("do_execute", "sqlite3", "psycopg2", "_fetchone_impl", "fetchall")),
    ("SQLAlchemy ORM (compile, flush, load)", ("sqlalchemy",)),
    ("numpy (MMR, vectors)", ("numpy", "mmr")),
    ("response validation + JSON", ("pydantic", "jsonable_encoder", "serialize_response", "render")),
    ("logging + metrics", ("structlog", "logging", "prometheus")),
    ("HTTP, ASGI, dependencies", ("uvicorn", "h11", "httptools", "starlette", "fastapi", "anyio")),
)
#: a sample whose innermost frame is one of these is an idle thread, not work
IDLE_LEAVES = ("Condition.wait", "Queue.get", "Runner.run", "select", "_worker")


def _samples(speedscope: dict[str, Any]) -> Iterator[tuple[list[int] | None, float]]:
    """(stack, weight) of every sample of a py-spy speedscope profile; stack None for an idle thread's."""
    frames = speedscope["shared"]["frames"]
    for prof in speedscope["profiles"]:
        for stack, weight in zip(prof["samples"], prof["weights"], strict=True):
            idle = not stack or frames[stack[-1]]["name"].startswith(IDLE_LEAVES)
            yield (None if idle else stack), weight


def summarise(speedscope: dict[str, Any]) -> dict[str, Any]:
    """Busy thread-seconds per category of a py-spy speedscope profile."""
    frames = speedscope["shared"]["frames"]
    busy: dict[str, float] = collections.defaultdict(float)
    idle = 0.0
    for stack, weight in _samples(speedscope):
        if stack is None:
            idle += weight
            continue
        where = " ".join(f"{frames[i]['name']} {frames[i].get('file', '')}" for i in stack)
        busy[next((c for c, keys in CATEGORIES if any(k in where for k in keys)), "other")] += weight
    total = sum(busy.values())
    return {
        "busy_thread_seconds": round(total, 2),
        "idle_thread_seconds": round(idle, 2),
        "share": {c: round(v / total, 4) for c, v in sorted(busy.items(), key=lambda x: -x[1])} if total else {},
    }


def hot_frames(speedscope: dict[str, Any], top: int = 40, within: str = "/work/") -> list[tuple[str, float]]:
    """The functions busy samples were inside (inclusive share of the busy samples, each function counted once
    per sample), for frames whose file path contains `within` (the project's own code by default) or names a
    library the categories name; the drill-down below `summarise`'s categories."""
    frames = speedscope["shared"]["frames"]
    inside: dict[str, float] = collections.defaultdict(float)
    total = 0.0
    for stack, weight in _samples(speedscope):
        if stack is None:
            continue
        total += weight
        names = set()
        for i in stack:
            path = frames[i].get("file", "")
            if within in path or any(k in path for _, keys in CATEGORIES for k in keys):
                names.add(f"{frames[i]['name']} ({'/'.join(path.split('/')[-2:])})")
        for name in names:
            inside[name] += weight
    ranked = sorted(inside.items(), key=lambda x: -x[1])[:top]
    return [(name, round(w / total, 4)) for name, w in ranked] if total else []


def spy(pid: int, seconds: int, out: Path, rate: int = 100) -> dict[str, Any]:
    """Sample process `pid` with py-spy for `seconds` (without pausing it); the speedscope profile goes to `out`,
    its summary (categories and hot frames) is returned."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    subprocess.run(
        [exe, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(rate),
         "--format", "speedscope", "--nonblocking", "-o", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    profile = json.loads(out.read_text())
    return {**summarise(profile), "hot_frames": hot_frames(profile)}


def _api_process(parent: psutil.Process, timeout: float) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in parent.children(recursive=True):
            if "uvicorn" in " ".join(child.cmdline()):
                return child
        time.sleep(1.0)
    raise RuntimeError("the load test started no uvicorn process in time")


@app.command(cls=Command, help=__doc__)
def main(
    profile: Annotated[str, typer.Option("--profile")] = "steady",
    seconds: Annotated[int, typer.Option("--seconds", help="seconds sampled once the server is up")] = 45,
    delay: Annotated[int, typer.Option("--delay", help="seconds after the server starts before sampling")] = 25,
    out: Annotated[Path, typer.Option("--out")] = Path("data/bench/profile-steady.json"),
) -> None:
    if shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists():
        raise typer.BadParameter("py-spy is not installed (it is in the dev extra: make install)")
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    machine = Machine.now()
    typer.echo(f"{machine.cpus} CPUs ({machine.cpu}), load {machine.load}")
    work = Path(tempfile.mkdtemp(prefix="museed-profile-"))
    report = work / "report"
    museed = str(Path(sys.executable).parent / "museed")
    run = subprocess.Popen(
        [museed, "loadtest", "--profile", profile, "--data-dir", str(work / "lib"), "--out", str(report)]
    )
    try:
        server = _api_process(psutil.Process(run.pid), timeout=600)
        time.sleep(delay)
        raw = work / "profile.json"
        subprocess.run(
            [spy, "record", "--pid", str(server.pid), "--duration", str(seconds), "--rate", "50",
             "--format", "speedscope", "--nonblocking", "-o", str(raw)],
            check=True, capture_output=True,
        )  # fmt: skip
        exit_code = run.wait(timeout=900)
    finally:
        if run.poll() is None:
            run.kill()
    summary = summarise(json.loads(raw.read_text()))
    summary.update(profile=profile, sampled_seconds=seconds, loadtest_exit=exit_code, load=machine.load)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    typer.echo(f"busy {summary['busy_thread_seconds']} thread-s over {seconds} s sampled (load test exit {exit_code})")
    for category, share in summary["share"].items():
        typer.echo(f"{100 * share:5.1f} %  {category}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    app()

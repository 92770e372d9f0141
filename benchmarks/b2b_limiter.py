"""The B2B limiter's added latency per request: `B2BLimiter.admit` (burst + minute moving windows and the daily
and monthly quota reservation) timed one call at a time, on Redis (`--redis-url`) and in memory.

    python -m benchmarks.b2b_limiter --requests 5000 --redis-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated

import typer

from api.b2b.limits import B2BLimiter
from api.b2b.plans import Plan
from benchmarks.common import Command, Machine, nearest_rank
from museed.settings import Settings

app = typer.Typer(add_completion=False)
#: limits no benchmark run reaches: every call is admitted, so each timing is the full admit path
UNLIMITED = Plan("bench", 10**9, 10**9, 10**9, 10**9, 100)


def _time_admits(limiter: B2BLimiter, n: int) -> list[float]:
    key = uuid.uuid4().hex
    out = []
    for _ in range(n):
        started = time.perf_counter()
        limiter.admit(key, UNLIMITED, 1, 1, lambda: (0, 0))
        out.append((time.perf_counter() - started) * 1000)
    return sorted(out)


@app.command(cls=Command, help=__doc__)
def main(
    requests: Annotated[int, typer.Option("--requests")] = 5000,
    redis_url: Annotated[str, typer.Option("--redis-url")] = "redis://127.0.0.1:6379/0",
) -> None:
    machine = Machine.now()
    typer.echo(f"{machine.cpus} CPUs ({machine.cpu}), Python {machine.python}, load {machine.load}")
    prefix = f"museed-bench-{uuid.uuid4().hex[:8]}"
    for name, url in (("redis", redis_url), ("memory", None)):
        limiter = B2BLimiter(Settings(redis_url=url, redis_key_prefix=prefix))
        _time_admits(limiter, min(200, requests))  # warm-up: connection, script loading
        times = _time_admits(limiter, requests)
        typer.echo(
            f"{name:>6}: {requests} admits, p50 {nearest_rank(times, 0.5):.3f} ms, "
            f"p99 {nearest_rank(times, 0.99):.3f} ms, max {times[-1]:.3f} ms"
        )
        if limiter.redis is not None:
            for k in limiter.redis.scan_iter(f"{prefix}:*"):
                limiter.redis.delete(k)


if __name__ == "__main__":
    app()

"""The B2B limiter on Redis in one round trip: both moving windows and the quota reservation in one script call,
on the keys the `limits` library reads, with the same admissions, refusals and header values as before."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from limits import RateLimitItemPerMinute, RateLimitItemPerSecond

from api.b2b.limits import B2BLimiter
from api.b2b.plans import Plan
from api.errors import TooManyRequests
from museed.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/0"
PLAN = Plan("t", burst_per_second=3, per_minute=5, per_day=100, per_month=1000, max_results=20)


@pytest.fixture
def limiter() -> Iterator[B2BLimiter]:
    prefix = f"museed-test-{uuid.uuid4().hex[:10]}"
    lim = B2BLimiter(Settings(redis_url=REDIS_URL, redis_key_prefix=prefix))
    yield lim
    r = redis.Redis.from_url(REDIS_URL)
    for k in r.scan_iter(f"{prefix}:*"):
        r.delete(k)


class RoundTrips:
    """Counts what redis-py writes to its sockets: one packed write per round trip (a pipeline is one too)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = redis.connection.AbstractConnection.send_packed_command

        def counted(conn: Any, command: Any, check_health: bool = True) -> None:
            self.count += 1
            original(conn, command, check_health)  # type: ignore[no-untyped-call]

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)


def test_one_admission_is_one_round_trip(limiter: B2BLimiter, monkeypatch: pytest.MonkeyPatch) -> None:
    key = uuid.uuid4().hex
    seeded: list[int] = []

    def used() -> tuple[int, int]:
        seeded.append(1)
        return 0, 0

    limiter.admit(key, PLAN, 1, 1, used)  # loads the script; seeds today's and this month's counters
    trips = RoundTrips(monkeypatch)
    limiter.admit(key, PLAN, 1, 1, used)
    assert trips.count == 1  # was 5: hit + stats per window, then the quota script
    limiter.admit(key, PLAN, 1, 0, used)  # no quota (GET /v1/usage): still one
    assert trips.count == 2 and seeded == [1]


def test_a_missing_quota_counter_costs_one_more_round_trip_and_one_db_read(
    limiter: B2BLimiter, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter.admit(uuid.uuid4().hex, PLAN, 1, 1, lambda: (0, 0))  # script loaded
    trips = RoundTrips(monkeypatch)
    reads: list[int] = []

    def used() -> tuple[int, int]:
        reads.append(1)
        return 7, 40

    admission = limiter.admit(uuid.uuid4().hex, PLAN, 1, 1, used)
    assert trips.count == 2 and reads == [1]
    day = {w.name: w for w in admission.windows}["day"]
    assert day.remaining == PLAN.per_day - 8  # seeded from the DB's 7, plus this one


def test_the_windows_are_the_limits_librarys(limiter: B2BLimiter) -> None:
    # what the script writes, `limits` reads: the same keys and the same moving-window entries
    key = uuid.uuid4().hex
    burst, minute = RateLimitItemPerSecond(PLAN.burst_per_second), RateLimitItemPerMinute(PLAN.per_minute)
    admission = limiter.admit(key, PLAN, 2, 1, lambda: (0, 0))
    assert limiter.limiter.get_window_stats(burst, "b2b", key).remaining == 1
    assert limiter.limiter.get_window_stats(minute, "b2b", key).remaining == 3
    windows = {w.name: w for w in admission.windows}
    assert (windows["burst"].remaining, windows["minute"].remaining) == (1, 3)
    assert windows["burst"].reset == 1 and 1 <= windows["minute"].reset <= 60
    assert limiter.limiter.hit(burst, "b2b", key)  # the library takes the last burst unit ...
    with pytest.raises(TooManyRequests) as refused:
        limiter.admit(key, PLAN, 1, 1, lambda: (0, 0))  # ... and the script sees it gone
    assert refused.value.extra["reason"] == "rate_limited" and refused.value.extra["window"] == "burst"
    assert refused.value.extra["headers"]["Retry-After"] == "1"
    assert refused.value.extra["headers"]["RateLimit"] == '"burst";r=0;t=1'


def test_admissions_and_refusals_match_the_in_memory_limiter(limiter: B2BLimiter) -> None:
    memory = B2BLimiter(Settings(redis_url=None))
    plan = Plan("t", burst_per_second=4, per_minute=6, per_day=5, per_month=1000, max_results=20)

    def run(lim: B2BLimiter) -> list[tuple[str, str | None, dict[str, str]]]:
        key = uuid.uuid4().hex
        out: list[tuple[str, str | None, dict[str, str]]] = []
        for units, queries in [(1, 1), (2, 1), (1, 1), (1, 1), (1, 1), (1, 0), (1, 1)]:
            try:
                out.append(("ok", None, lim.admit(key, plan, units, queries, lambda: (0, 0)).headers()))
            except TooManyRequests as exc:
                out.append(("429", str(exc.extra.get("reason")), {"window": str(exc.extra.get("window"))}))
        return out

    shared, local = run(limiter), run(memory)
    assert [r[:2] for r in shared] == [r[:2] for r in local]
    # burst 4: 1 + 2 + 1 taken, the 4th call (1 unit) is refused; quota 5 is never reached
    assert [r[0] for r in shared] == ["ok", "ok", "ok", "429", "429", "429", "429"]
    assert shared[3][2] == {"window": "burst"}
    assert shared[0][2]["RateLimit-Policy"] == local[0][2]["RateLimit-Policy"]
    assert shared[0][2]["RateLimit-Policy"].startswith('"burst";q=4;w=1, "minute";q=6;w=60, "day";q=5;w=86400')
    assert shared[2][2]["RateLimit"].split(", ")[:2] == local[2][2]["RateLimit"].split(", ")[:2]


def test_quota_refusals_are_unchanged(limiter: B2BLimiter) -> None:
    now = datetime(2026, 3, 31, 23, 59, 30, tzinfo=UTC)
    limiter.clock = lambda: now
    plan = Plan("t", burst_per_second=100, per_minute=1000, per_day=3, per_month=1000, max_results=20)
    key = uuid.uuid4().hex
    limiter.admit(key, plan, 1, 2, lambda: (0, 0))
    with pytest.raises(TooManyRequests) as refused:
        limiter.admit(key, plan, 1, 2, lambda: (0, 0))
    extra = refused.value.extra
    assert extra["reason"] == "quota_exceeded" and extra["quota"] == "day"
    assert extra["reset_at"] == "2026-04-01T00:00:00+00:00" and refused.value.extra["headers"]["Retry-After"] == "30"
    admission = limiter.admit(key, plan, 1, 1, lambda: (0, 0))  # the refused reservation took nothing
    assert {w.name: w.remaining for w in admission.windows}["day"] == 0
    limiter.release(admission)
    assert {w.name: w.remaining for w in limiter.admit(key, plan, 1, 1, lambda: (0, 0)).windows}["day"] == 0

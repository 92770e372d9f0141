"""Per-key rate windows (the `limits` library, moving window) and daily/monthly quotas for the B2B API.

Storage: Redis when `MUSEED_REDIS_URL` is set (shared by every API process), this process's memory otherwise.
Redis unreachable: fail closed, 503 with `Retry-After: 1` (socket timeouts of 0.5 s bound the wait); the next
request after Redis returns is served again (redis-py reconnects, `limits` reloads its scripts).

Quota counters are reservations: taken before the handler runs, given back when it fails, and seeded from the
`api_usage` table (written in each answered request's transaction) when Redis has lost them, so a Redis that
keeps nothing on disk resets no quota."""

from __future__ import annotations

import calendar
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from api.b2b.plans import Plan
from api.errors import ServiceUnavailable, TooManyRequests
from museed.settings import Settings

#: what a client is told to wait when Redis is unreachable
REDIS_RETRY_AFTER_SECONDS = 1
#: socket timeouts towards Redis: a dead Redis answers 503 within a second
REDIS_TIMEOUT_SECONDS = 0.5

# atomically: without seeds (ARGV[8] == '0') answer -2 when a counter is missing (the caller reads the seeds from
# the DB and calls again: one round trip in the common case); seed missing counters, refuse when either quota
# would be exceeded, else take `units` from both
_RESERVE = """
if ARGV[8] == '0' and redis.call('EXISTS', KEYS[1], KEYS[2]) < 2 then return {-2, 0, 0} end
redis.call('SET', KEYS[1], ARGV[6], 'NX', 'EX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[7], 'NX', 'EX', ARGV[5])
local d = tonumber(redis.call('GET', KEYS[1]))
local m = tonumber(redis.call('GET', KEYS[2]))
local units = tonumber(ARGV[1])
if d + units > tonumber(ARGV[2]) then return {0, d, m} end
if m + units > tonumber(ARGV[3]) then return {-1, d, m} end
return {1, redis.call('INCRBY', KEYS[1], units), redis.call('INCRBY', KEYS[2], units)}
"""

# give units back only to counters that still exist (a counter lost with Redis is seeded from the DB instead)
_RELEASE = """
for _, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then redis.call('DECRBY', k, ARGV[1]) end
end
return 1
"""


@contextmanager
def _store_errors() -> Iterator[None]:
    """Redis unreachable -> 503 with `Retry-After` (fail closed)."""
    try:
        yield
    except (StorageError, redis.RedisError) as exc:
        raise ServiceUnavailable(
            "the rate-limit store is unreachable; retry shortly",
            reason="limiter_unavailable",
            headers={"Retry-After": str(REDIS_RETRY_AFTER_SECONDS)},
        ) from exc


def utc_now() -> datetime:
    """The wall clock in UTC (tests inject another)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Window:
    """One policy's state after a request: its quota `q` over `w` seconds, what remains, seconds to reset."""

    name: str
    quota: int
    seconds: int
    remaining: int
    reset: int


@dataclass
class Admission:
    """What the limiter granted one request: the windows' states (for the headers) and the quota units held."""

    key_id: str
    day: date
    windows: list[Window]
    units: int = 0

    def headers(self) -> dict[str, str]:
        """`RateLimit-Policy` and `RateLimit` as in draft-ietf-httpapi-ratelimit-headers-09 (structured lists)."""
        return rate_headers(self.windows)


def rate_headers(windows: list[Window]) -> dict[str, str]:
    """The IETF header fields for `windows`."""
    return {
        "RateLimit-Policy": ", ".join(f'"{w.name}";q={w.quota};w={w.seconds}' for w in windows),
        "RateLimit": ", ".join(f'"{w.name}";r={max(0, w.remaining)};t={max(0, w.reset)}' for w in windows),
    }


def _next_day(now: datetime) -> datetime:
    return datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


def _next_month(now: datetime) -> datetime:
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


class B2BLimiter:
    """One per process: burst and sustained windows per key, daily and monthly quotas per key."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utc_now) -> None:
        self.clock = clock
        self.prefix = settings.redis_key_prefix
        self.redis: redis.Redis | None = None
        storage: Storage
        if settings.redis_url:
            opts: dict[str, Any] = {
                "socket_timeout": REDIS_TIMEOUT_SECONDS,
                "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            }
            shared = storage_from_string(
                settings.redis_url, key_prefix=f"{self.prefix}:limits", wrap_exceptions=True, **opts
            )
            assert isinstance(shared, Storage)
            storage = shared
            self.redis = redis.Redis.from_url(settings.redis_url, **opts)
            self._reserve = self.redis.register_script(_RESERVE)
            self._release = self.redis.register_script(_RELEASE)
        else:
            storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(storage)
        self._lock = threading.Lock()
        self._memory: dict[str, int] = {}

    # -- rate windows -------------------------------------------------------------------------------------------

    def admit(
        self, key_id: str, plan: Plan, units: int, queries: int, used: Callable[[], tuple[int, int]]
    ) -> Admission:
        """Take `units` from the key's burst and minute windows and `queries` from its quotas, or raise 429
        (reason `rate_limited` or `quota_exceeded`, with `Retry-After`) or 503 (Redis unreachable). `used()`
        gives the key's answered queries today and this month from the DB, read only when a counter is missing."""
        with _store_errors():
            windows = self._rate(key_id, plan, units)
        admission = Admission(key_id=key_id, day=self.clock().date(), windows=windows)
        if queries > 0:
            admission.windows += self.reserve(admission, plan, queries, used)
        return admission

    def _rate(self, key_id: str, plan: Plan, units: int) -> list[Window]:
        items: list[tuple[str, RateLimitItem]] = [
            ("burst", RateLimitItemPerSecond(plan.burst_per_second)),
            ("minute", RateLimitItemPerMinute(plan.per_minute)),
        ]
        windows = []
        for name, item in items:
            allowed = self.limiter.hit(item, "b2b", key_id, cost=units)
            stats = self.limiter.get_window_stats(item, "b2b", key_id)
            reset = max(1, math.ceil(stats.reset_time - time.time()))
            windows.append(Window(name, item.amount, item.get_expiry(), stats.remaining, reset))
            if not allowed:
                raise TooManyRequests(
                    f"the {name} rate limit of your plan ({item.amount} units per {item.get_expiry()} s) is used up",
                    reason="rate_limited",
                    window=name,
                    retry_after=reset,
                    headers={"Retry-After": str(reset), **rate_headers(windows)},
                )
        return windows

    # -- quotas -------------------------------------------------------------------------------------------------

    def _quota_keys(self, key_id: str, now: datetime) -> tuple[str, str]:
        return (
            f"{self.prefix}:quota:{key_id}:d:{now.date().isoformat()}",
            f"{self.prefix}:quota:{key_id}:m:{now.strftime('%Y-%m')}",
        )

    def reserve(
        self, admission: Admission, plan: Plan, queries: int, used: Callable[[], tuple[int, int]]
    ) -> list[Window]:
        """Hold `queries` more of the key's daily and monthly quotas for `admission`, or raise 429
        `quota_exceeded` with the reset time."""
        now = self.clock()
        day_key, month_key = self._quota_keys(admission.key_id, now)
        day_reset, month_reset = _next_day(now), _next_month(now)
        day_ttl = int((day_reset - now).total_seconds()) + 3600
        month_ttl = int((month_reset - now).total_seconds()) + 3600
        if self.redis is not None:
            with _store_errors():
                args = [queries, plan.per_day, plan.per_month, day_ttl, month_ttl, 0, 0, 0]
                ok, d, m = self._reserve(keys=[day_key, month_key], args=args)
                if ok == -2:  # a counter is missing (a new day or month, or a Redis that lost it)
                    seeds = used()
                    args[5:] = [seeds[0], seeds[1], 1]
                    ok, d, m = self._reserve(keys=[day_key, month_key], args=args)
        else:
            with self._lock:
                if day_key not in self._memory or month_key not in self._memory:
                    seeds = used()
                    self._memory.setdefault(day_key, seeds[0])
                    self._memory.setdefault(month_key, seeds[1])
                d, m = self._memory[day_key], self._memory[month_key]
                if d + queries > plan.per_day:
                    ok = 0
                elif m + queries > plan.per_month:
                    ok = -1
                else:
                    ok, d, m = 1, d + queries, m + queries
                    self._memory[day_key], self._memory[month_key] = d, m
        if ok != 1:
            which, limit, reset = (
                ("day", plan.per_day, day_reset) if ok == 0 else ("month", plan.per_month, month_reset)
            )
            wait = max(1, math.ceil((reset - now).total_seconds()))
            raise TooManyRequests(
                f"the {'daily' if which == 'day' else 'monthly'} quota of your plan ({limit} queries) is used up",
                reason="quota_exceeded",
                quota=which,
                reset_at=reset.isoformat(),
                headers={"Retry-After": str(wait)},
            )
        admission.units += queries
        month_days = calendar.monthrange(now.year, now.month)[1]
        return [
            Window("day", plan.per_day, 86400, plan.per_day - int(d), math.ceil((day_reset - now).total_seconds())),
            Window(
                "month",
                plan.per_month,
                month_days * 86400,
                plan.per_month - int(m),
                math.ceil((month_reset - now).total_seconds()),
            ),
        ]

    def release(self, admission: Admission) -> None:
        """Give back the quota units of a request that was not answered (best effort: Redis may be gone)."""
        if admission.units <= 0:
            return
        day = datetime.combine(admission.day, datetime.min.time(), tzinfo=UTC)
        day_key, month_key = self._quota_keys(admission.key_id, day)
        try:
            if self.redis is not None:
                self._release(keys=[day_key, month_key], args=[admission.units])
            else:
                with self._lock:
                    for k in (day_key, month_key):
                        if k in self._memory:
                            self._memory[k] -= admission.units
        except redis.RedisError:
            pass  # the counters went with Redis; they are seeded again from the usage table
        admission.units = 0

    def reset(self) -> None:
        """Forget the in-memory counters (tests)."""
        self.limiter.storage.reset()
        with self._lock:
            self._memory.clear()

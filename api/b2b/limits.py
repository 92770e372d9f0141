"""Per-key rate windows (the `limits` library, moving window) and daily/monthly quotas for the B2B API.

Storage: Redis when `MUSEED_REDIS_URL` is set (shared by every API process), this process's memory otherwise.
Redis unreachable: fail closed, 503 with `Retry-After: 1` (socket timeouts of 0.5 s bound the wait); the next
request after Redis returns is served again (redis-py reconnects, `limits` reloads its scripts).

On Redis one admission is one round trip: `_ADMIT` runs `limits`' moving-window acquire and window-stats scripts
for both windows, on the keys `limits` uses, then the quota reservation, in one script (a second only when a
quota counter must be seeded from the DB). In memory the `limits` strategy itself does the windows.

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

# what `limits` 5.8 does on Redis for `MovingWindowRateLimiter.hit` + `get_window_stats` (its scripts
# acquire_moving_window.lua and moving_window.lua), for each window in turn, then _RESERVE, in one round trip.
# KEYS: burst list, minute list, day counter, month counter. ARGV: now, units, then (limit, expiry) of each window,
# then queries, per_day, per_month, day_ttl, month_ttl. A refused window stops there (like `hit` raising before
# the next window is hit): the reply is 3 entries per window tried ({acquired, window start, entries in window}),
# then, when both were acquired and queries > 0, the quota reply {ok, day, month} (ok -2: a counter is missing).
_ADMIT = """
local now = tonumber(ARGV[1])
local units = tonumber(ARGV[2])
local out = {}
local function oldest_entry(key, high, target)
  local low, result = 0, nil
  while low <= high do
    local mid = math.floor((low + high) / 2)
    local val = tonumber(redis.call('LINDEX', key, mid))
    if val and val >= target then result = mid; low = mid + 1 else high = mid - 1 end
  end
  return result
end
for w = 1, 2 do
  local key, limit, expiry = KEYS[w], tonumber(ARGV[1 + 2 * w]), tonumber(ARGV[2 + 2 * w])
  local acquired = 0
  if units <= limit then
    local entry = redis.call('LINDEX', key, limit - units)
    if not (entry and tonumber(entry) >= now - expiry) then
      local entries = {}
      for i = 1, units do entries[i] = now end
      for i = 1, #entries, 5000 do
        redis.call('LPUSH', key, unpack(entries, i, math.min(i + 4999, #entries)))
      end
      redis.call('LTRIM', key, 0, limit - 1)
      redis.call('EXPIRE', key, expiry)
      acquired = 1
    end
  end
  local index = oldest_entry(key, limit - 1, now - expiry)
  if index then
    table.insert(out, acquired)
    table.insert(out, tostring(tonumber(redis.call('LINDEX', key, index))))
    table.insert(out, index + 1)
  else
    table.insert(out, acquired)
    table.insert(out, tostring(now))
    table.insert(out, 0)
  end
  if acquired == 0 then return out end
end
local queries = tonumber(ARGV[7])
if queries <= 0 then return out end
if redis.call('EXISTS', KEYS[3], KEYS[4]) < 2 then
  table.insert(out, -2); table.insert(out, 0); table.insert(out, 0)
  return out
end
local d = tonumber(redis.call('GET', KEYS[3]))
local m = tonumber(redis.call('GET', KEYS[4]))
if d + queries > tonumber(ARGV[8]) then
  table.insert(out, 0); table.insert(out, d); table.insert(out, m)
elseif m + queries > tonumber(ARGV[9]) then
  table.insert(out, -1); table.insert(out, d); table.insert(out, m)
else
  table.insert(out, 1)
  table.insert(out, redis.call('INCRBY', KEYS[3], queries))
  table.insert(out, redis.call('INCRBY', KEYS[4], queries))
end
return out
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


@dataclass(frozen=True)
class _QuotaFrame:
    """The quota counters' keys, resets and lifetimes (seconds) as of `now`."""

    now: datetime
    day_key: str
    month_key: str
    day_reset: datetime
    month_reset: datetime
    day_ttl: int
    month_ttl: int


def _refuse_rate(name: str, item: RateLimitItem, reset: int, windows: list[Window]) -> None:
    """429 `rate_limited` for the window `name`, with the windows seen so far in the headers."""
    raise TooManyRequests(
        f"the {name} rate limit of your plan ({item.amount} units per {item.get_expiry()} s) is used up",
        reason="rate_limited",
        window=name,
        retry_after=reset,
        headers={"Retry-After": str(reset), **rate_headers(windows)},
    )


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
            self._admit = self.redis.register_script(_ADMIT)
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
        if self.redis is not None:
            return self._admit_shared(key_id, plan, units, queries, used)
        with _store_errors():
            windows = self._rate(key_id, plan, units)
        admission = Admission(key_id=key_id, day=self.clock().date(), windows=windows)
        if queries > 0:
            admission.windows += self.reserve(admission, plan, queries, used)
        return admission

    @staticmethod
    def _items(plan: Plan) -> list[tuple[str, RateLimitItem]]:
        return [
            ("burst", RateLimitItemPerSecond(plan.burst_per_second)),
            ("minute", RateLimitItemPerMinute(plan.per_minute)),
        ]

    def _rate(self, key_id: str, plan: Plan, units: int) -> list[Window]:
        windows = []
        for name, item in self._items(plan):
            allowed = self.limiter.hit(item, "b2b", key_id, cost=units)
            stats = self.limiter.get_window_stats(item, "b2b", key_id)
            reset = max(1, math.ceil(stats.reset_time - time.time()))
            windows.append(Window(name, item.amount, item.get_expiry(), stats.remaining, reset))
            if not allowed:
                _refuse_rate(name, item, reset, windows)
        return windows

    def _admit_shared(
        self, key_id: str, plan: Plan, units: int, queries: int, used: Callable[[], tuple[int, int]]
    ) -> Admission:
        """`admit` on Redis: both windows and the quota reservation in one script call (`_ADMIT`)."""
        assert self.redis is not None
        items = self._items(plan)
        now = self.clock()
        admission = Admission(key_id=key_id, day=now.date(), windows=[])
        frame = self._quota_frame(key_id, now)
        storage = self.limiter.storage
        window_keys = [storage.prefixed_key(item.key_for("b2b", key_id)) for _, item in items]  # type: ignore[attr-defined]
        args: list[Any] = [time.time(), units]
        for _, item in items:
            args += [item.amount, item.get_expiry()]
        args += [queries, plan.per_day, plan.per_month, frame.day_ttl, frame.month_ttl]
        with _store_errors():
            reply = self._admit(keys=[*window_keys, frame.day_key, frame.month_key], args=args)
            stamp = time.time()
            for (name, item), at in zip(items, range(0, len(reply) - 2, 3), strict=False):
                acquired, start, count = int(reply[at]), float(reply[at + 1]), int(reply[at + 2])
                reset = max(1, math.ceil(start + item.get_expiry() - stamp))
                admission.windows.append(Window(name, item.amount, item.get_expiry(), item.amount - count, reset))
                if not acquired:
                    _refuse_rate(name, item, reset, admission.windows)
            if queries <= 0:
                return admission
            ok, d, m = (int(x) for x in reply[6:9])
            if ok == -2:  # a counter is missing (a new day or month, or a Redis that lost it): seed it, once
                seeds = used()
                quota_args = [queries, plan.per_day, plan.per_month, frame.day_ttl, frame.month_ttl, *seeds, 1]
                ok, d, m = self._reserve(keys=[frame.day_key, frame.month_key], args=quota_args)
        admission.windows += self._quota_windows(admission, plan, queries, frame, ok, d, m)
        return admission

    # -- quotas -------------------------------------------------------------------------------------------------

    def _quota_keys(self, key_id: str, now: datetime) -> tuple[str, str]:
        return (
            f"{self.prefix}:quota:{key_id}:d:{now.date().isoformat()}",
            f"{self.prefix}:quota:{key_id}:m:{now.strftime('%Y-%m')}",
        )

    def _quota_frame(self, key_id: str, now: datetime) -> _QuotaFrame:
        day_key, month_key = self._quota_keys(key_id, now)
        day_reset, month_reset = _next_day(now), _next_month(now)
        return _QuotaFrame(
            now=now,
            day_key=day_key,
            month_key=month_key,
            day_reset=day_reset,
            month_reset=month_reset,
            day_ttl=int((day_reset - now).total_seconds()) + 3600,
            month_ttl=int((month_reset - now).total_seconds()) + 3600,
        )

    def reserve(
        self, admission: Admission, plan: Plan, queries: int, used: Callable[[], tuple[int, int]]
    ) -> list[Window]:
        """Hold `queries` more of the key's daily and monthly quotas for `admission`, or raise 429
        `quota_exceeded` with the reset time."""
        frame = self._quota_frame(admission.key_id, self.clock())
        day_key, month_key = frame.day_key, frame.month_key
        if self.redis is not None:
            with _store_errors():
                args = [queries, plan.per_day, plan.per_month, frame.day_ttl, frame.month_ttl, 0, 0, 0]
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
        return self._quota_windows(admission, plan, queries, frame, ok, d, m)

    @staticmethod
    def _quota_windows(
        admission: Admission, plan: Plan, queries: int, frame: _QuotaFrame, ok: int, d: int, m: int
    ) -> list[Window]:
        """The day and month windows after a reservation answered (`ok`, day count, month count); 429 when refused."""
        now = frame.now
        if ok != 1:
            which, limit, reset = (
                ("day", plan.per_day, frame.day_reset) if ok == 0 else ("month", plan.per_month, frame.month_reset)
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
            Window(
                "day", plan.per_day, 86400, plan.per_day - int(d), math.ceil((frame.day_reset - now).total_seconds())
            ),
            Window(
                "month",
                plan.per_month,
                month_days * 86400,
                plan.per_month - int(m),
                math.ceil((frame.month_reset - now).total_seconds()),
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

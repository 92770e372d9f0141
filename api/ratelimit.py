"""Rate limiting with the `limits` library: Redis storage when MUSEED_REDIS_URL is set, in-process memory otherwise."""

from __future__ import annotations

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from museed.settings import Settings


class RateLimiter:
    """Named limits over one storage; `hit` consumes one unit, `test` only looks."""

    def __init__(self, settings: Settings) -> None:
        uri = settings.redis_url or "memory://"
        self.storage = storage_from_string(uri)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.login = parse(settings.login_rate_limit)

    def login_allowed(self, key: str) -> bool:
        """Whether another failed login for `key` is still allowed (does not consume)."""
        return bool(self.limiter.test(self.login, "login", key))

    def login_failed(self, key: str) -> None:
        """Count one failed login for `key`."""
        self.limiter.hit(self.login, "login", key)

    def login_retry_after(self, key: str) -> int:
        """Seconds until `key` may try again."""
        stats = self.limiter.get_window_stats(self.login, "login", key)
        import time

        return max(1, int(stats.reset_time - time.time()))

    def reset(self) -> None:
        """Forget every counter (tests)."""
        self.storage.reset()

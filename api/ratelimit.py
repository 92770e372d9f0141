"""Rate limiting with the `limits` library: Redis storage when MUSEED_REDIS_URL is set, in-process memory otherwise."""

from __future__ import annotations

import time

from limits import RateLimitItem, parse
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
        self.signup = parse(settings.signup_rate_limit)
        #: deployments (and test runs) sharing one Redis keep their counters apart, as the B2B limiter's do
        self.prefix = settings.redis_key_prefix

    def login_allowed(self, key: str) -> bool:
        """Whether another failed login for `key` is still allowed (does not consume)."""
        return bool(self.limiter.test(self.login, self.prefix, "login", key))

    def login_failed(self, key: str) -> None:
        """Count one failed login for `key`."""
        self.limiter.hit(self.login, self.prefix, "login", key)

    def login_retry_after(self, key: str) -> int:
        """Seconds until `key` may try again."""
        return self._retry_after(self.login, "login", key)

    def signup_attempt(self, client: str) -> bool:
        """Count one sign-up attempt from `client`; False (nothing counted) once its allowance is used up."""
        return bool(self.limiter.hit(self.signup, self.prefix, "signup", client))

    def signup_retry_after(self, client: str) -> int:
        """Seconds until `client` may sign up again."""
        return self._retry_after(self.signup, "signup", client)

    def _retry_after(self, item: RateLimitItem, namespace: str, key: str) -> int:
        stats = self.limiter.get_window_stats(item, self.prefix, namespace, key)
        return max(1, int(stats.reset_time - time.time()))

    def reset(self) -> None:
        """Forget every counter (tests)."""
        self.storage.reset()

"""The B2B plans, as configuration in code: rate windows, quotas and the most results a call may ask for."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: the scopes a key can hold
SCOPES = ("recommend", "upload", "trends")
#: rate-limit units an audio-seeded (upload) request costs; every other request costs 1
UPLOAD_UNITS = 10


@dataclass(frozen=True)
class Plan:
    """One plan: burst (per second) and sustained (per minute) rate windows in units, daily and monthly quotas
    in answered queries (a batch of n counts n), and the most results per query."""

    name: str
    burst_per_second: int
    per_minute: int
    per_day: int
    per_month: int
    max_results: int

    def describe(self) -> dict[str, Any]:
        """The plan as `/v1/meta` shows it."""
        return asdict(self)


PLANS: dict[str, Plan] = {
    "free": Plan("free", burst_per_second=5, per_minute=60, per_day=100, per_month=3000, max_results=20),
    "pro": Plan("pro", burst_per_second=50, per_minute=600, per_day=10_000, per_month=300_000, max_results=100),
}

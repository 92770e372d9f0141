"""The B2B plans, as configuration in code: rate windows, quotas and the most results a call may ask for."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: the scopes a key can hold
SCOPES = ("recommend", "upload", "trends")
#: rate units and quota queries an audio-seeded request costs (decoding and encoding the audio is the
#: expensive part); every other request costs 1
UPLOAD_UNITS = 10


@dataclass(frozen=True)
class Plan:
    """One plan: burst (per second) and sustained (per minute) rate windows in units, daily and monthly quotas
    in answered queries (a batch of n counts n), the most results per query, and what an audio seed costs."""

    name: str
    burst_per_second: int
    per_minute: int
    per_day: int
    per_month: int
    max_results: int
    upload_units: int = UPLOAD_UNITS

    def describe(self) -> dict[str, Any]:
        """The plan as `/v1/meta` shows it."""
        return asdict(self)


PLANS: dict[str, Plan] = {
    # a burst of 10 units: one audio-seeded request (UPLOAD_UNITS) fits in a second
    "free": Plan("free", burst_per_second=10, per_minute=60, per_day=100, per_month=3000, max_results=20),
    "pro": Plan("pro", burst_per_second=50, per_minute=600, per_day=10_000, per_month=300_000, max_results=100),
}

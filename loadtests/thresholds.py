"""Judging a run: the measured figures per request name, checked against a profile's thresholds.

`evaluate` works on plain `RequestFigures`, so it is tested with hand-made figures; `measured_figures` reads them
from Locust's stats at the end of a run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from loadtests.profile import ANY_REQUEST, Thresholds

#: request names outside the journey (sign-in, catalog set-up) start with this; they keep their own figures
SETUP_PREFIX = "["


def is_journey(name: str) -> bool:
    """Whether a request name is part of the measured journey (sign-in and set-up requests are not)."""
    return not name.startswith(SETUP_PREFIX)


@dataclass(frozen=True)
class RequestFigures:
    """One request name's figures over the measured window (times in ms)."""

    name: str
    method: str
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rps: float


@dataclass(frozen=True)
class Measured:
    """Every request name's figures and the length of the measured window."""

    requests: tuple[RequestFigures, ...]
    window_seconds: float

    @property
    def total_requests(self) -> int:
        """Requests of every name, sign-in included."""
        return sum(r.requests for r in self.requests)

    @property
    def total_failures(self) -> int:
        """Failed requests of every name, sign-in included."""
        return sum(r.failures for r in self.requests)

    @property
    def error_ratio(self) -> float:
        """Failed share of all requests (0 when there were none)."""
        return self.total_failures / self.total_requests if self.total_requests else 0.0

    @property
    def journey_rps(self) -> float:
        """Requests/s of the journey alone (no sign-in or set-up requests) over the window."""
        n = sum(r.requests for r in self.requests if is_journey(r.name))
        return n / self.window_seconds if self.window_seconds > 0 else 0.0


@dataclass(frozen=True)
class Breach:
    """One threshold a run missed."""

    kind: str
    name: str
    actual: float
    limit: float

    def line(self) -> str:
        """One line saying what was missed, by how much."""
        if self.kind in ("p95", "p99"):
            return f"threshold breach: {self.kind} of {self.name!r} is {self.actual:.1f} ms > {self.limit:g} ms"
        if self.kind == "error_ratio":
            return f"threshold breach: error ratio {self.actual:.4f} > {self.limit:g}"
        return f"threshold breach: journey throughput {self.actual:.2f} requests/s < {self.limit:g}"


def evaluate(measured: Measured, thresholds: Thresholds) -> list[Breach]:
    """Every threshold the figures miss (empty: the run passes).

    Percentile thresholds under the name `"*"` apply to every journey request name; a named threshold whose
    request never ran is not judged (see `unmeasured`). The error ratio counts every request, sign-in included;
    the minimum throughput counts the journey alone.
    """
    breaches: list[Breach] = []
    by_name = {r.name: r for r in measured.requests if r.requests > 0}
    for kind, table in (("p95", thresholds.p95_ms), ("p99", thresholds.p99_ms)):
        for name, limit in table.items():
            if name == ANY_REQUEST:
                targets = [r for r in by_name.values() if is_journey(r.name) and r.name not in table]
            else:
                targets = [by_name[name]] if name in by_name else []
            for figures in targets:
                actual = figures.p95_ms if kind == "p95" else figures.p99_ms
                if actual > limit:
                    breaches.append(Breach(kind, figures.name, actual, limit))
    if thresholds.max_error_ratio is not None and measured.error_ratio > thresholds.max_error_ratio:
        breaches.append(Breach("error_ratio", "*", measured.error_ratio, thresholds.max_error_ratio))
    if thresholds.min_rps is not None and measured.journey_rps < thresholds.min_rps:
        breaches.append(Breach("min_rps", "*", measured.journey_rps, thresholds.min_rps))
    return breaches


def unmeasured(measured: Measured, thresholds: Thresholds) -> list[str]:
    """Request names that have a threshold but no request in the window (reported, not judged)."""
    seen = {r.name for r in measured.requests if r.requests > 0}
    named = (set(thresholds.p95_ms) | set(thresholds.p99_ms)) - {ANY_REQUEST}
    return sorted(named - seen)


def measured_figures(stats: Any) -> Measured:
    """The figures of a Locust `RequestStats` (entries keyed by (name, method); times in ms)."""
    rows = []
    for entry in stats.entries.values():
        if entry.num_requests == 0 and entry.num_failures == 0:
            continue
        rows.append(
            RequestFigures(
                name=entry.name,
                method=entry.method,
                requests=entry.num_requests,
                failures=entry.num_failures,
                p50_ms=float(entry.get_response_time_percentile(0.50) or 0),
                p95_ms=float(entry.get_response_time_percentile(0.95) or 0),
                p99_ms=float(entry.get_response_time_percentile(0.99) or 0),
                rps=float(entry.total_rps),
            )
        )
    total = stats.total
    window = max(0.0, (total.last_request_timestamp or total.start_time) - total.start_time)
    return Measured(requests=tuple(sorted(rows, key=lambda r: r.name)), window_seconds=window)


def report(measured: Measured, thresholds: Thresholds, breaches: Sequence[Breach]) -> dict[str, Any]:
    """A JSON-ready record of the judgement (written next to the CSV reports)."""
    return {
        "passed": not breaches,
        "breaches": [asdict(b) | {"line": b.line()} for b in breaches],
        "unmeasured": unmeasured(measured, thresholds),
        "window_seconds": round(measured.window_seconds, 3),
        "journey_rps": round(measured.journey_rps, 3),
        "error_ratio": round(measured.error_ratio, 6),
        "requests": [
            {k: (round(v, 3) if isinstance(v, float) and math.isfinite(v) else v) for k, v in asdict(r).items()}
            for r in measured.requests
        ],
        "thresholds": asdict(thresholds),
    }

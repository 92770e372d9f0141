"""The measured window, free of Locust imports (Locust monkey-patches the process it is imported into):
the stage plan behind the load shape, the sign-in tracker it waits on, and the stats reset at the window start.

The ramp ends once its time is up, every user is running and every user's sign-in (`on_start`) has finished
(or `max_ramp_wait_seconds` have passed on top); then the stats are reset, keeping only the sign-in and set-up
entries, so the window holds no ramp-up and no sign-in traffic of the ramp.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from loadtests.profile import Profile, Stage
from loadtests.thresholds import is_journey

log = logging.getLogger(__name__)


class SetupTracker:
    """Counts users inside `on_start` (sign-in), so the ramp can wait until none is left."""

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0

    @property
    def pending(self) -> int:
        """Users still signing in."""
        return self.started - self.finished


#: the process-wide tracker the user classes report to
SETUP = SetupTracker()


def reset_measured_window(stats: Any) -> None:
    """Reset Locust's stats for the measured window, keeping the sign-in and set-up entries (reported apart)."""
    stats.total.reset()
    stats.errors = {k: e for k, e in stats.errors.items() if not is_journey(e.name)}
    for entry in stats.entries.values():
        if is_journey(entry.name):
            entry.reset()
    stats.history = []


class StagePlan:
    """A profile's stages as a clock-driven state machine: `tick(now, running)` says how many users to hold."""

    def __init__(
        self, profile: Profile, on_window_start: Callable[[], None] = lambda: None, tracker: SetupTracker = SETUP
    ) -> None:
        self.profile = profile
        self.on_window_start = on_window_start
        self.tracker = tracker
        self.stage = 0
        self.stage_started = 0.0
        self.window_started: float | None = None

    def _ramp_done(self, stage: Stage, elapsed: float, running: int) -> bool:
        if elapsed < stage.seconds:
            return False
        if running >= stage.users and self.tracker.pending == 0:
            return True
        if elapsed >= stage.seconds + self.profile.max_ramp_wait_seconds:
            log.warning("ramp gave up waiting: %d users running, %d still signing in", running, self.tracker.pending)
            return True
        return False

    def tick(self, now: float, running: int) -> tuple[int, float] | None:
        """(users, spawn rate) at run time `now` with `running` users; None once the last stage is over."""
        stages = self.profile.stages
        while self.stage < len(stages):
            stage = stages[self.stage]
            elapsed = now - self.stage_started
            if stage.kind == "ramp":
                if not self._ramp_done(stage, elapsed, running):
                    return stage.users, stage.spawn_rate
            else:
                if self.window_started is None:
                    self.window_started = self.stage_started = now
                    log.info("measured window starts at %.1f s", now)
                    self.on_window_start()
                if now - self.stage_started < stage.seconds:
                    return stage.users, stage.spawn_rate
            self.stage += 1
            self.stage_started = now
        return None

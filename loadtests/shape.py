"""The Locust load shape: the profile's ramp, steady and spike stages (`loadtests.window.StagePlan`), with the
measured window starting after the ramp."""

from __future__ import annotations

from collections.abc import Callable

from locust import LoadTestShape

from loadtests.profile import Profile
from loadtests.window import SETUP, SetupTracker, StagePlan


class ProfileShape(LoadTestShape):
    """Runs a profile's stages in order; `configure` must be called (from the init hook) before the run."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # Locust's LoadTestShape is unannotated
        self.plan: StagePlan | None = None

    def configure(self, profile: Profile, on_window_start: Callable[[], None], tracker: SetupTracker = SETUP) -> None:
        """Take the stages from `profile`; `on_window_start` runs once when the first measured stage begins."""
        self.plan = StagePlan(profile, on_window_start, tracker)

    def tick(self) -> tuple[int, float] | None:
        """(users, spawn rate) of the current stage; None once the last stage is over."""
        if self.plan is None:
            raise RuntimeError("ProfileShape.configure(profile, ...) was not called")
        running = int(self.runner.user_count) if self.runner is not None else 0
        return self.plan.tick(self.get_run_time(), running)  # type: ignore[no-untyped-call]

"""MUSEED load test: `locust -f loadtests/locustfile.py --headless --host URL --loadtest-profile smoke
--csv out/smoke --html out/smoke.html` (or `museed loadtest`, which also builds and serves a library).

The profile (`--loadtest-profile NAME|PATH`, env `LOADTEST_PROFILE`; Locust's own `--profile` is for its cloud)
sets the users, stages, think time and weights at init. At quit its thresholds are judged on the measured
window, one line per breach is printed, and the exit code is 1 on any breach (0 otherwise, whatever Locust
would say of failures within the allowed error ratio).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

# Locust imports this file by path: make the `loadtests` package importable from a plain checkout
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from locust import events  # noqa: E402

from loadtests.profile import load_profile  # noqa: E402
from loadtests.shape import ProfileShape  # noqa: E402
from loadtests.thresholds import evaluate, measured_figures, report, unmeasured  # noqa: E402
from loadtests.users import AnonymousBrowser, B2BClient, ListenerUser, apply_profile  # noqa: E402
from loadtests.window import reset_measured_window  # noqa: E402

__all__ = ["AnonymousBrowser", "B2BClient", "ListenerUser", "ProfileShape"]


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]  # Locust's EventHook is unannotated
def _add_profile_option(parser: Any) -> None:
    parser.add_argument(
        "--loadtest-profile",
        type=str,
        env_var="LOADTEST_PROFILE",
        default="smoke",
        help="load-test profile: a name under loadtests/profiles (smoke, steady, spike) or a .toml path",
    )


@events.init.add_listener  # type: ignore[untyped-decorator]  # Locust's EventHook is unannotated
def _configure(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    profile = load_profile(getattr(options, "loadtest_profile", None) or "smoke")
    environment.museed_profile = profile
    # Locust drops weight-0 classes when the environment is built, before this hook: redo it by the profile
    environment.user_classes[:] = apply_profile(profile, list(environment.user_classes))
    if not environment.user_classes:
        raise SystemExit(f"profile {profile.name}: no user class has weight > 0")
    shape = environment.shape_class
    if isinstance(shape, ProfileShape):
        shape.configure(profile, on_window_start=lambda: reset_measured_window(environment.runner.stats))
    print(
        f"load-test profile {profile.name}: {profile.seconds:.0f} s planned ({profile.measured_seconds:.0f} s "
        f"measured), users {profile.users}, uploads {'on' if profile.uploads else 'off'}",
        flush=True,
    )


@events.quitting.add_listener  # type: ignore[untyped-decorator]  # Locust's EventHook is unannotated
def _judge(environment: Any, **_: Any) -> None:
    profile = getattr(environment, "museed_profile", None)
    if profile is None or environment.runner is None:
        return
    measured = measured_figures(environment.runner.stats)
    breaches = evaluate(measured, profile.thresholds)
    for breach in breaches:
        print(breach.line(), flush=True)
    for name in unmeasured(measured, profile.thresholds):
        print(f"threshold not judged: no {name!r} request in the measured window", flush=True)
    verdict = "FAILED" if breaches else "passed"
    print(
        f"thresholds {verdict}: {len(breaches)} breach(es); journey {measured.journey_rps:.2f} requests/s, "
        f"error ratio {measured.error_ratio:.4f} over {measured.window_seconds:.1f} s",
        flush=True,
    )
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if prefix:
        Path(f"{prefix}_thresholds.json").write_text(
            json.dumps(report(measured, profile.thresholds, breaches), indent=2)
        )
    environment.process_exit_code = 1 if breaches else 0

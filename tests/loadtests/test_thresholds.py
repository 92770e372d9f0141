"""Threshold judgement on hand-made figures, profile checks, the stage plan and the journey's payloads.

Only the Locust-free modules are imported: importing Locust monkey-patches the whole pytest process (gevent).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from loadtests.library import Library, multipart_file, retry_after_seconds, sine_wav
from loadtests.profile import ProfileError, Thresholds, load_profile, parse_profile
from loadtests.thresholds import Measured, RequestFigures, evaluate, measured_figures, unmeasured
from loadtests.window import SetupTracker, StagePlan, reset_measured_window


def fig(name: str, p95: float = 10, p99: float = 20, requests: int = 100, failures: int = 0) -> RequestFigures:
    return RequestFigures(name, name.split()[0], requests, failures, p50_ms=5, p95_ms=p95, p99_ms=p99, rps=10.0)


LIMITS = Thresholds(
    p95_ms={"POST /api/playlists": 50, "*": 30},
    p99_ms={"POST /api/playlists": 150},
    max_error_ratio=0.005,
    min_rps=20.0,
)


def measured(*rows: RequestFigures, seconds: float = 10.0) -> Measured:
    return Measured(requests=rows, window_seconds=seconds)


def kinds(m: Measured, t: Thresholds = LIMITS) -> list[tuple[str, str]]:
    return [(b.kind, b.name) for b in evaluate(m, t)]


def test_a_run_within_every_threshold_passes() -> None:
    m = measured(fig("POST /api/playlists", p95=45, p99=140), fig("GET /api/feed?sort=recent", p95=12, p99=25))
    assert evaluate(m, LIMITS) == []


def test_a_p95_breach_is_detected_by_name_and_by_the_wildcard() -> None:
    m = measured(fig("POST /api/playlists", p95=51), fig("GET /api/feed?sort=recent", p95=31))
    assert kinds(m) == [("p95", "POST /api/playlists"), ("p95", "GET /api/feed?sort=recent")]
    line = evaluate(m, LIMITS)[0].line()
    assert "p95" in line and "POST /api/playlists" in line and "51.0 ms > 50 ms" in line


def test_a_p99_breach_is_detected() -> None:
    assert kinds(measured(fig("POST /api/playlists", p95=40, p99=151), fig("GET /x", p95=1))) == [
        ("p99", "POST /api/playlists")
    ]


def test_the_error_ratio_breach_counts_every_request() -> None:
    m = measured(
        fig("POST /api/playlists", requests=300, failures=1), fig("[sign-in] POST /api/auth/login", failures=2)
    )
    assert m.error_ratio == pytest.approx(3 / 400)
    assert kinds(m) == [("error_ratio", "*")]


def test_the_minimum_throughput_counts_the_journey_only() -> None:
    # 150 journey requests in 10 s = 15/s < 20/s, although 1150 requests were made in all
    m = measured(fig("GET /api/feed?sort=recent", requests=150), fig("[sign-in] POST /api/auth/signup", requests=1000))
    assert kinds(m) == [("min_rps", "*")]
    assert "15.00 requests/s < 20" in evaluate(m, LIMITS)[0].line()


def test_setup_requests_escape_the_wildcard_and_unmeasured_names_are_not_judged() -> None:
    m = measured(fig("[sign-in] POST /api/auth/login", p95=200, requests=300), fig("GET /x", requests=300))
    assert evaluate(m, LIMITS) == []
    assert unmeasured(m, LIMITS) == ["POST /api/playlists"]


class _Entry:
    """The part of Locust's StatsEntry the judgement reads (response times in ms, bucketed by the caller)."""

    def __init__(self, name: str, method: str, times: list[int], failures: int = 0) -> None:
        self.name, self.method, self.times, self.num_failures = name, method, sorted(times), failures
        self.total_rps = len(times) / 10.0

    @property
    def num_requests(self) -> int:
        return len(self.times)

    def get_response_time_percentile(self, p: float) -> int:
        return self.times[min(len(self.times) - 1, int(p * len(self.times)))]

    def reset(self) -> None:
        self.times, self.num_failures = [], 0


class _Stats:
    def __init__(self, *entries: _Entry) -> None:
        self.entries = {(e.name, e.method): e for e in entries}
        self.total = SimpleNamespace(start_time=100.0, last_request_timestamp=110.0, reset=lambda: None)
        self.errors: dict[str, Any] = {
            "a": SimpleNamespace(name="POST /api/playlists"),
            "b": SimpleNamespace(name="[sign-in] POST /api/auth/login"),
        }
        self.history = [1]


def test_figures_come_from_stats_and_the_window_reset_keeps_sign_in() -> None:
    playlists = _Entry("POST /api/playlists", "POST", list(range(1, 101)), failures=2)
    login = _Entry("[sign-in] POST /api/auth/login", "POST", [200] * 10, failures=1)
    stats = _Stats(playlists, login)
    reset_measured_window(stats)  # the ramp's journey traffic goes; sign-in stays
    assert playlists.num_requests == 0 and login.num_requests == 10
    assert [e.name for e in stats.errors.values()] == ["[sign-in] POST /api/auth/login"] and stats.history == []
    playlists.times = [2 * ms for ms in range(1, 101)]
    m = measured_figures(stats)
    by_name = {r.name: r for r in m.requests}
    assert by_name["POST /api/playlists"].p95_ms == 192 and by_name["POST /api/playlists"].p50_ms == 102
    assert by_name["[sign-in] POST /api/auth/login"].failures == 1
    assert m.window_seconds == 10.0 and m.journey_rps == 10.0
    assert kinds(m, Thresholds(p95_ms={"POST /api/playlists": 150})) == [("p95", "POST /api/playlists")]


def test_the_shipped_profiles_read_and_keep_uploads_apart() -> None:
    for name in ("smoke", "steady", "spike", "uploads", "overload"):
        profile = load_profile(name)
        assert profile.stages[0].kind == "ramp"
        assert profile.users["b2b"] == 0  # B2B load is its own profile (benchmarks.server_stack adds it)
        assert (profile.task_weights("listener")["upload"] > 0) == (name == "uploads")
    steady = load_profile("steady")
    assert steady.stages[1].users == 50 and steady.measured_seconds == 60
    b2b = load_profile("b2b")  # issue 13's figure: 50 B2B clients alone, one request a second each
    assert b2b.users == {"listener": 0, "anonymous": 0, "b2b": 1} and b2b.stages[1].users == 50
    assert b2b.think_time == (1.0, 1.0) and b2b.thresholds.p95_ms["*"] == 50


def test_profiles_refuse_typos_and_ramps_inside_the_window(tmp_path: Path) -> None:
    base = {"stages": [{"kind": "ramp", "users": 2, "seconds": 1}, {"kind": "steady", "users": 2, "seconds": 1}]}
    parse_profile(base)
    with pytest.raises(ProfileError, match="unknown key"):
        parse_profile({**base, "thresholds": {"p95": {"*": 1}}})
    with pytest.raises(ProfileError, match="ramp stages must come before"):
        parse_profile({"stages": [*base["stages"], {"kind": "ramp", "users": 4, "seconds": 1}]})
    with pytest.raises(ProfileError, match="unknown profile"):
        load_profile("no-such-profile")
    bad = tmp_path / "bad.toml"
    bad.write_text("stages = [")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(bad)


def test_the_stage_plan_waits_for_sign_ins_then_resets_once_and_runs_each_stage() -> None:
    profile = parse_profile(
        {
            "max_ramp_wait_seconds": 100,
            "stages": [
                {"kind": "ramp", "users": 4, "seconds": 2},
                {"kind": "steady", "users": 4, "seconds": 5},
                {"kind": "spike", "users": 12, "seconds": 3, "spawn_rate": 12},
            ],
        }
    )
    tracker, resets = SetupTracker(), []
    now = 0.0
    plan = StagePlan(profile, on_window_start=lambda: resets.append(now), tracker=tracker)
    tracker.started, tracker.finished = 4, 3  # one user still signing in
    assert plan.tick(0.0, running=2) == (4, 2.0)
    now = 3.0
    assert plan.tick(now, running=4) == (4, 2.0) and resets == []  # ramp time is up, a sign-in is pending
    tracker.finished = 4
    now = 3.5
    assert plan.tick(now, running=4) == (4, 4.0) and resets == [3.5]
    assert plan.tick(8.6, running=4) == (12, 12.0)
    assert plan.tick(11.7, running=12) is None
    assert resets == [3.5] and plan.window_started == 3.5


def test_a_ramp_that_never_completes_gives_up_after_the_wait() -> None:
    profile = parse_profile(
        {
            "max_ramp_wait_seconds": 5,
            "stages": [{"kind": "ramp", "users": 4, "seconds": 2}, {"kind": "steady", "users": 4, "seconds": 5}],
        }
    )
    plan = StagePlan(profile, tracker=SetupTracker())
    assert plan.tick(6.9, running=3) == (4, 2.0)
    assert plan.tick(7.0, running=3) == (4, 4.0) and plan.window_started == 7.0


def test_retry_after_is_honoured_within_a_cap() -> None:
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) == 1.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 1.0
    assert retry_after_seconds("600", cap=60) == 60.0


def test_search_terms_come_from_catalog_words_weighted_by_use() -> None:
    import random

    library = Library()
    library.add_tracks(
        [
            {"track_id": i, "title": f"The Blue Road {i}", "artist": "The Owls", "album": None, "genre_top": "Rock"}
            for i in range(1, 11)
        ]
    )
    rng = random.Random(0)
    terms = [library.search_terms(rng) for _ in range(200)]
    words = {w for t in terms for w in t.split()}
    assert words <= set(library.words)
    assert sum(t.split()[0] == "the" for t in terms) > 40  # the commonest word comes up most
    assert 1 <= len(library.seeds(rng)) <= 3 and library.genres == ["Rock"]


def test_the_upload_clip_is_a_wav_in_a_multipart_body() -> None:
    clip = sine_wav(0.5)
    assert clip[:4] == b"RIFF" and clip[8:12] == b"WAVE"
    body, content_type = multipart_file("file", "a.wav", clip, "audio/wav")
    boundary = content_type.split("boundary=")[1]
    assert body.startswith(f"--{boundary}\r\n".encode()) and body.endswith(f"--{boundary}--\r\n".encode())

"""Load-test profiles: one TOML file per scenario (loadtests/profiles/*.toml) holding the stages, think time, user
and task weights and the pass/fail thresholds. Read with the standard library only (tomllib)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

#: where the named profiles live
PROFILES_DIR = Path(__file__).resolve().parent / "profiles"

StageKind = Literal["ramp", "steady", "spike"]
_STAGE_KINDS: tuple[StageKind, ...] = ("ramp", "steady", "spike")

#: the user classes and their tasks a profile may weight (the names the TOML tables use)
USER_CLASSES = ("listener", "anonymous", "b2b")
LISTENER_TASKS = (
    "search",
    "create_playlist",
    "open_playlist",
    "publish",
    "like",
    "follow",
    "feed_recent",
    "feed_liked",
    "following_feed",
    "upload",
)
ANONYMOUS_TASKS = ("feed_recent", "feed_liked", "open_playlist")
#: a threshold under this request name applies to every measured request name
ANY_REQUEST = "*"


class ProfileError(ValueError):
    """A profile file is missing or says something the load test cannot do."""


@dataclass(frozen=True)
class Stage:
    """One stage of the load shape: hold `users` for `seconds` (ramp stages grow to `users` at `spawn_rate`)."""

    kind: StageKind
    users: int
    seconds: float
    spawn_rate: float

    @property
    def measured(self) -> bool:
        """Ramp stages are outside the measured window; steady and spike stages inside it."""
        return self.kind != "ramp"


@dataclass(frozen=True)
class Thresholds:
    """What a run must meet: percentiles per request name (ms), the error ratio, the journey's throughput."""

    p95_ms: dict[str, float] = field(default_factory=dict)
    p99_ms: dict[str, float] = field(default_factory=dict)
    max_error_ratio: float | None = None
    min_rps: float | None = None


@dataclass(frozen=True)
class B2BSettings:
    """Where the B2B client sends its requests."""

    path: str = "/v1/recommendations"
    size: int = 20
    #: the API key is read from this environment variable (sent as `Authorization: Bearer <key>`)
    api_key_env: str = "LOADTEST_B2B_API_KEY"
    max_retry_after_seconds: float = 60.0


@dataclass(frozen=True)
class Profile:
    """A load-test scenario as read from its TOML file."""

    name: str
    description: str
    stages: tuple[Stage, ...]
    think_time: tuple[float, float]
    users: dict[str, int]
    listener: dict[str, int]
    anonymous: dict[str, int]
    thresholds: Thresholds
    uploads: bool = False
    upload_seconds: float = 3.0
    #: longest the ramp may wait past its time for every user's sign-in to finish
    max_ramp_wait_seconds: float = 60.0
    b2b: B2BSettings = B2BSettings()
    source: Path | None = None

    @property
    def seconds(self) -> float:
        """The planned length of the run (without any wait for slow sign-ins)."""
        return sum(s.seconds for s in self.stages)

    @property
    def measured_seconds(self) -> float:
        """The planned length of the measured window."""
        return sum(s.seconds for s in self.stages if s.measured)

    def task_weights(self, user_class: str) -> dict[str, int]:
        """The effective task weights of a user class (uploads only when the profile enables them)."""
        if user_class == "listener":
            weights = dict(self.listener)
            if not self.uploads:
                weights["upload"] = 0
            return weights
        if user_class == "anonymous":
            return dict(self.anonymous)
        raise ProfileError(f"user class {user_class!r} has no task weights")


def resolve_profile_path(profile: str | Path) -> Path:
    """A profile's file: an existing path as given, else `loadtests/profiles/<name>.toml`."""
    path = Path(profile)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ProfileError(f"profile file {path} does not exist")
        return path
    named = PROFILES_DIR / f"{profile}.toml"
    if not named.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
        raise ProfileError(f"unknown profile {profile!r}: use one of {known} or a path to a .toml file")
    return named


def load_profile(profile: str | Path) -> Profile:
    """Read and check a profile (a name under loadtests/profiles or a path to a TOML file)."""
    path = resolve_profile_path(profile)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML ({exc})") from exc
    try:
        return parse_profile(raw, default_name=path.stem, source=path)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from exc


def parse_profile(raw: dict[str, Any], default_name: str = "profile", source: Path | None = None) -> Profile:
    """A `Profile` from the TOML tables; unknown keys are refused so a typo cannot silently weaken a run."""
    _only(
        raw,
        {
            "name",
            "description",
            "stages",
            "think_time",
            "users",
            "listener",
            "anonymous",
            "thresholds",
            "uploads",
            "upload_seconds",
            "max_ramp_wait_seconds",
            "b2b",
        },
        "profile",
    )
    stages = tuple(_stage(s, i) for i, s in enumerate(raw.get("stages", [])))
    if not stages:
        raise ProfileError("a profile needs at least one [[stages]] entry")
    kinds = [s.kind for s in stages]
    first_measured = next((i for i, k in enumerate(kinds) if k != "ramp"), len(kinds))
    if "ramp" in kinds[first_measured:]:
        raise ProfileError("ramp stages must come before the steady and spike stages (the window excludes them)")
    if first_measured == len(kinds):
        raise ProfileError("a profile needs a steady or spike stage to measure")
    think = raw.get("think_time", [1.0, 1.0])
    if not (isinstance(think, list) and len(think) == 2 and 0 <= _num(think[0]) <= _num(think[1])):
        raise ProfileError("think_time must be [min, max] seconds with 0 <= min <= max")
    users = _weights(raw.get("users", {"listener": 1}), USER_CLASSES, "users")
    if not any(users.values()):
        raise ProfileError("[users] gives every user class weight 0")
    listener = _weights(raw.get("listener", {}), LISTENER_TASKS, "listener", default=1)
    anonymous = _weights(raw.get("anonymous", {}), ANONYMOUS_TASKS, "anonymous", default=1)
    uploads = bool(raw.get("uploads", False))
    for cls, weights in (("listener", listener), ("anonymous", anonymous)):
        effective = {k: v for k, v in weights.items() if uploads or k != "upload"}
        if users.get(cls, 0) and not any(effective.values()):
            raise ProfileError(f"[{cls}] gives every task weight 0 but [users] runs {cls} users")
    b2b_raw = raw.get("b2b", {})
    _only(b2b_raw, {"path", "size", "api_key_env", "max_retry_after_seconds"}, "b2b")
    return Profile(
        name=str(raw.get("name", default_name)),
        description=str(raw.get("description", "")),
        stages=stages,
        think_time=(_num(think[0]), _num(think[1])),
        users=users,
        listener=listener,
        anonymous=anonymous,
        thresholds=_thresholds(raw.get("thresholds", {})),
        uploads=uploads,
        upload_seconds=_num(raw.get("upload_seconds", 3.0)),
        max_ramp_wait_seconds=_num(raw.get("max_ramp_wait_seconds", 60.0)),
        b2b=B2BSettings(**b2b_raw),
        source=source,
    )


def _stage(raw: Any, i: int) -> Stage:
    if not isinstance(raw, dict):
        raise ProfileError(f"stage {i}: expected a table")
    _only(raw, {"kind", "users", "seconds", "spawn_rate"}, f"stage {i}")
    kind = raw.get("kind")
    if kind not in _STAGE_KINDS:
        raise ProfileError(f"stage {i}: kind must be one of {', '.join(_STAGE_KINDS)}")
    users, seconds = int(raw.get("users", 0)), _num(raw.get("seconds", 0))
    if users < 1 or seconds <= 0:
        raise ProfileError(f"stage {i}: users must be >= 1 and seconds > 0")
    # a ramp grows evenly over its time; other stages change the user count at once
    rate = _num(raw.get("spawn_rate", users / seconds if kind == "ramp" else users))
    if rate <= 0:
        raise ProfileError(f"stage {i}: spawn_rate must be > 0")
    return Stage(kind=kind, users=users, seconds=seconds, spawn_rate=rate)


def _thresholds(raw: Any) -> Thresholds:
    _only(raw, {"p95_ms", "p99_ms", "max_error_ratio", "min_rps"}, "thresholds")
    percentiles = {}
    for key in ("p95_ms", "p99_ms"):
        table = raw.get(key, {})
        if not isinstance(table, dict):
            raise ProfileError(f"thresholds.{key} must be a table of request name = milliseconds")
        percentiles[key] = {str(k): _num(v) for k, v in table.items()}
    err = raw.get("max_error_ratio")
    if err is not None and not 0 <= _num(err) <= 1:
        raise ProfileError("thresholds.max_error_ratio must be between 0 and 1")
    rps = raw.get("min_rps")
    return Thresholds(
        p95_ms=percentiles["p95_ms"],
        p99_ms=percentiles["p99_ms"],
        max_error_ratio=None if err is None else _num(err),
        min_rps=None if rps is None else _num(rps),
    )


def _weights(raw: Any, names: tuple[str, ...], table: str, default: int = 0) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise ProfileError(f"[{table}] must be a table of name = weight")
    _only(raw, set(names), table)
    weights = {name: int(raw.get(name, default)) for name in names}
    if any(w < 0 for w in weights.values()):
        raise ProfileError(f"[{table}] weights must be >= 0")
    return weights


def _only(raw: Any, allowed: set[str], where: str) -> None:
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: expected a table")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ProfileError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")


def _num(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(f"expected a number, got {value!r}")
    return float(value)

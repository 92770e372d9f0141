"""The simulated users: a signed-in listener's journey, an anonymous browser of public playlists, and the B2B
client of the recommendations API.

Request names are stable ("METHOD /path/{param}") so thresholds key on them; names in brackets
("[sign-in] ...", "[setup] ...") are outside the journey and keep their own figures. Task weights, think time and
class weights come from the profile (`apply_profile`), not from decorators.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlencode

import gevent
import gevent.lock
from locust import FastHttpUser, between, constant
from locust.exception import StopUser

from loadtests.library import MAX_PAGES, PAGE_SIZE, Library, multipart_file, retry_after_seconds, sine_wav
from loadtests.profile import Profile
from loadtests.window import SETUP

#: the WAV every upload sends, generated once per process (its length comes from the profile)
_UPLOAD_CLIP: dict[float, bytes] = {}
_PASSWORD = "loadtest-password-123"
_SEEN = 50  # public playlists each user remembers from the feeds it read

SIGNUP = "[sign-in] POST /api/auth/signup"
LOGIN = "[sign-in] POST /api/auth/login"
REFRESH = "[sign-in] POST /api/auth/refresh"


class SharedLibrary:
    """The process-wide `Library`, fetched by the first user that needs it while the others wait."""

    def __init__(self) -> None:
        self.library: Library | None = None
        self._lock = gevent.lock.BoundedSemaphore()

    def get(self, client: Any) -> Library:
        """The library, read through `client` (a Locust HTTP client) on first use."""
        with self._lock:
            if self.library is None:
                self.library = fetch_library(client)
            return self.library


def fetch_library(client: Any) -> Library:
    """Read up to MAX_PAGES catalog pages, reported under one set-up request name."""
    library = Library()
    for page in range(MAX_PAGES):
        with client.get(
            f"/api/tracks?limit={PAGE_SIZE}&offset={page * PAGE_SIZE}",
            name="[setup] GET /api/tracks",
            catch_response=True,
        ) as resp:
            if resp.status_code != 200:
                resp.failure(f"catalog page {page}: HTTP {resp.status_code}")
                break
            body = resp.json()
            library.add_tracks(body.get("items", []))
            if (page + 1) * PAGE_SIZE >= int(body.get("total", 0)):
                break
    return library


LIBRARY = SharedLibrary()


class _FeedReader(FastHttpUser):
    """What listeners and anonymous browsers share: reading the public feed and opening playlists seen there."""

    abstract = True
    wait_time = constant(1.0)
    profile: ClassVar[Profile | None] = None
    #: B2B users started in this Locust process (which key the next one takes)
    _started: ClassVar[int] = 0

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.rng = random.Random()
        self.me: str | None = None
        self.seen: deque[dict[str, Any]] = deque(maxlen=_SEEN)

    def _read_feed(self, sort: str) -> None:
        with self.client.get(f"/api/feed?sort={sort}", name=f"GET /api/feed?sort={sort}", catch_response=True) as r:
            if r.status_code == 200:
                self._remember(r.json())

    def _remember(self, summaries: list[dict[str, Any]]) -> None:
        for item in summaries:
            if item.get("visibility") == "public":
                self.seen.append({"id": item["id"], "owner_id": item.get("owner_id")})

    def _others_public(self) -> list[dict[str, Any]]:
        return [p for p in self.seen if p["owner_id"] != self.me]

    def feed_recent(self) -> None:
        """The public feed, newest first."""
        self._read_feed("recent")

    def feed_liked(self) -> None:
        """The public feed, most liked first."""
        self._read_feed("liked")

    def open_public(self) -> None:
        """Open a public playlist seen in a feed (reads the feed first when none was seen)."""
        others = self._others_public()
        if not others:
            self._read_feed("recent")
            others = self._others_public()
        if others:
            self.client.get(f"/api/playlists/{self.rng.choice(others)['id']}", name="GET /api/playlists/{id}")


class ListenerUser(_FeedReader):
    """Signs up and in once (outside the measured window), then searches, makes playlists, publishes, likes,
    follows and reads feeds; uploads a short clip when the profile enables uploads."""

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.library = Library()
        self.mine: list[dict[str, Any]] = []
        self.search_hits: list[int] = []
        self.followed: set[str] = set()
        self.liked: set[str] = set()
        self.refresh_token: str | None = None
        self.expires_at = 0.0

    def on_start(self) -> None:
        """Sign up and in (named `[sign-in] ...`), then learn the catalog once per process."""
        SETUP.started += 1
        try:
            email = f"lt-{uuid.uuid4().hex}@loadtest.example"
            with self.client.post(
                "/api/auth/signup",
                json={"email": email, "password": _PASSWORD, "display_name": f"Load test {email[3:11]}"},
                name=SIGNUP,
                catch_response=True,
            ) as r:
                if r.status_code != 201:
                    r.failure(f"signup: HTTP {r.status_code}")
                    raise StopUser()
                self.me = r.json()["id"]
            with self.client.post(
                "/api/auth/login", json={"email": email, "password": _PASSWORD}, name=LOGIN, catch_response=True
            ) as r:
                if r.status_code != 200:
                    r.failure(f"login: HTTP {r.status_code}")
                    raise StopUser()
                self._take_tokens(r.json())
            self.library = LIBRARY.get(self.client)
        finally:
            SETUP.finished += 1

    def _take_tokens(self, body: dict[str, Any]) -> None:
        self.client.auth_header = f"Bearer {body['access_token']}"
        self.refresh_token = body["refresh_token"]
        self.expires_at = time.monotonic() + float(body.get("expires_in", 900))

    def _keep_signed_in(self) -> None:
        # long runs outlive the access token: rotate it shortly before it expires
        if self.refresh_token and time.monotonic() > self.expires_at - 30:
            with self.client.post(
                "/api/auth/refresh", json={"refresh_token": self.refresh_token}, name=REFRESH, catch_response=True
            ) as r:
                if r.status_code == 200:
                    self._take_tokens(r.json())

    def search(self) -> None:
        """Search the library for catalog words; one search in five also filters by genre."""
        self._keep_signed_in()
        q = self.library.search_terms(self.rng)
        if self.library.genres and self.rng.random() < 0.2:
            genre = self.rng.choice(self.library.genres)
            url, name = f"/api/tracks?{urlencode({'q': q, 'genre': genre})}", "GET /api/tracks?q=&genre="
        else:
            url, name = f"/api/tracks?{urlencode({'q': q})}", "GET /api/tracks?q="
        with self.client.get(url, name=name, catch_response=True) as r:
            if r.status_code == 200:
                self.search_hits = [int(t["track_id"]) for t in r.json().get("items", [])][:20]

    def create_playlist(self) -> None:
        """A playlist from 1..3 seeds (a search hit when there is one, the rest from the catalog)."""
        self._keep_signed_in()
        seeds = self.library.seeds(self.rng)
        if self.search_hits and self.rng.random() < 0.5:
            seeds = list(dict.fromkeys([self.rng.choice(self.search_hits), *seeds]))[:3]
        if not seeds:
            return
        body = {"seed_track_ids": seeds, "size": self.rng.choice([10, 20])}
        with self.client.post("/api/playlists", json=body, name="POST /api/playlists", catch_response=True) as r:
            if r.status_code == 201:
                self.mine.append({"id": r.json()["id"], "visibility": "private"})

    def open_playlist(self) -> None:
        """Open one of my playlists, or a public one seen in a feed."""
        self._keep_signed_in()
        if self.mine and (self.rng.random() < 0.5 or not self._others_public()):
            self.client.get(f"/api/playlists/{self.rng.choice(self.mine)['id']}", name="GET /api/playlists/{id}")
        else:
            self.open_public()

    def publish(self) -> None:
        """Make one of my private playlists public."""
        self._keep_signed_in()
        private = [p for p in self.mine if p["visibility"] == "private"]
        if not private:
            return
        playlist = self.rng.choice(private)
        with self.client.patch(
            f"/api/playlists/{playlist['id']}",
            json={"visibility": "public"},
            name="PATCH /api/playlists/{id}",
            catch_response=True,
        ) as r:
            if r.status_code == 200:
                playlist["visibility"] = "public"

    def like(self) -> None:
        """Like someone else's public playlist seen in a feed."""
        self._keep_signed_in()
        candidates = [p for p in self._others_public() if p["id"] not in self.liked]
        if not candidates:
            self._read_feed(self.rng.choice(["recent", "liked"]))
            candidates = [p for p in self._others_public() if p["id"] not in self.liked]
        if candidates:
            playlist = self.rng.choice(candidates)
            self.client.put(f"/api/playlists/{playlist['id']}/like", name="PUT /api/playlists/{id}/like")
            self.liked.add(playlist["id"])

    def follow(self) -> None:
        """Follow the owner of a public playlist seen in a feed."""
        self._keep_signed_in()
        owners = {p["owner_id"] for p in self._others_public() if p["owner_id"]} - self.followed
        if owners:
            owner = self.rng.choice(sorted(owners))
            self.client.put(f"/api/users/{owner}/follow", name="PUT /api/users/{id}/follow")
            self.followed.add(owner)

    def following_feed(self) -> None:
        """Public playlists of the people I follow."""
        self._keep_signed_in()
        with self.client.get("/api/feed/following", name="GET /api/feed/following", catch_response=True) as r:
            if r.status_code == 200:
                self._remember(r.json())

    def upload(self) -> None:
        """Upload a short generated WAV (decoded and embedded by the service)."""
        self._keep_signed_in()
        seconds = self.profile.upload_seconds if self.profile else 3.0
        clip = _UPLOAD_CLIP.setdefault(seconds, sine_wav(seconds))
        body, content_type = multipart_file("file", "loadtest.wav", clip, "audio/wav")
        # a bytes body goes out as is (geventhttpclient), though Locust's hint says str
        self.client.post(
            "/api/uploads",
            data=body,  # type: ignore[arg-type]
            headers={"Content-Type": content_type},
            name="POST /api/uploads",
        )

    def feed_recent(self) -> None:
        """The public feed, newest first."""
        self._keep_signed_in()
        self._read_feed("recent")

    def feed_liked(self) -> None:
        """The public feed, most liked first."""
        self._keep_signed_in()
        self._read_feed("liked")


class AnonymousBrowser(_FeedReader):
    """Reads the public feed and opens public playlists, signed out."""

    def open_playlist(self) -> None:
        """Open a public playlist seen in a feed."""
        self.open_public()


class B2BClient(FastHttpUser):
    """A business client of `/v1/recommendations`: honours `Retry-After` on 429 by sleeping that long, and reports
    429 answers under their own name (`... [429]`, not failures) so throttling and service time stay apart."""

    wait_time = constant(1.0)
    profile: ClassVar[Profile | None] = None
    #: B2B users started in this Locust process (which key the next one takes)
    _started: ClassVar[int] = 0

    def on_start(self) -> None:
        """Learn the catalog's track ids (through the public search) once per process."""
        self.rng = random.Random()
        SETUP.started += 1
        try:
            self.library = LIBRARY.get(self.client)
        finally:
            SETUP.finished += 1
        # one key, or several separated by commas: each user takes the next (a key's plan limits its own rate)
        raw = os.environ.get(self.profile.b2b.api_key_env if self.profile else "LOADTEST_B2B_API_KEY", "")
        keys = [k.strip() for k in raw.split(",") if k.strip()]
        if keys:
            B2BClient._started += 1
            self.client.auth_header = f"Bearer {keys[(B2BClient._started - 1) % len(keys)]}"

    def recommend(self) -> None:
        """One recommendation request from 1..3 seed tracks."""
        b2b = self.profile.b2b if self.profile else None
        path = b2b.path if b2b else "/v1/recommendations"
        name = f"POST {path}"
        body = {"seed_track_ids": self.library.seeds(self.rng), "count": b2b.size if b2b else 20}
        with self.client.post(path, json=body, name=name, catch_response=True) as r:
            if r.status_code == 429:
                # throttled as agreed: report apart and back off for as long as the service asks
                r.request_meta["name"] = f"{name} [429]"
                r.success()
                gevent.sleep(
                    retry_after_seconds(r.headers.get("Retry-After"), b2b.max_retry_after_seconds if b2b else 60)
                )


#: the profile's task names per user class, mapped to the methods that run them
_TASKS: dict[type[FastHttpUser], tuple[str, dict[str, Callable[..., None]]]] = {
    ListenerUser: (
        "listener",
        {
            "search": ListenerUser.search,
            "create_playlist": ListenerUser.create_playlist,
            "open_playlist": ListenerUser.open_playlist,
            "publish": ListenerUser.publish,
            "like": ListenerUser.like,
            "follow": ListenerUser.follow,
            "feed_recent": ListenerUser.feed_recent,
            "feed_liked": ListenerUser.feed_liked,
            "following_feed": ListenerUser.following_feed,
            "upload": ListenerUser.upload,
        },
    ),
    AnonymousBrowser: (
        "anonymous",
        {
            "feed_recent": AnonymousBrowser.feed_recent,
            "feed_liked": AnonymousBrowser.feed_liked,
            "open_playlist": AnonymousBrowser.open_playlist,
        },
    ),
}
_CLASS_KEYS: dict[type[FastHttpUser], str] = {ListenerUser: "listener", AnonymousBrowser: "anonymous", B2BClient: "b2b"}
USER_CLASSES: tuple[Any, ...] = (ListenerUser, AnonymousBrowser, B2BClient)


def apply_profile(profile: Profile, user_classes: list[type[Any]]) -> list[type[Any]]:
    """Set class weights, task weights and think time from `profile`; returns the classes with weight > 0 (the
    list Locust should spawn from)."""
    low, high = profile.think_time
    wait = constant(low) if low == high else between(low, high)
    for cls in USER_CLASSES:
        cls.profile = profile
        cls.weight = profile.users.get(_CLASS_KEYS[cls], 0)
        cls.wait_time = wait
        if cls in _TASKS:
            key, methods = _TASKS[cls]
            weights = profile.task_weights(key)
            cls.tasks = [methods[name] for name, w in weights.items() for _ in range(w)]
    B2BClient.tasks = [B2BClient.recommend]
    return [cls for cls in user_classes if getattr(cls, "weight", 1) > 0 or getattr(cls, "fixed_count", 0) > 0]

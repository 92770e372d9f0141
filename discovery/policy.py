"""The playlist policy: which ranked candidates may enter a playlist, in which order, and, when fewer than asked
for survive, how many each rule dropped (the explained shortfall)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from discovery.options import NEAR_DUPLICATE_COSINE, DiscoveryOptions
from discovery.titles import version_key
from discovery.tracks import UNKNOWN, Candidates, Tracks

#: every rule that can drop a candidate, in the order the policy applies them, with the words a shortfall uses
RULES: Final[dict[str, str]] = {
    "below_threshold": "scored below the similarity threshold",
    "seed": "is a seed",
    "excluded": "was in exclude_track_ids",
    "blocked_track": "is a blocked track",
    "blocked_artist": "is by a blocked artist",
    "alternate_version": "is another version of a seed or an earlier pick",
    "near_duplicate": "is a near-duplicate of a seed or an earlier pick",
    "max_per_artist": "would exceed max_per_artist",
    "max_per_album": "would exceed max_per_album",
    "artist_gap": "could not be placed min_artist_gap tracks after the same artist",
}


@dataclass(frozen=True)
class Blocklist:
    """What a listener or an organisation never wants to hear (the caller merges the user's and the org's)."""

    artist_ids: frozenset[int] = frozenset()
    track_ids: frozenset[int] = frozenset()

    @classmethod
    def merged(cls, *lists: Blocklist) -> Blocklist:
        """One blocklist holding everything in `lists`."""
        return cls(
            artist_ids=frozenset().union(*(b.artist_ids for b in lists)),
            track_ids=frozenset().union(*(b.track_ids for b in lists)),
        )


@dataclass(frozen=True)
class PolicyResult:
    """The rows of the candidates that made the playlist, in playlist order, and what every rule dropped."""

    requested: int
    rows: list[int]
    track_ids: list[int]
    scores: list[float]
    considered: int
    dropped: dict[str, int] = field(default_factory=dict)  # rule -> candidates it dropped (every rule listed)

    @property
    def shortfall(self) -> int:
        """How many tracks short of `requested` the playlist is (0 when complete)."""
        return max(0, self.requested - len(self.rows))

    def explanation(self) -> str | None:
        """Why the playlist is short, in words (None when it is complete)."""
        if not self.shortfall:
            return None
        reasons = [f"{n} {RULES[rule]}" for rule, n in self.dropped.items() if n]
        text = f"asked for {self.requested}, found {len(self.rows)} of {self.considered} candidates"
        return text + (": " + "; ".join(reasons) if reasons else ": no more candidates matched")


def apply_policy(
    candidates: Candidates,
    n: int,
    options: DiscoveryOptions,
    *,
    seeds: Tracks | None = None,
    blocklist: Blocklist | None = None,
    already_dropped: Mapping[str, int] | None = None,
) -> PolicyResult:
    """Walk the candidates in their order and fill `n` positions, applying every rule of `options`.

    Static rules (seeds, exclusions, blocklists) drop a candidate outright; versions, near-duplicates and the caps
    compare it with the seeds and the picks so far; the artist gap defers a candidate to a later position and drops
    it only when it never fits. `already_dropped` carries counts from earlier stages (the threshold) into the
    explanation.
    """
    if n < 1:
        raise ValueError("a playlist needs at least one track")
    block = blocklist or Blocklist()
    dropped = dict.fromkeys(RULES, 0)
    for earlier, count in (already_dropped or {}).items():
        dropped[earlier] += count
    seed_ids = set() if seeds is None else {int(t) for t in seeds.track_ids}
    excluded = set(options.exclude_track_ids)

    pending: list[int] = []
    for row in range(len(candidates)):
        rule = _static_rule(candidates, row, seed_ids, excluded, block)
        if rule:
            dropped[rule] += 1
        else:
            pending.append(row)

    state = _Picks(candidates, options, seeds)
    while len(state.rows) < n and pending:
        placed = None
        for j, row in enumerate(pending):
            rule = state.rule_against(row)
            if rule == "artist_gap":
                continue  # may fit a later position
            if rule:
                dropped[rule] += 1
                pending[j] = -1
                continue
            placed = j
            break
        if placed is None:
            dropped["artist_gap"] += sum(1 for r in pending if r >= 0)
            pending = []
            break
        state.add(pending[placed])
        pending = [r for i, r in enumerate(pending) if r >= 0 and i != placed]

    return PolicyResult(
        requested=n,
        rows=state.rows,
        track_ids=[int(candidates.track_ids[r]) for r in state.rows],
        scores=[float(candidates.scores[r]) for r in state.rows],
        considered=len(candidates) + sum((already_dropped or {}).values()),
        dropped=dropped,
    )


def _static_rule(
    candidates: Candidates, row: int, seed_ids: set[int], excluded: set[int], block: Blocklist
) -> str | None:
    track = int(candidates.track_ids[row])
    artist = int(candidates.artist_ids[row])
    if track in seed_ids:
        return "seed"
    if track in excluded:
        return "excluded"
    if track in block.track_ids:
        return "blocked_track"
    if artist != UNKNOWN and artist in block.artist_ids:
        return "blocked_artist"
    return None


class _Picks:
    """The playlist so far, with what the relative rules compare a new candidate against."""

    def __init__(self, candidates: Candidates, options: DiscoveryOptions, seeds: Tracks | None) -> None:
        self.candidates = candidates
        self.options = options
        self.rows: list[int] = []
        self.keys = _version_keys(candidates.titles, candidates.artist_names)
        seed_keys = _version_keys(seeds.titles, seeds.artist_names) if seeds is not None else []
        self.taken_keys = {k for k in seed_keys if k}
        self.taken_vectors: list[np.ndarray] = [] if seeds is None else list(seeds.vectors)
        self.per_artist: dict[int, int] = {}
        self.per_album: dict[int, int] = {}
        self.last_position: dict[int, int] = {}

    def rule_against(self, row: int) -> str | None:
        """The first rule that keeps `row` out of the next position (None: it may go there)."""
        c, o = self.candidates, self.options
        if o.exclude_alternate_versions and self.keys[row] and self.keys[row] in self.taken_keys:
            return "alternate_version"
        if o.exclude_near_duplicates and self.taken_vectors:
            nearest = float(np.max(np.stack(self.taken_vectors) @ c.vectors[row]))
            if nearest >= NEAR_DUPLICATE_COSINE:
                return "near_duplicate"
        artist, album = int(c.artist_ids[row]), int(c.album_ids[row])
        if o.max_per_artist is not None and artist != UNKNOWN and self.per_artist.get(artist, 0) >= o.max_per_artist:
            return "max_per_artist"
        if o.max_per_album is not None and album != UNKNOWN and self.per_album.get(album, 0) >= o.max_per_album:
            return "max_per_album"
        last = self.last_position.get(artist) if artist != UNKNOWN else None
        if o.min_artist_gap and last is not None and len(self.rows) - last - 1 < o.min_artist_gap:
            return "artist_gap"
        return None

    def add(self, row: int) -> None:
        c = self.candidates
        artist, album = int(c.artist_ids[row]), int(c.album_ids[row])
        self.last_position[artist] = len(self.rows)
        self.rows.append(row)
        if self.keys[row]:
            self.taken_keys.add(self.keys[row])
        self.taken_vectors.append(c.vectors[row])
        self.per_artist[artist] = self.per_artist.get(artist, 0) + 1
        self.per_album[album] = self.per_album.get(album, 0) + 1


def _version_keys(titles: Iterable[str], artists: Iterable[str]) -> list[str]:
    return [version_key(t, a) if t else "" for t, a in zip(titles, artists, strict=True)]


def violates_artist_gap(artist_ids: Iterable[int], min_gap: int) -> bool:
    """Whether an order puts two tracks by one (known) artist fewer than `min_gap` tracks apart."""
    last: dict[int, int] = {}
    for position, artist in enumerate(int(a) for a in artist_ids):
        if artist != UNKNOWN and artist in last and position - last[artist] - 1 < min_gap:
            return True
        last[artist] = position
    return False

"""Badge rules, the genre mix behind the pie chart and the genre avatar."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from api.badges.repository import BadgeRepository
from api.badges.schemas import Badge, GenreShare
from api.db.models import User
from api.deps import SessionDep
from api.errors import NotFound
from api.users.repository import UserRepository


@dataclass(frozen=True)
class BadgeRule:
    """A badge and the condition that earns it: the activity count `measure` (`BadgeRepository.MEASURES`)
    reaching `at_least`."""

    title: str
    description: str
    measure: str
    at_least: int

    def earned(self, count: int) -> bool:
        """Whether the activity count `count` (of `measure`) earns this badge."""
        return count >= self.at_least


RULES: dict[str, BadgeRule] = {
    "first_playlist": BadgeRule("First playlist", "Made a first playlist", "playlists", 1),
    "first_public_playlist": BadgeRule("Curator", "Published a first playlist", "public_playlists", 1),
    "ten_likes_received": BadgeRule("Crowd pleaser", "Playlists liked 10 times by others", "likes_received", 10),
    "five_genres_explored": BadgeRule("Explorer", "Playlists spanning 5 top-level genres", "distinct_genres", 5),
    "five_follows": BadgeRule("Social", "Follows 5 listeners", "following", 5),
    "first_upload": BadgeRule("Home recording", "Uploaded a first track of their own", "uploads", 1),
}


class BadgeService:
    """Awards badges and describes a user's genre mix; the other domains' services call `evaluate` after the
    writes that can earn one."""

    def __init__(self, repo: BadgeRepository, users: UserRepository) -> None:
        self.repo = repo
        self.users = users

    def _existing(self, user_id: str) -> None:
        if self.users.get(user_id) is None:
            raise NotFound(f"no user {user_id!r}")

    def evaluate(self, user_id: str) -> list[str]:
        """Award every badge whose rule now holds and that the user lacks; returns the new ones (idempotent)."""
        # which badges are held and the counts of the others, in one statement (was one per rule, plus the awards)
        progress = self.repo.progress(user_id, {name: rule.measure for name, rule in RULES.items()})
        earned = [name for name, rule in RULES.items() if (n := progress[name]) is not None and rule.earned(n)]
        return [name for name in earned if self.repo.award(user_id, name)]

    def badges(self, user_id: str) -> list[Badge]:
        """The user's badges, oldest first; NotFound when there is no such user."""
        self._existing(user_id)
        return [
            Badge(
                badge=b.badge,
                title=RULES[b.badge].title,
                description=RULES[b.badge].description,
                awarded_at=b.awarded_at,
            )
            for b in self.repo.awarded(user_id)
            if b.badge in RULES
        ]

    def genre_mix_for(self, user_id: str, viewer: User | None) -> list[GenreShare]:
        """The genre mix as `viewer` may see it: over all playlists for the owner, public ones for everybody
        else; NotFound when there is no such user."""
        self._existing(user_id)
        own = viewer is not None and viewer.id == user_id
        return self.genre_mix(user_id, public_only=not own)

    def avatar(self, user_id: str) -> str:
        """The user's genre avatar (SVG) from their public genre mix; NotFound when there is no such user."""
        self._existing(user_id)
        return avatar_svg(user_id, self.genre_mix(user_id, public_only=True))

    def genre_mix(self, user_id: str, public_only: bool) -> list[GenreShare]:
        """Track counts per top-level genre (every root genre listed, zeros included), shares summing to 1."""
        counts = self.repo.genre_counts(user_id, public_only)
        total = sum(counts.values())
        return [
            GenreShare(
                genre_id=gid,
                genre=title,
                tracks=counts.get(title, 0),
                share=round(counts.get(title, 0) / total, 4) if total else 0.0,
            )
            for gid, title in self.repo.top_level_genres()
        ]


def _genre_colour(genre_id: int) -> str:
    """A stable colour per genre: the hue from its id, so every user's chart uses the same palette."""
    hue = (genre_id * 137.508) % 360  # golden-angle steps keep neighbouring ids apart
    return f"hsl({hue:.0f}, 65%, 55%)"


def avatar_svg(user_id: str, mix: list[GenreShare], size: int = 128) -> str:
    """A deterministic SVG avatar: a ring of the user's genre shares around a face pattern seeded by their id.

    Same user and same mix -> the same bytes; a changed mix changes the ring."""
    digest = hashlib.sha256(user_id.encode()).digest()
    c = size / 2
    r_out, r_in = size * 0.48, size * 0.34
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 {size} {size}">',
        f'<circle cx="{c}" cy="{c}" r="{r_out:.1f}" fill="#e8e8ec"/>',
    ]
    angle = -math.pi / 2
    for g in mix:
        if g.share <= 0:
            continue
        sweep = 2 * math.pi * g.share
        if g.share >= 0.9999:  # a full circle cannot be drawn as one arc
            parts.append(f'<circle cx="{c}" cy="{c}" r="{r_out:.1f}" fill="{_genre_colour(g.genre_id)}"/>')
            break
        x1, y1 = c + r_out * math.cos(angle), c + r_out * math.sin(angle)
        x2, y2 = c + r_out * math.cos(angle + sweep), c + r_out * math.sin(angle + sweep)
        large = 1 if sweep > math.pi else 0
        parts.append(
            f'<path d="M{c},{c} L{x1:.2f},{y1:.2f} A{r_out:.1f},{r_out:.1f} 0 {large} 1 {x2:.2f},{y2:.2f} Z" '
            f'fill="{_genre_colour(g.genre_id)}"><title>{g.genre} {g.share:.0%}</title></path>'
        )
        angle += sweep
    # the inner disc: a 5x5 mirrored identicon from the user id (who), inside the genre ring (what they play)
    parts.append(f'<circle cx="{c}" cy="{c}" r="{r_in:.1f}" fill="#ffffff"/>')
    cell = r_in * 1.2 / 5
    x0 = c - cell * 2.5
    hue = digest[0] * 360 / 255
    for row in range(5):
        for col in range(3):
            if digest[1 + row * 3 + col] % 2:
                for cc in {col, 4 - col}:
                    parts.append(
                        f'<rect x="{x0 + cc * cell:.2f}" y="{x0 + row * cell:.2f}" width="{cell:.2f}" '
                        f'height="{cell:.2f}" fill="hsl({hue:.0f}, 45%, 40%)"/>'
                    )
    parts.append("</svg>")
    return "".join(parts)


async def get_badge_service(session: SessionDep) -> BadgeService:
    """The request's badge service."""
    return BadgeService(BadgeRepository(session), UserRepository(session))


BadgeServiceDep = Annotated[BadgeService, Depends(get_badge_service)]

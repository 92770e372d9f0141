"""user_tastes: each listener's public taste (unit mean of their public playlists' embeddings), backfilled

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def _unit_mean(vectors: list[np.ndarray]) -> np.ndarray | None:
    # frozen copy of api.playlists.recommend.unit_mean as of this revision
    if not vectors:
        return None
    mean = np.mean(np.stack(vectors).astype(np.float64), axis=0)
    norm = float(np.linalg.norm(mean))
    if norm < 1e-8:
        return None
    return mean / norm


def _row(user_id: str, public: list[Any], now: datetime) -> dict[str, Any]:
    # frozen copy of api.social.taste.public_taste as of this revision
    vectors = [np.asarray(e, dtype=np.float32) for e in public if e is not None]
    taste = _unit_mean(vectors)
    return {
        "user_id": user_id,
        "public_taste": None if taste is None else taste.astype(np.float32).tobytes(),
        "n_public": len(public),
        "n_stale": len(public) - len(vectors),
        "stamp": secrets.randbits(31),
        "updated_at": now,
    }


def upgrade() -> None:
    user_tastes = op.create_table(
        "user_tastes",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("public_taste", sa.LargeBinary(), nullable=True),
        sa.Column("n_public", sa.Integer(), nullable=False),
        sa.Column("n_stale", sa.Integer(), nullable=False),
        sa.Column("stamp", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_tastes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_tastes")),
    )
    assert user_tastes is not None
    # one row per listener who owns a playlist (what the playlist writes would have left), from the stored
    # embeddings; public playlists without one are counted as stale and computed by the next taste query
    playlists = sa.table(
        "playlists",
        sa.column("owner_id", sa.String()),
        sa.column("visibility", sa.String()),
        sa.column("embedding", sa.JSON()),
    )
    bind = op.get_bind()
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    owner: str | None = None
    public: list[Any] = []
    result = bind.execute(
        sa.select(playlists.c.owner_id, playlists.c.visibility, playlists.c.embedding)
        .where(playlists.c.owner_id.is_not(None))
        .order_by(playlists.c.owner_id)
        .execution_options(yield_per=BATCH)
    )
    for owner_id, visibility, embedding in result:
        if owner_id != owner:
            if owner is not None:
                rows.append(_row(owner, public, now))
            owner, public = owner_id, []
            if len(rows) >= BATCH:
                bind.execute(sa.insert(user_tastes), rows)
                rows = []
        if visibility == "public":
            public.append(embedding)
    if owner is not None:
        rows.append(_row(owner, public, now))
    if rows:
        bind.execute(sa.insert(user_tastes), rows)


def downgrade() -> None:
    op.drop_table("user_tastes")

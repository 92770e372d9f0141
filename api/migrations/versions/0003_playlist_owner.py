"""playlists get an owner and an updated_at

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("playlists") as batch:
        batch.add_column(sa.Column("owner_id", sa.String(length=32), nullable=True))
        batch.add_column(
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())
        )
        batch.create_foreign_key(op.f("fk_playlists_owner_id_users"), "users", ["owner_id"], ["id"], ondelete="CASCADE")
        batch.create_index(op.f("ix_playlists_owner_id"), ["owner_id"], unique=False)
    # the default was only for existing rows; new rows get updated_at from the application
    with op.batch_alter_table("playlists") as batch:
        batch.alter_column("updated_at", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("playlists") as batch:
        batch.drop_index(op.f("ix_playlists_owner_id"))
        batch.drop_constraint(op.f("fk_playlists_owner_id_users"), type_="foreignkey")
        batch.drop_column("updated_at")
        batch.drop_column("owner_id")

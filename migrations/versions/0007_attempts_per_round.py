"""Attempt numbers never repeat across a headshot's rounds: a retry no longer resets them, it
remembers where its round began, so a worker still holding an attempt of a cancelled round can
never pass for the new round's.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("headshot_generations",
                  sa.Column("attempts_before_round", sa.Integer(), server_default="0",
                            nullable=False))
    op.create_index("ix_headshot_generations_created_at", "headshot_generations", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_headshot_generations_created_at", table_name="headshot_generations")
    op.drop_column("headshot_generations", "attempts_before_round")

"""A job's own before image (§13): the selfie's centre cut to the job's aspect ratio, so the
before and after of a swipe-to-compare line up, and its size in pixels.

NULL for jobs completed before the columns: they keep showing the upload's preview.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("headshot_generations", sa.Column("before_key", sa.String(length=200),
                                                    nullable=True))
    op.add_column("headshot_generations", sa.Column("before_width", sa.Integer(), nullable=True))
    op.add_column("headshot_generations", sa.Column("before_height", sa.Integer(),
                                                    nullable=True))


def downgrade() -> None:
    op.drop_column("headshot_generations", "before_height")
    op.drop_column("headshot_generations", "before_width")
    op.drop_column("headshot_generations", "before_key")

"""Image sizes beside image URLs (§12): each image's width and height in pixels, recorded when
it is written, so a representation never opens a file to learn them.

- headshot_generations: `result_sizes` ([width, height] per result, in `result_keys`' order),
  `thumbnail_width`, `thumbnail_height`.
- uploads: `preview_width`, `preview_height` (the before image; the original's size was
  recorded from the start).

The backfill: rows written before this revision keep NULL, shown as `width`/`height` null
beside their URLs. Their sizes are not read from the files here: that would read every stored
image during a deploy, for images that mostly expire soon (originals and previews within
ORIGINAL_RETENTION_MINUTES of their upload, the last ones as their headshots are deleted).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("headshot_generations",
                  sa.Column("result_sizes", postgresql.JSONB(), nullable=True))
    op.add_column("headshot_generations", sa.Column("thumbnail_width", sa.Integer(), nullable=True))
    op.add_column("headshot_generations",
                  sa.Column("thumbnail_height", sa.Integer(), nullable=True))
    op.add_column("uploads", sa.Column("preview_width", sa.Integer(), nullable=True))
    op.add_column("uploads", sa.Column("preview_height", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("uploads", "preview_height")
    op.drop_column("uploads", "preview_width")
    op.drop_column("headshot_generations", "thumbnail_height")
    op.drop_column("headshot_generations", "thumbnail_width")
    op.drop_column("headshot_generations", "result_sizes")

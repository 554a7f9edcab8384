"""A running attempt's lease on its job: when it runs out (the worker died), the reaper takes
the job over, seconds after the death instead of after the whole processing timeout.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("headshot_generations",
                  sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("headshot_generations", sa.Column("lease_owner", sa.String(200), nullable=True))
    op.create_index("ix_headshot_generations_processing_lease", "headshot_generations",
                    ["lease_expires_at"], postgresql_where=sa.text("status = 'processing'"))


def downgrade() -> None:
    op.drop_index("ix_headshot_generations_processing_lease", table_name="headshot_generations")
    op.drop_column("headshot_generations", "lease_owner")
    op.drop_column("headshot_generations", "lease_expires_at")

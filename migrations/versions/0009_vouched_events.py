"""Behaviour events the funnel may count: `events.vouched` (models/events.py).

The service's own events are vouched for. An app's report is vouched for when it names one of
the reporting user's own headshots that was completed when the report came in; the reports
already kept are judged by the same rule, from the headshot's completion time.
Adding a column with a constant default does not rewrite the table (PostgreSQL 11 and later);
the UPDATE touches the app's reports only.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("events", sa.Column("vouched", sa.Boolean(), server_default=sa.true(),
                                      nullable=False))
    op.execute("""
        UPDATE events SET vouched = false
        WHERE source = 'client' AND NOT EXISTS (
            SELECT FROM headshot_generations g
            WHERE g.id = events.generation_id AND g.user_id = events.user_id
              AND g.status = 'completed' AND g.completed_at <= events.created_at)
    """)


def downgrade() -> None:
    op.drop_column("events", "vouched")

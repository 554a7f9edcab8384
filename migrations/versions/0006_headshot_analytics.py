"""The nightly rollup: one row per day and style (roadmap 2.1's table, and what the dashboard
needs besides).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "headshot_analytics",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("style", sa.String(length=50), nullable=False),
        sa.Column("total_generations", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("success_rate", sa.Numeric(5, 2), nullable=True),
        sa.Column("avg_processing_time", sa.Integer(), nullable=True),
        sa.Column("p50_processing_time", sa.Numeric(10, 3), nullable=True),
        sa.Column("p95_processing_time", sa.Numeric(10, 3), nullable=True),
        sa.Column("failures_by_code", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("getimg_cost", sa.Numeric(12, 4), nullable=False),
        sa.Column("credits_charged", sa.Integer(), nullable=False),
        sa.Column("credits_refunded", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_headshot_analytics")),
    )
    op.create_index("uq_headshot_analytics_date_style", "headshot_analytics", ["date", "style"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("uq_headshot_analytics_date_style", table_name="headshot_analytics")
    op.drop_table("headshot_analytics")

"""Feature flags (§14): `feature_flags`, one row per flag an operator has set, and
`flag_changes`, the audit of every change (who, when, the flag before and after).

A flag without a row is on for everyone, so this migration changes no behaviour: the tables
start empty.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "feature_flags",
        sa.Column("name", sa.String(56), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("percentage", sa.SmallInteger(), nullable=False),
        sa.Column("users", postgresql.ARRAY(sa.BigInteger()), server_default="{}",
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("percentage BETWEEN 0 AND 100",
                           name=op.f("ck_feature_flags_percentage")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_feature_flags")),
    )
    op.create_table(
        "flag_changes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("operator_id", sa.BigInteger(), nullable=False),
        sa.Column("flag_name", sa.String(56), nullable=False),
        sa.Column("before", postgresql.JSONB(), nullable=False),
        sa.Column("after", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_changes")),
    )
    op.create_index("ix_flag_changes_flag_name_id", "flag_changes", ["flag_name", "id"])


def downgrade() -> None:
    op.drop_index("ix_flag_changes_flag_name_id", table_name="flag_changes")
    op.drop_table("flag_changes")
    op.drop_table("feature_flags")

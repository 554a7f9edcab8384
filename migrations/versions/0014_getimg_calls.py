"""The GetImg call ledger (docs/getimg.md "What a call costs"): one row per GetImg generation
call a worker made, with what GetImg was asked for, how the call ended, and what it is billed.

Also: the ledger's index by time, and the rollup's success rate as a fraction (was a percent)
with the day's cancels beside it, for the figures' stated definitions.

Before this table a call's cost was written only into a completed headshot's metadata, so the
calls GetImg billed that then failed or were cancelled cost nothing in the figures. The table
starts empty: the old calls' costs survive only in their headshots' metadata.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "getimg_calls",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("generation_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("style", sa.String(50), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("resolution", sa.String(8), nullable=False),
        sa.Column("output_format", sa.String(8), nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("billed", sa.Boolean(), nullable=False),
        sa.Column("cost", sa.Numeric(12, 4), nullable=False),
        sa.Column("cost_basis", sa.String(10), nullable=False),
        sa.Column("getimg_request_id", sa.String(200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_getimg_calls")),
        sa.CheckConstraint("cost_basis IN ('invoiced', 'assumed', 'none')",
                           name=op.f("ck_getimg_calls_cost_basis_known")),
    )
    op.create_index("ix_getimg_calls_ended_at", "getimg_calls", ["ended_at"])
    op.create_index("ix_getimg_calls_generation_id", "getimg_calls", ["generation_id"])
    # The rollup reads each record by its own time: a day's ledger movements.
    op.create_index("ix_credit_histories_created_at", "credit_histories", ["created_at"])
    # Rates are fractions from 0 to 1 now, with four decimals (they were percents).
    op.alter_column("headshot_analytics", "success_rate", type_=sa.Numeric(5, 4),
                    postgresql_using="round(success_rate / 100, 4)")
    op.add_column("headshot_analytics", sa.Column("cancelled", sa.Integer(),
                                                  server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("headshot_analytics", "cancelled")
    op.alter_column("headshot_analytics", "success_rate", type_=sa.Numeric(5, 2),
                    postgresql_using="round(success_rate * 100, 2)")
    op.drop_index("ix_credit_histories_created_at", table_name="credit_histories")
    op.drop_index("ix_getimg_calls_generation_id", table_name="getimg_calls")
    op.drop_index("ix_getimg_calls_ended_at", table_name="getimg_calls")
    op.drop_table("getimg_calls")

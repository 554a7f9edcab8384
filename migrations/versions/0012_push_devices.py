"""Push notifications (§13): the users' devices, and the outbox's push rows.

An outbox row now names its channel (`webhook`, every existing row, or `push`) and, for a push,
the device it goes to. Adding a column with a constant default does not rewrite the table
(PostgreSQL 11 and later).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "push_devices",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("platform", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=2048), nullable=False),
        sa.Column("p256dh", sa.String(length=100), nullable=True),
        sa.Column("auth", sa.String(length=50), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_push_devices_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_devices")),
    )
    op.create_index("uq_push_devices_platform_address", "push_devices",
                    ["platform", "address"], unique=True)
    op.create_index("ix_push_devices_user_id", "push_devices", ["user_id"])
    op.add_column("webhook_outbox", sa.Column("channel", sa.String(length=10),
                                              server_default="webhook", nullable=False))
    op.add_column("webhook_outbox", sa.Column("device_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("webhook_outbox", "device_id")
    op.drop_column("webhook_outbox", "channel")
    op.drop_index("ix_push_devices_user_id", table_name="push_devices")
    op.drop_index("uq_push_devices_platform_address", table_name="push_devices")
    op.drop_table("push_devices")

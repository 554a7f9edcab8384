"""The app's library: batches, share links, before previews, the webhook outbox.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("uploads", sa.Column("preview_key", sa.String(length=200), nullable=True))

    op.create_table(
        "headshot_batches",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("final_status", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_headshot_batches_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_headshot_batches")),
    )
    op.create_index(op.f("ix_headshot_batches_user_id"), "headshot_batches", ["user_id"])
    op.create_foreign_key(
        op.f("fk_headshot_generations_batch_id_headshot_batches"), "headshot_generations",
        "headshot_batches", ["batch_id"], ["id"],
    )

    op.create_table(
        "headshot_shares",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("generation_id", sa.BigInteger(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["generation_id"], ["headshot_generations.id"],
                                name=op.f("fk_headshot_shares_generation_id_headshot_generations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_headshot_shares")),
    )
    op.create_index("uq_headshot_shares_token_hash", "headshot_shares", ["token_hash"],
                    unique=True)
    # At most one live link per headshot: a new one replaces it.
    op.create_index("uq_headshot_shares_live_per_generation", "headshot_shares",
                    ["generation_id"], unique=True,
                    postgresql_where=sa.text("revoked_at IS NULL"))

    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("generation_id", sa.BigInteger(), nullable=True),
        sa.Column("batch_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gave_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_outbox")),
    )
    op.create_index("uq_webhook_outbox_message_id", "webhook_outbox", ["message_id"],
                    unique=True)
    op.create_index("ix_webhook_outbox_pending", "webhook_outbox", ["next_attempt_at"],
                    postgresql_where=sa.text("delivered_at IS NULL AND gave_up_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_webhook_outbox_pending", table_name="webhook_outbox")
    op.drop_index("uq_webhook_outbox_message_id", table_name="webhook_outbox")
    op.drop_table("webhook_outbox")
    op.drop_index("uq_headshot_shares_live_per_generation", table_name="headshot_shares")
    op.drop_index("uq_headshot_shares_token_hash", table_name="headshot_shares")
    op.drop_table("headshot_shares")
    op.drop_constraint(op.f("fk_headshot_generations_batch_id_headshot_batches"),
                       "headshot_generations", type_="foreignkey")
    op.drop_index(op.f("ix_headshot_batches_user_id"), table_name="headshot_batches")
    op.drop_table("headshot_batches")
    op.drop_column("uploads", "preview_key")

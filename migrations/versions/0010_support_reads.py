"""Support reads (§14): an operator's look at one user is written to the audit log, and the
reads it needs have indexes.

- audit_log: a lookup moves no credits and may find nobody, so `user_id`, `credit_entry_id` and
  `amount` may be NULL (a grant's and a refund's rows still fill them all).
- users: a lookup by email matches it case-insensitively (`lower(email)`).
- webhook_outbox: one user's deliveries, newest first.
- headshot_generations: the failures, newest failure first (by when the job failed), for
  `GET /api/admin/failures`; partial, so it holds the failed jobs only.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    for column in ("user_id", "credit_entry_id", "amount"):
        op.alter_column("audit_log", column, nullable=True)
    op.create_index("ix_users_email_lower", "users", [sa.text("lower(email)")])
    op.create_index("ix_webhook_outbox_user_id_id", "webhook_outbox",
                    ["user_id", sa.text("id DESC")])
    op.create_index("ix_headshot_generations_failed_at", "headshot_generations",
                    [sa.text("completed_at DESC"), sa.text("id DESC")],
                    postgresql_where=sa.text("status = 'failed'"))


def downgrade() -> None:
    op.drop_index("ix_headshot_generations_failed_at", table_name="headshot_generations")
    op.drop_index("ix_webhook_outbox_user_id_id", table_name="webhook_outbox")
    op.drop_index("ix_users_email_lower", table_name="users")
    op.execute("DELETE FROM audit_log WHERE credit_entry_id IS NULL")  # the lookups
    for column in ("amount", "credit_entry_id", "user_id"):
        op.alter_column("audit_log", column, nullable=False)

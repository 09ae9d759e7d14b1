"""the outbox's due messages by one index: (state, next_attempt_at)

The notifier asks for pending messages whose time has come. With an index on each column alone, the
database read every pending message (reminders for weeks ahead among them) to find the few due now.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_notifications_due", "notifications", ["state", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_notifications_due", table_name="notifications")

"""thread settings (model, persona, system prompt) and token usage per account and model

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-01 23:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("persona", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("system_prompt", sa.Text(), nullable=True))
    op.create_table(
        "usage_records",
        sa.Column("id", BigId, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_usage_records_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
    )
    op.create_index(op.f("ix_usage_records_at"), "usage_records", ["at"])
    op.create_index(op.f("ix_usage_records_account_id_at"), "usage_records", ["account_id", "at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_usage_records_account_id_at"), table_name="usage_records")
    op.drop_index(op.f("ix_usage_records_at"), table_name="usage_records")
    op.drop_table("usage_records")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_column("system_prompt")
        batch_op.drop_column("persona")
        batch_op.drop_column("model")

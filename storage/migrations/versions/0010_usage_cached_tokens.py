"""prompt caching: cached input tokens in usage records, and where each thread's context window
starts (it moves in blocks, so that requests share a cacheable prefix)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:20:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("cache_write_tokens", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("window_from", BigId, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_column("window_from")
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_column("cache_write_tokens")
        batch_op.drop_column("cache_read_tokens")

"""analytics: revenue and photo-sales rollups kept in step with the commission ledger

Revision ID: 0003_revenue_rollups
Revises: 0002_analytics_rollups
Create Date: 2026-11-25 12:00:00

Summing the ledger joined to order items and orders took 150-300 ms per report at 50,000 orders;
these daily rollups (maintained in the same transaction as each ledger entry, see
pixstock/analytics/ledger.py) answer in a few milliseconds. A database that already holds sales
fills them with `flask --app wsgi analytics rebuild`.
"""
from alembic import op
import sqlalchemy as sa


revision = "0003_revenue_rollups"
down_revision = "0002_analytics_rollups"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "revenue_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("photographer_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("refunded_orders", sa.Integer(), nullable=False),
        sa.Column("photos_sold", sa.Integer(), nullable=False),
        sa.Column("photos_refunded", sa.Integer(), nullable=False),
        sa.Column("sales", sa.BigInteger(), nullable=False),
        sa.Column("refunds", sa.BigInteger(), nullable=False),
        sa.Column("commission", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "currency", "event_id", "photographer_id", name=op.f("pk_revenue_daily")),
    )
    with op.batch_alter_table("revenue_daily", schema=None) as batch_op:
        batch_op.create_index("ix_revenue_daily_grain", ["event_id", "photographer_id", "day"], unique=False)

    op.create_table(
        "photo_daily_sales",
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("sold", sa.Integer(), nullable=False),
        sa.Column("refunded", sa.Integer(), nullable=False),
        sa.Column("sales", sa.BigInteger(), nullable=False),
        sa.Column("refunds", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["photo_id"], ["photos.id"], name=op.f("fk_photo_daily_sales_photo_id_photos"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("photo_id", "day", "currency", name=op.f("pk_photo_daily_sales")),
    )
    with op.batch_alter_table("photo_daily_sales", schema=None) as batch_op:
        batch_op.create_index("ix_photo_daily_sales_day", ["day"], unique=False,
                              postgresql_include=["photo_id", "sold", "refunded", "sales", "refunds"])
        batch_op.create_index("ix_photo_daily_sales_event_day", ["event_id", "day"], unique=False)


def downgrade():
    with op.batch_alter_table("photo_daily_sales", schema=None) as batch_op:
        batch_op.drop_index("ix_photo_daily_sales_event_day")
        batch_op.drop_index("ix_photo_daily_sales_day")
    op.drop_table("photo_daily_sales")
    with op.batch_alter_table("revenue_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_revenue_daily_grain")
    op.drop_table("revenue_daily")

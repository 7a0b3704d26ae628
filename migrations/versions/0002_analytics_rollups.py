"""analytics: daily rollups of tracked events, covering indexes for the reports

Revision ID: 0002_analytics_rollups
Revises: 0001
Create Date: 2026-11-25 09:00:00

The reports read event_daily_stats and photo_daily_views (rebuilt from tracked_events by the
flush job) instead of counting a million raw rows per page; the covering indexes let the flush
job and the revenue reports answer from the index alone on PostgreSQL.
"""
from alembic import op
import sqlalchemy as sa


revision = "0002_analytics_rollups"
down_revision = "0001"
branch_labels = None
depends_on = None

TRACK_KINDS = ("gallery_view", "photo_view", "selfie_search", "cart_add", "order_paid")


def upgrade():
    op.create_table(
        "event_daily_stats",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.Enum(*TRACK_KINDS, name="trackkind", native_enum=False, length=21), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("visitors", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_event_daily_stats_event_id_events"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_id", "day", "kind", name=op.f("pk_event_daily_stats")),
    )
    with op.batch_alter_table("event_daily_stats", schema=None) as batch_op:
        batch_op.create_index("ix_event_daily_stats_day", ["day"], unique=False)

    op.create_table(
        "photo_daily_views",
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name=op.f("fk_photo_daily_views_event_id_events"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["photo_id"], ["photos.id"], name=op.f("fk_photo_daily_views_photo_id_photos"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("photo_id", "day", name=op.f("pk_photo_daily_views")),
    )
    with op.batch_alter_table("photo_daily_views", schema=None) as batch_op:
        batch_op.create_index("ix_photo_daily_views_day", ["day"], unique=False,
                              postgresql_include=["photo_id", "views"])
        batch_op.create_index("ix_photo_daily_views_event_day", ["event_id", "day"], unique=False)

    with op.batch_alter_table("tracked_events", schema=None) as batch_op:
        batch_op.drop_index("ix_tracked_events_event_kind_at")
        batch_op.create_index("ix_tracked_events_rollup", ["event_id", "kind", "created_at"], unique=False,
                              postgresql_include=["visitor", "photo_id"])


def downgrade():
    with op.batch_alter_table("tracked_events", schema=None) as batch_op:
        batch_op.drop_index("ix_tracked_events_rollup")
        batch_op.create_index("ix_tracked_events_event_kind_at", ["event_id", "kind", "created_at"], unique=False)
    with op.batch_alter_table("photo_daily_views", schema=None) as batch_op:
        batch_op.drop_index("ix_photo_daily_views_event_day")
        batch_op.drop_index("ix_photo_daily_views_day")
    op.drop_table("photo_daily_views")
    with op.batch_alter_table("event_daily_stats", schema=None) as batch_op:
        batch_op.drop_index("ix_event_daily_stats_day")
    op.drop_table("event_daily_stats")

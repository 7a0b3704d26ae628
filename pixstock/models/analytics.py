"""Tracked product events for analytics: counts, never personal data beyond a daily visitor hash."""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow


class TrackKind(enum.Enum):
    GALLERY_VIEW = "gallery_view"
    PHOTO_VIEW = "photo_view"
    SELFIE_SEARCH = "selfie_search"
    CART_ADD = "cart_add"
    ORDER_PAID = "order_paid"


class TrackedEvent(db.Model):
    __tablename__ = "tracked_events"
    __table_args__ = (
        # Covers the rollup refresh (one event, one kind, one day) without touching the table.
        Index("ix_tracked_events_rollup", "event_id", "kind", "created_at",
              postgresql_include=["visitor", "photo_id"]),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[TrackKind] = mapped_column(enum_column(TrackKind))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    # A salted hash of the visitor, rotated daily: counts unique visitors, identifies nobody.
    visitor: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class EventDailyStat(db.Model):
    """One event's tracked events of one kind on one local day: how many, and by how many visitors.

    Rebuilt from tracked_events by the flush job, so it is always exactly what the raw rows say.
    Visitors add up across days as visitor-days: the visitor hash changes every day by design.
    """

    __tablename__ = "event_daily_stats"
    __table_args__ = (Index("ix_event_daily_stats_day", "day"),)

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[TrackKind] = mapped_column(enum_column(TrackKind), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    visitors: Mapped[int] = mapped_column(Integer, default=0)


class PhotoDailyView(db.Model):
    """How often one photo's page was viewed on one local day (rebuilt with EventDailyStat)."""

    __tablename__ = "photo_daily_views"
    __table_args__ = (
        Index("ix_photo_daily_views_day", "day", postgresql_include=["photo_id", "views"]),
        Index("ix_photo_daily_views_event_day", "event_id", "day"),
    )

    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    views: Mapped[int] = mapped_column(Integer, default=0)


class RevenueDaily(db.Model):
    """The commission ledger summed per local day and currency, at four grains: everything (event_id 0,
    photographer_id 0), per event (photographer_id 0), per photographer (event_id 0), and per event and
    photographer. Orders are counted distinct within each row, which is why the grains are stored apart.

    Kept in step with the ledger in the same transaction (analytics/ledger.py), so it is never stale.
    An entry without an event (the event was deleted) counts under event_id -1.
    """

    __tablename__ = "revenue_daily"
    __table_args__ = (Index("ix_revenue_daily_grain", "event_id", "photographer_id", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    photographer_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    orders: Mapped[int] = mapped_column(Integer, default=0)
    refunded_orders: Mapped[int] = mapped_column(Integer, default=0)
    photos_sold: Mapped[int] = mapped_column(Integer, default=0)
    photos_refunded: Mapped[int] = mapped_column(Integer, default=0)
    sales: Mapped[int] = mapped_column(BigInteger, default=0)
    refunds: Mapped[int] = mapped_column(BigInteger, default=0)
    commission: Mapped[int] = mapped_column(BigInteger, default=0)


class PhotoDailySales(db.Model):
    """One photo's sales and refunds on one local day, in one currency (kept with RevenueDaily)."""

    __tablename__ = "photo_daily_sales"
    __table_args__ = (
        Index("ix_photo_daily_sales_day", "day", postgresql_include=["photo_id", "sold", "refunded", "sales",
                                                                     "refunds"]),
        Index("ix_photo_daily_sales_event_day", "event_id", "day"),
    )

    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer)
    sold: Mapped[int] = mapped_column(Integer, default=0)
    refunded: Mapped[int] = mapped_column(Integer, default=0)
    sales: Mapped[int] = mapped_column(BigInteger, default=0)
    refunds: Mapped[int] = mapped_column(BigInteger, default=0)

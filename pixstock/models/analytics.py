"""Tracked product events for analytics: counts, never personal data beyond a daily visitor hash."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
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
    __table_args__ = (Index("ix_tracked_events_event_kind_at", "event_id", "kind", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[TrackKind] = mapped_column(enum_column(TrackKind))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    # A salted hash of the visitor, rotated daily: counts unique visitors, identifies nobody.
    visitor: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

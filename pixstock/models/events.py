"""Events, their lifecycle, pricing and photographer assignments."""
from __future__ import annotations

import enum
import re
import unicodedata
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow


class EventStatus(enum.Enum):
    DRAFT = "draft"
    SHOOTING = "shooting"
    PROCESSING = "processing"
    ON_SALE = "on_sale"
    CLOSED = "closed"


LIFECYCLE = [EventStatus.DRAFT, EventStatus.SHOOTING, EventStatus.PROCESSING, EventStatus.ON_SALE, EventStatus.CLOSED]


class TransitionError(ValueError):
    """A refused status change; the message says why."""


def slugify(text: str) -> str:
    """Make a URL slug; non-Latin names (Thai) keep their letters."""
    text = unicodedata.normalize("NFKC", text or "").strip().lower()
    text = re.sub(r"[^\w]+", "-", text, flags=re.UNICODE).strip("-_")
    return text[:80] or "event"


class Event(db.Model):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    event_date: Mapped[date | None] = mapped_column(Date, index=True)
    location: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[EventStatus] = mapped_column(enum_column(EventStatus), default=EventStatus.DRAFT, index=True)
    sales_enabled: Mapped[bool] = mapped_column(default=False)
    # Last day the gallery sells; after it the event reads as closed.
    expiry_date: Mapped[date | None] = mapped_column(Date)
    cover_photo_id: Mapped[int | None] = mapped_column(
        ForeignKey("photos.id", ondelete="SET NULL", use_alter=True)
    )
    watermark_text: Mapped[str] = mapped_column(String(100), default="pixstock")
    currency: Mapped[str] = mapped_column(String(3), default="THB")
    # Prices in the currency's smallest unit (satang for THB).
    price_single: Mapped[int] = mapped_column(Integer, default=0)
    price_all_of_me: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    face_data_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    bundles: Mapped[list[BundleTier]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="BundleTier.photo_count"
    )
    assignments: Mapped[list[EventPhotographer]] = relationship(
        back_populates="event", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Event {self.id} {self.slug} {self.status.value}>"

    @classmethod
    def unique_slug(cls, name: str) -> str:
        """A slug for name that no other event uses yet."""
        base = slugify(name)
        slug, n = base, 2
        while db.session.scalar(select(cls.id).where(cls.slug == slug)) is not None:
            slug, n = f"{base}-{n}", n + 1
        return slug

    def allowed_transitions(self) -> list[EventStatus]:
        """Statuses reachable in one step: forward, or back to correct a mistake; closed is final."""
        if self.status is EventStatus.CLOSED:
            return []
        i = LIFECYCLE.index(self.status)
        steps = [LIFECYCLE[i + 1]]
        if i > 0:
            steps.append(LIFECYCLE[i - 1])
        return steps

    def transition_to(self, new: EventStatus) -> None:
        """Change status one step, or raise TransitionError saying why not."""
        if new is self.status:
            return
        if self.status is EventStatus.CLOSED:
            raise TransitionError("A closed event is final and cannot change status.")
        if new not in self.allowed_transitions():
            raise TransitionError(
                f"An event moves one step at a time: from {self.status.value} it can go to "
                + " or ".join(s.value for s in self.allowed_transitions())
                + f", not {new.value}."
            )
        self.status = new
        if new is EventStatus.CLOSED:
            self.closed_at = utcnow()
            self.sales_enabled = False

    def is_expired(self, today: date | None = None) -> bool:
        """True after the expiry date."""
        return self.expiry_date is not None and (today or date.today()) > self.expiry_date

    @property
    def is_public(self) -> bool:
        """Customers can see the gallery: on sale and not expired."""
        return self.status is EventStatus.ON_SALE and not self.is_expired()

    @property
    def can_sell(self) -> bool:
        """Customers can buy: public and sales open."""
        return self.is_public and self.sales_enabled

    def has_photographer(self, user) -> bool:
        """True when user is assigned to upload to this event."""
        return any(a.user_id == user.id for a in self.assignments)


class BundleTier(db.Model):
    """"Any N photos for P": a fixed price for a number of photos of one event."""

    __tablename__ = "bundle_tiers"
    __table_args__ = (UniqueConstraint("event_id", "photo_count"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    photo_count: Mapped[int] = mapped_column(Integer)
    price: Mapped[int] = mapped_column(Integer)

    event: Mapped[Event] = relationship(back_populates="bundles")


class EventPhotographer(db.Model):
    """Which photographers may upload to an event."""

    __tablename__ = "event_photographers"

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    event: Mapped[Event] = relationship(back_populates="assignments")
    user = relationship("User")

"""Events, their lifecycle, pricing and photographer assignments."""
from __future__ import annotations

import enum
import re
import unicodedata
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint, or_, select
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship

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


class PricingError(ValueError):
    """Prices that do not make sense; the message says why."""


# Currencies an event may sell in (Stripe and PromptPay settle THB; the others are for visitors' events).
CURRENCIES = ("THB", "USD", "EUR", "SGD", "MYR")


def local_today() -> date:
    """Today in pixstock's timezone (events expire at local midnight, not UTC's)."""
    from zoneinfo import ZoneInfo

    from flask import current_app, has_app_context

    zone = current_app.config.get("BABEL_DEFAULT_TIMEZONE") if has_app_context() else None
    return datetime.now(ZoneInfo(zone or "Asia/Bangkok")).date()


def _slug_char(char: str) -> bool:
    # Letters, digits and combining marks: Thai vowels and tone marks are marks (Mn), not \w.
    return char in "-_" or unicodedata.category(char)[0] in "LMN"


def slugify(text: str) -> str:
    """Make a URL slug; non-Latin names (Thai) keep their letters and marks."""
    text = unicodedata.normalize("NFKC", text or "").strip().lower()
    text = "".join(char if _slug_char(char) else "-" for char in text)
    text = re.sub(r"-{2,}", "-", text).strip("-_")
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

    # post_update: events and photos point at each other, so the cover is written after both rows exist.
    cover_photo = relationship("Photo", foreign_keys=[cover_photo_id], post_update=True)
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
        return self.expiry_date is not None and (today or local_today()) > self.expiry_date

    @property
    def is_closed_to_customers(self) -> bool:
        """Closed, or on sale past its expiry: the gallery says so and sells nothing."""
        return self.status is EventStatus.CLOSED or (self.status is EventStatus.ON_SALE and self.is_expired())

    def set_sales(self, enabled: bool) -> None:
        """Open or close sales; a closed event never reopens and nothing sells without a price."""
        if enabled and self.status is EventStatus.CLOSED:
            raise TransitionError("A closed event is final: its sales cannot reopen.")
        if enabled and self.price_single <= 0:
            raise PricingError("Set the single-photo price before opening sales.")
        self.sales_enabled = bool(enabled)

    @property
    def pricing(self) -> dict:
        """Prices in the smallest currency unit: single photo, bundle tiers, the "all photos of me" package."""
        return {
            "single": self.price_single,
            "bundles": [{"count": t.photo_count, "price": t.price} for t in self.bundles],
            "all_of_me": self.price_all_of_me,
        }

    def set_pricing(self, single: int, bundles: list[tuple[int, int]], all_of_me: int | None) -> None:
        """Replace the prices (integers in the smallest unit), or raise PricingError saying what is wrong."""

        def amount(value, what: str) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise PricingError(f"{what} must be a whole, non-negative amount in the smallest currency unit.")
            if value > 100_000_000:
                raise PricingError(f"{what} is implausibly large.")
            return value

        single = amount(single, "The single-photo price")
        if all_of_me is not None:
            all_of_me = amount(all_of_me, "The all-photos-of-me price")
        tiers: dict[int, int] = {}
        for count, price in bundles:
            if isinstance(count, bool) or not isinstance(count, int) or not 2 <= count <= 10_000:
                raise PricingError("A bundle is for 2 to 10,000 photos.")
            if count in tiers:
                raise PricingError(f"There are two bundles of {count} photos.")
            tiers[count] = amount(price, f"The price of the {count}-photo bundle")
            if single and tiers[count] >= single * count:
                raise PricingError(f"The {count}-photo bundle costs no less than {count} single photos.")
        self.price_single = single
        self.price_all_of_me = all_of_me
        self.updated_at = utcnow()  # cached gallery pages show prices: a new version of the event
        # Update tiers in place by photo count: deleting and re-adding the same count in one flush
        # would trip the (event_id, photo_count) unique constraint.
        existing = {t.photo_count: t for t in self.bundles}
        for count, tier in existing.items():
            if count not in tiers:
                self.bundles.remove(tier)
            else:
                tier.price = tiers[count]
        for count, price in sorted(tiers.items()):
            if count not in existing:
                self.bundles.append(BundleTier(photo_count=count, price=price))
        self.bundles.sort(key=lambda t: t.photo_count)

    def set_slug(self, slug: str) -> None:
        """Change the public address, refusing a malformed or taken slug (ValueError)."""
        slug = (slug or "").strip().lower()
        if not 0 < len(slug) <= 100 or not all(_slug_char(char) for char in slug):
            raise ValueError("Use letters, digits and hyphens only (at most 100).")
        query = select(Event.id).where(Event.slug == slug)
        if self.id is not None:
            query = query.where(Event.id != self.id)
        taken = db.session.scalar(query)
        if taken is not None:
            raise ValueError("Another event already uses this address.")
        self.slug = slug

    def set_cover(self, photo) -> None:
        """Use one of this event's approved photos as its cover (None clears it)."""
        if photo is None:
            self.cover_photo_id = None
            return
        if photo.event_id != self.id or not photo.is_visible_to_customers:
            raise ValueError("The cover must be an approved photo of this event.")
        self.cover_photo_id = photo.id

    @classmethod
    def on_sale(cls, search: str | None = None, date_from: date | None = None, date_to: date | None = None):
        """A query of the events customers can see, newest first, matching name or place and a date range."""
        today = local_today()
        query = select(cls).where(
            cls.status == EventStatus.ON_SALE,
            or_(cls.expiry_date.is_(None), cls.expiry_date >= today),
        )
        if search:
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(or_(cls.name.ilike(pattern, escape="\\"), cls.location.ilike(pattern, escape="\\")))
        if date_from:
            query = query.where(cls.event_date >= date_from)
        if date_to:
            query = query.where(cls.event_date <= date_to)
        # The cover comes in the same query: the home page is one query however many events it lists.
        return query.options(joinedload(cls.cover_photo)).order_by(cls.event_date.desc().nulls_last(), cls.id.desc())

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

    def assign(self, user) -> bool:
        """Let an active photographer upload to this event (ValueError otherwise); False if already assigned."""
        from .users import Role

        if user.role is not Role.PHOTOGRAPHER:
            raise ValueError(f"{user.email} is not a photographer.")
        if not user.active:
            raise ValueError(f"{user.email} is deactivated.")
        if self.has_photographer(user):
            return False
        self.assignments.append(EventPhotographer(user_id=user.id, user=user))
        self.updated_at = utcnow()  # the gallery's photographer filter is cached per event version
        return True

    def unassign(self, user) -> bool:
        """Stop a photographer uploading to this event (their photos stay); False if they were not assigned."""
        for assignment in self.assignments:
            if assignment.user_id == user.id:
                self.assignments.remove(assignment)
                self.updated_at = utcnow()
                return True
        return False


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

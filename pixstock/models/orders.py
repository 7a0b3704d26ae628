"""Carts, orders, payments, download grants, commissions and processed webhooks."""
from __future__ import annotations

import enum
import hashlib
import hmac
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow
from .events import TransitionError


class OrderStatus(enum.Enum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


# Paid is reachable from every unpaid state: when the provider says the money moved (a late webhook
# after a cancel or an expiry), the customer must get what they paid for.
ORDER_TRANSITIONS = {
    OrderStatus.PENDING: {OrderStatus.PAID, OrderStatus.FAILED, OrderStatus.EXPIRED, OrderStatus.CANCELLED},
    OrderStatus.FAILED: {OrderStatus.PAID},
    OrderStatus.EXPIRED: {OrderStatus.PAID},
    OrderStatus.CANCELLED: {OrderStatus.PAID},
    OrderStatus.PAID: {OrderStatus.REFUNDED},
    OrderStatus.REFUNDED: set(),
}


class PaymentStatus(enum.Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"


class CartItem(db.Model):
    """A photo in a signed-in customer's cart (anonymous carts live in the session)."""

    __tablename__ = "cart_items"
    __table_args__ = (UniqueConstraint("user_id", "photo_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    photo = relationship("Photo")


class Order(db.Model):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[OrderStatus] = mapped_column(enum_column(OrderStatus), default=OrderStatus.PENDING, index=True)
    currency: Mapped[str] = mapped_column(String(3), default="THB")
    # Amounts in the currency's smallest unit.
    subtotal: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    package: Mapped[str | None] = mapped_column(String(40))  # the pricing that applied, e.g. "all_of_me"
    # SHA-256 of the order's secret access token (email links and the API's order_token).
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(20), default="test")
    provider_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderItem.id"
    )
    payments: Mapped[list[Payment]] = relationship(back_populates="order", cascade="all, delete-orphan")
    user = relationship("User")
    event = relationship("Event")

    def __repr__(self) -> str:
        return f"<Order {self.id} {self.status.value} {self.total} {self.currency}>"

    @property
    def is_paid(self) -> bool:
        return self.status is OrderStatus.PAID

    def transition_to(self, new: OrderStatus) -> None:
        """Change status along ORDER_TRANSITIONS, or raise TransitionError."""
        if new not in ORDER_TRANSITIONS[self.status]:
            raise TransitionError(f"An order cannot go from {self.status.value} to {new.value}.")
        self.status = new
        if new is OrderStatus.PAID:
            self.paid_at = utcnow()

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def check_token(self, token: str | None) -> bool:
        """True when token is this order's access token (constant-time)."""
        if not token or not self.token_hash:
            return False
        return hmac.compare_digest(self.hash_token(token), self.token_hash)


class OrderItem(db.Model):
    __tablename__ = "order_items"
    __table_args__ = (UniqueConstraint("order_id", "photo_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"), index=True)
    # This photo's share of the order total (bundle discounts spread over the items).
    price: Mapped[int] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="items")
    photo = relationship("Photo")


class Payment(db.Model):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    provider_session_id: Mapped[str | None] = mapped_column(String(255))
    provider_payment_id: Mapped[str | None] = mapped_column(String(255), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PaymentStatus] = mapped_column(enum_column(PaymentStatus), default=PaymentStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    order: Mapped[Order] = relationship(back_populates="payments")


class DownloadGrant(db.Model):
    """The right to download one purchased original, until it expires, is used up or revoked."""

    __tablename__ = "download_grants"
    __table_args__ = (UniqueConstraint("order_item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_item_id: Mapped[int] = mapped_column(ForeignKey("order_items.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    max_downloads: Mapped[int] = mapped_column(Integer)
    download_count: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order_item = relationship("OrderItem")
    photo = relationship("Photo")

    def usable(self, now: datetime | None = None) -> bool:
        """True while the grant may still be used."""
        now = now or utcnow()
        return self.revoked_at is None and self.expires_at > now and self.download_count < self.max_downloads

    @classmethod
    def consume(cls, grant_ids: list[int], now: datetime | None = None) -> list[int]:
        """Count one download on each usable grant of grant_ids; return the ids that were usable.

        One conditional UPDATE, so two simultaneous downloads can never both take the last one.
        """
        if not grant_ids:
            return []
        now = now or utcnow()
        result = db.session.execute(
            update(cls)
            .where(
                cls.id.in_(grant_ids),
                cls.revoked_at.is_(None),
                cls.expires_at > now,
                cls.download_count < cls.max_downloads,
            )
            .values(download_count=cls.download_count + 1)
            .returning(cls.id)
            .execution_options(synchronize_session=False)
        )
        return sorted(result.scalars())


class CommissionEntry(db.Model):
    """What a photographer earns (or loses on a refund) for one photo sold."""

    __tablename__ = "commission_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_item_id: Mapped[int] = mapped_column(ForeignKey("order_items.id", ondelete="CASCADE"), index=True)
    photographer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"), index=True)
    rate_bps: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)  # negative for a refund reversal
    kind: Mapped[str] = mapped_column(String(10), default="sale")  # sale | refund
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    @staticmethod
    def share(price: int, rate_bps: int) -> int:
        """The photographer's share of price in whole satang, half a satang rounded up."""
        # Integer arithmetic only: the same inputs give the same satang on every machine.
        return (price * rate_bps + 5000) // 10000


class WebhookEvent(db.Model):
    """A payment-provider event already processed; its id makes redelivery harmless."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

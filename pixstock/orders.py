"""Orders from checkout to refund: placing, fulfilling exactly once, failing, expiring, refunding.

Every payment outcome arrives as a provider event (Stripe's webhook, or the test provider's
buttons) and goes through ``handle_event``. Its id is stored in the same transaction as the
change it causes, and the order row is locked (``SELECT ... FOR UPDATE``) while it changes, so
an event delivered ten times at once, or two events that both mean "paid", fulfil once.

Fulfilment is one transaction: the order becomes paid, the payment is recorded, a download grant
is created per photo and a commission ledger entry per photo sold. The email job is queued after
the commit, so a customer is never told about a payment the database does not hold.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from . import pricing
from .extensions import db
from .models import (
    CartItem,
    CommissionEntry,
    DownloadGrant,
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentStatus,
    Photo,
    User,
    WebhookEvent,
    utcnow,
)
from .services import payments
from .tasks.mail import send_email

log = logging.getLogger(__name__)

# Stripe allows 100 line items; a cart this size is far beyond any one runner's photos.
MAX_ORDER_PHOTOS = 200


class CheckoutError(ValueError):
    """The cart cannot be bought as it is; the message is for the customer."""


# --- Placing an order ---------------------------------------------------------------------------


def purchasable_photos(photo_ids) -> list[Photo]:
    """The photos among photo_ids that customers can buy now (approved, processed, event selling)."""
    # Ids beyond PostgreSQL's integer would fail the query instead of matching nothing.
    ids = {int(i) for i in photo_ids if 0 < int(i) < 2**31}
    if not ids:
        return []
    photos = db.session.scalars(
        select(Photo).where(Photo.id.in_(ids)).options(selectinload(Photo.event))
    ).all()
    return [photo for photo in photos if photo.is_visible_to_customers and photo.event.can_sell]


def access_token(order: Order) -> str:
    """The order's secret access token (email links, the API's order_token).

    Derived from SECRET_KEY, the id and the creation time rather than stored, so the email sent at
    fulfilment can carry it; only its hash is kept in the database, for lookups.
    """
    message = f"order:{order.id}:{order.created_at.isoformat()}".encode()
    return hmac.new(current_app.config["SECRET_KEY"].encode(), message, hashlib.sha256).hexdigest()[:40]


def place_order(
    photos: list[Photo],
    email: str,
    *,
    user: User | None = None,
    locale: str = "en",
    claims: dict[int, frozenset[int]] | None = None,
) -> tuple[Order, pricing.Quote]:
    """Create a pending order for photos at the server's best price (flushed, not committed)."""
    if not photos:
        raise CheckoutError(_l("Your cart is empty."))
    if len(photos) > MAX_ORDER_PHOTOS:
        raise CheckoutError(_l("An order can hold at most %(n)d photos.", n=MAX_ORDER_PHOTOS))
    quote = pricing.quote(photos, claims)
    if len(quote.currencies) > 1:
        raise CheckoutError(_l("Photos priced in different currencies must be bought separately."))
    if quote.total <= 0:
        raise CheckoutError(_l("These photos have no price yet, so they cannot be bought."))
    event_ids = {photo.event_id for photo in photos}
    order = Order(
        user_id=user.id if user is not None else None,
        event_id=next(iter(event_ids)) if len(event_ids) == 1 else None,
        email=User.normalize_email(email),
        locale=locale,
        status=OrderStatus.PENDING,
        currency=quote.currency,
        subtotal=quote.list_price,
        total=quote.total,
        package=quote.package,
        provider=payments.provider_name(),
        created_at=utcnow(),
    )
    prices = quote.item_prices()
    order.items = [OrderItem(photo_id=photo.id, price=prices[photo.id]) for photo in quote.photos]
    db.session.add(order)
    db.session.flush()
    order.token_hash = Order.hash_token(access_token(order))
    return order, quote


def start_checkout(order: Order, quote: pricing.Quote) -> str:
    """Open the provider's checkout for a pending order; return the URL to send the customer to.

    Commits the order first, so a provider outage leaves a cancelled order behind, never a lost one.
    """
    db.session.commit()
    lines = [
        payments.LineItem(f"{event_quote.event.name}: {line.describe()}", line.unit_amount, line.quantity)
        for event_quote in quote.events
        for line in event_quote.lines
    ]
    # Stripe fills in {CHECKOUT_SESSION_ID} itself; url_for would escape the braces.
    success_url = url_for("shop.checkout_success", order_id=order.id, _external=True) + "?session_id={CHECKOUT_SESSION_ID}"
    try:
        session = payments.create_checkout_session(
            order_id=order.id,
            lines=lines,
            currency=order.currency,
            email=order.email,
            locale=order.locale,
            success_url=success_url,
            cancel_url=url_for("shop.checkout_cancel", order_id=order.id, _external=True),
        )
    except payments.PaymentError:
        log.exception("checkout for order %s failed", order.id)
        order.transition_to(OrderStatus.CANCELLED)
        db.session.commit()
        raise
    order.provider_session_id = session.id
    order.checkout_url = session.url
    db.session.commit()
    return session.url


def supersede_open_orders(order_ids, keep: int | None = None) -> int:
    """Close this browser's earlier unpaid checkouts (all but `keep`) and cancel their orders.

    A customer who changes the cart after opening a payment page gets a new order; the old payment
    page must stop accepting money, or both could be paid. A session Stripe will not expire (already
    paid or completing) is left alone: its webhook fulfils that order as usual.
    """
    if not order_ids:
        return 0
    closed = 0
    stale = db.session.scalars(
        select(Order).where(Order.id.in_(order_ids), Order.status == OrderStatus.PENDING,
                            Order.provider_session_id.is_not(None))
    ).all()
    for order in stale:
        if order.id == keep:
            continue
        try:
            payments.expire_checkout_session(order.provider, order.provider_session_id)
        except payments.PaymentError:
            log.warning("could not close the checkout of superseded order %s", order.id, exc_info=True)
            continue
        order.transition_to(OrderStatus.CANCELLED)
        closed += 1
    db.session.commit()
    return closed


def reusable_order(order_ids, photo_ids: set[int], total: int, email: str) -> Order | None:
    """A pending order from order_ids for exactly these photos, total and email, still open at the provider."""
    if not order_ids:
        return None
    candidates = db.session.scalars(
        select(Order)
        .where(Order.id.in_(order_ids), Order.status == OrderStatus.PENDING, Order.checkout_url.is_not(None))
        .options(selectinload(Order.items))
        .order_by(Order.id.desc())
    ).all()
    for order in candidates:
        if (
            order.total == total
            and order.email == User.normalize_email(email)
            and order.provider == payments.provider_name()
            and {item.photo_id for item in order.items} == photo_ids
        ):
            return order
    return None


# --- Provider events ------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What an event did; after the commit, notify sends the customer's email."""

    result: str
    order: Order | None = None
    notify: str | None = None  # paid | failed | refunded

    def send_email(self) -> None:
        if self.notify and self.order is not None:
            send_order_email(self.order, self.notify)


def handle_event(provider: str, event: dict) -> str:
    """Apply one provider event exactly once and commit; return what happened (for logs and tests)."""
    event_type = str(event.get("type") or "")
    data_object = (event.get("data") or {}).get("object") or {}
    db.session.add(WebhookEvent(id=str(event["id"])[:255], provider=provider, type=event_type[:100]))
    try:
        # A concurrent delivery of the same id blocks here until the first commits, then fails.
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return "duplicate"
    handler = EVENT_HANDLERS.get(event_type)
    outcome = handler(provider, data_object) if handler else Outcome("ignored")
    db.session.commit()
    outcome.send_email()
    return outcome.result


def _lock_order(order_id) -> Order | None:
    try:
        order_id = int(order_id)
    except (TypeError, ValueError):
        return None
    # populate_existing: the row read after waiting for the lock, not a stale copy from the identity map.
    return db.session.scalar(
        select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
    )


def _order_for_session(provider: str, session: dict) -> Order | None:
    metadata = session.get("metadata") or {}
    order = _lock_order(metadata.get("order_id") or session.get("client_reference_id"))
    if order is None or order.provider != provider or order.provider_session_id != session.get("id"):
        log.warning("%s checkout session %s matches no order of ours", provider, session.get("id"))
        return None
    return order


def session_paid(provider: str, session: dict) -> Outcome:
    """checkout.session.completed (and async_payment_succeeded): fulfil when the money is in."""
    order = _order_for_session(provider, session)
    if order is None:
        return Outcome("unknown_order")
    if session.get("payment_status") not in ("paid", "no_payment_required"):
        # PromptPay: the customer has a QR code; async_payment_succeeded or _failed follows.
        return Outcome("awaiting_payment", order)
    amount, currency = session.get("amount_total"), str(session.get("currency") or "")
    if amount != order.total or currency.upper() != order.currency.upper():
        log.error("order %s: paid %s %s but it costs %s %s; not fulfilled", order.id, amount, currency,
                  order.total, order.currency)
        return Outcome("amount_mismatch", order)
    if not fulfil(order, provider, session):
        return Outcome("already_fulfilled", order)
    return Outcome("fulfilled", order, notify="paid")


def fulfil(order: Order, provider: str, session: dict) -> bool:
    """Mark a locked order paid and give the customer their photos; False when it already was."""
    if order.status in (OrderStatus.PAID, OrderStatus.REFUNDED):
        return False
    order.transition_to(OrderStatus.PAID)
    db.session.add(Payment(
        order=order,
        provider=provider,
        provider_session_id=session.get("id"),
        provider_payment_id=session.get("payment_intent"),
        amount=order.total,
        currency=order.currency,
        status=PaymentStatus.SUCCEEDED,
    ))
    config = current_app.config
    expires_at = utcnow() + timedelta(days=config["DOWNLOAD_GRANT_DAYS"])
    items = db.session.scalars(
        select(OrderItem).where(OrderItem.order_id == order.id)
        .options(selectinload(OrderItem.photo).selectinload(Photo.photographer).selectinload(User.profile))
    ).all()
    for item in items:
        db.session.add(DownloadGrant(
            order_item_id=item.id, order_id=order.id, photo_id=item.photo_id,
            expires_at=expires_at, max_downloads=config["DOWNLOAD_LIMIT"],
        ))
        photographer = item.photo.photographer
        # Photos uploaded by an admin have no photographer profile: the platform keeps the sale.
        rate = photographer.profile.commission_bps if photographer.profile else 0
        db.session.add(CommissionEntry(
            order_item_id=item.id, photographer_id=photographer.id, event_id=item.photo.event_id,
            rate_bps=rate, amount=CommissionEntry.share(item.price, rate), kind="sale",
        ))
    if order.user_id is not None:
        db.session.execute(delete(CartItem).where(
            CartItem.user_id == order.user_id, CartItem.photo_id.in_([item.photo_id for item in items])
        ))
    return True


def session_payment_failed(provider: str, session: dict) -> Outcome:
    """checkout.session.async_payment_failed: the PromptPay payment never arrived."""
    order = _order_for_session(provider, session)
    if order is None:
        return Outcome("unknown_order")
    if order.status is not OrderStatus.PENDING:
        return Outcome("ignored", order)
    order.transition_to(OrderStatus.FAILED)
    db.session.add(Payment(
        order=order, provider=provider, provider_session_id=session.get("id"),
        provider_payment_id=session.get("payment_intent"), amount=order.total, currency=order.currency,
        status=PaymentStatus.FAILED,
    ))
    return Outcome("failed", order, notify="failed")


def session_expired(provider: str, session: dict) -> Outcome:
    """checkout.session.expired: nobody paid in time; the cart is still there."""
    order = _order_for_session(provider, session)
    if order is None:
        return Outcome("unknown_order")
    if order.status is not OrderStatus.PENDING:
        return Outcome("ignored", order)
    order.transition_to(OrderStatus.EXPIRED)
    return Outcome("expired", order)


def charge_refunded(provider: str, charge: dict) -> Outcome:
    """charge.refunded: a full refund revokes the downloads and reverses the commissions."""
    payment_id = charge.get("payment_intent") or charge.get("id")
    payment = db.session.scalar(
        select(Payment).where(Payment.provider == provider, Payment.provider_payment_id == payment_id,
                              Payment.status.in_([PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED]))
    )
    if payment is None:
        log.warning("refund of %s matches no payment of ours", payment_id)
        return Outcome("unknown_order")
    if not charge.get("refunded"):
        # A partial refund is a goodwill gesture; the customer keeps the photos.
        log.info("order %s partly refunded (%s)", payment.order_id, charge.get("amount_refunded"))
        return Outcome("partial_refund")
    order = _lock_order(payment.order_id)
    if not refund(order, payment):
        return Outcome("ignored", order)
    return Outcome("refunded", order, notify="refunded")


def refund(order: Order, payment: Payment) -> bool:
    """Refund a locked paid order: revoke its grants, reverse its commissions; False if not paid."""
    if order.status is not OrderStatus.PAID:
        return False
    order.transition_to(OrderStatus.REFUNDED)
    payment.status = PaymentStatus.REFUNDED
    now = utcnow()
    for grant in db.session.scalars(select(DownloadGrant).where(DownloadGrant.order_id == order.id)):
        grant.revoked_at = grant.revoked_at or now
    item_ids = select(OrderItem.id).where(OrderItem.order_id == order.id)
    for sale in db.session.scalars(
        select(CommissionEntry).where(CommissionEntry.order_item_id.in_(item_ids), CommissionEntry.kind == "sale")
    ).all():
        db.session.add(CommissionEntry(
            order_item_id=sale.order_item_id, photographer_id=sale.photographer_id, event_id=sale.event_id,
            rate_bps=sale.rate_bps, amount=-sale.amount, kind="refund",
        ))
    return True


EVENT_HANDLERS = {
    "checkout.session.completed": session_paid,
    "checkout.session.async_payment_succeeded": session_paid,
    "checkout.session.async_payment_failed": session_payment_failed,
    "checkout.session.expired": session_expired,
    "charge.refunded": charge_refunded,
}


def confirm_with_provider(order: Order) -> str | None:
    """Ask Stripe about a pending order's session, for the success page; fulfil if it is paid.

    The webhook normally gets there first; this covers a slow or lost webhook. Same code path,
    same lock, so the two never fulfil twice.
    """
    if order.status is not OrderStatus.PENDING or order.provider != payments.STRIPE or not order.provider_session_id:
        return None
    try:
        session = payments.retrieve_checkout_session(order.provider_session_id)
    except payments.PaymentError:
        log.warning("could not confirm order %s with Stripe", order.id, exc_info=True)
        return None
    if session.get("payment_status") not in ("paid", "no_payment_required"):
        return None
    outcome = session_paid(payments.STRIPE, session)
    db.session.commit()
    outcome.send_email()
    return outcome.result


# --- Links and email ------------------------------------------------------------------------------


def external_url(endpoint: str, **values) -> str:
    """An absolute URL for emails: under BASE_URL when it is set, else the current request's host."""
    base = current_app.config.get("BASE_URL")
    if base:
        return base.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def _subject(kind: str, order_id: int):
    # Lazy: send_email renders it inside the customer's language.
    if kind == "paid":
        return _l("Your photos are ready to download (order %(id)s)", id=order_id)
    if kind == "failed":
        return _l("Your payment did not go through (order %(id)s)", id=order_id)
    return _l("Your order %(id)s was refunded", id=order_id)


def send_order_email(order: Order, kind: str) -> None:
    """Queue the paid, failed or refunded email for order, in the customer's language."""
    from .shop.links import grant_token  # the shop blueprint owns the download URLs

    token = access_token(order)
    grants = db.session.scalars(
        select(DownloadGrant).where(DownloadGrant.order_id == order.id).order_by(DownloadGrant.id)
        .options(selectinload(DownloadGrant.photo))
    ).all()
    downloads = [
        (grant.photo, external_url("shop.download_original", token=grant_token(grant))) for grant in grants
    ]
    send_email(
        order.email,
        _subject(kind, order.id),
        f"order_{kind}",
        order.locale,
        order=order,
        downloads=downloads,
        expires_at=grants[0].expires_at if grants else None,
        max_downloads=grants[0].max_downloads if grants else None,
        order_url=external_url("shop.show_order", order_id=order.id, token=token),
        zip_url=external_url("shop.download_zip", order_id=order.id, token=token),
        cart_url=external_url("shop.show_cart"),
    )

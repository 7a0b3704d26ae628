"""Payment providers: Stripe Checkout through the real SDK, or the built-in test provider.

``STRIPE_SECRET_KEY`` set means Stripe; unset means the test provider, a local checkout page with
Pay, Decline and Cancel buttons that drives the same fulfilment code as Stripe's webhook. The
test provider refuses to run in production mode. ``STRIPE_API_BASE`` sends the SDK's API calls to
a compatible server (the tests run a small fake one).

    session = create_checkout_session(order_id=..., lines=[...], ...)
    return redirect(session.url, 303)
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass

import stripe
from flask import current_app, url_for

STRIPE, TEST = "stripe", "test"


class PaymentError(RuntimeError):
    """The provider could not be reached or refused the request."""


class WebhookError(ValueError):
    """A webhook whose signature or body cannot be trusted."""


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


@dataclass(frozen=True)
class LineItem:
    name: str
    unit_amount: int
    quantity: int


def provider_name() -> str:
    """The provider new orders use: stripe when a secret key is configured, else test."""
    return STRIPE if current_app.config.get("STRIPE_SECRET_KEY") else TEST


def test_provider_allowed() -> bool:
    """The test provider exists only outside production and only while Stripe is not configured."""
    return current_app.config["PIXSTOCK_ENV"] != "production" and provider_name() == TEST


def _client() -> stripe.StripeClient:
    config = current_app.config
    base = config.get("STRIPE_API_BASE")
    return stripe.StripeClient(
        config["STRIPE_SECRET_KEY"],
        base_addresses={"api": base.rstrip("/")} if base else None,
        # Safe to retry: every create carries an idempotency key.
        max_network_retries=2,
    )


def create_checkout_session(
    *,
    order_id: int,
    lines: list[LineItem],
    currency: str,
    email: str,
    locale: str,
    success_url: str,
    cancel_url: str,
) -> CheckoutSession:
    """Open a hosted checkout for an order; the same order always gets the same Stripe session."""
    if provider_name() == TEST:
        if not test_provider_allowed():
            raise PaymentError("the test payment provider is disabled in production")
        session_id = "test_cs_" + secrets.token_urlsafe(24)
        return CheckoutSession(session_id, url_for("shop.test_checkout", session_id=session_id, _external=True))
    params = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": currency.lower(),
                    "unit_amount": line.unit_amount,
                    "product_data": {"name": line.name[:250]},
                },
                "quantity": line.quantity,
            }
            for line in lines
        ],
        "payment_method_types": [m.strip() for m in current_app.config["STRIPE_PAYMENT_METHODS"] if m.strip()],
        "customer_email": email,
        "client_reference_id": str(order_id),
        "metadata": {"order_id": str(order_id)},
        "payment_intent_data": {"metadata": {"order_id": str(order_id)}},
        "locale": "th" if locale == "th" else "en",
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    try:
        session = _client().v1.checkout.sessions.create(
            params, options={"idempotency_key": f"pixstock-order-{order_id}-checkout"}
        )
    except stripe.StripeError as error:
        raise PaymentError(f"Stripe refused the checkout session: {error}") from error
    return CheckoutSession(session.id, session.url)


def expire_checkout_session(provider: str, session_id: str) -> None:
    """Close an open checkout so it can no longer be paid (the test provider's pages check the order instead)."""
    if provider != STRIPE:
        return
    try:
        _client().v1.checkout.sessions.expire(session_id)
    except stripe.StripeError as error:
        raise PaymentError(f"could not expire checkout session {session_id}: {error}") from error


def retrieve_checkout_session(session_id: str) -> dict:
    """The Checkout Session as a plain dict (Stripe only)."""
    try:
        return _client().v1.checkout.sessions.retrieve(session_id).to_dict()
    except stripe.StripeError as error:
        raise PaymentError(f"could not retrieve checkout session {session_id}: {error}") from error


def verify_webhook(payload: bytes, signature: str | None) -> dict:
    """Check the Stripe-Signature header against the raw body and return the event as a dict.

    Raises WebhookError for a missing secret or header, a bad signature, a timestamp older than
    Stripe's tolerance (five minutes), or a body that is not a JSON event.
    """
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        raise WebhookError("STRIPE_WEBHOOK_SECRET is not configured")
    if not signature:
        raise WebhookError("missing Stripe-Signature header")
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, stripe.Webhook.DEFAULT_TOLERANCE)
    except stripe.SignatureVerificationError as error:
        raise WebhookError(str(error)) from error
    try:
        event = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WebhookError("the body is not JSON") from error
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise WebhookError("the body is not a Stripe event")
    return event

"""POST /stripe/webhook: signatures, every event type, idempotency under concurrent redelivery, refunds."""
import json
import threading
import time

import pytest
from sqlalchemy import func, select

from pixstock.extensions import db
from pixstock.models import (
    CommissionEntry,
    DownloadGrant,
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
    WebhookEvent,
)
from pixstock.services.mail import read_outbox

from .shop_helpers import (  # noqa: F401
    WEBHOOK_SECRET,
    add_photos,
    checkout,
    fake_stripe,
    session_id_of,
    stripe_app,
    stripe_shop,
)


@pytest.fixture
def client(stripe_app):
    return stripe_app.test_client()


@pytest.fixture
def pending(client, stripe_shop):
    """A pending Stripe order for all six photos (฿500) and its session id."""
    add_photos(client, stripe_shop.photos)
    session_id = session_id_of(checkout(client))
    order = db.session.scalar(select(Order))
    return order, session_id


def deliver(client, fake_stripe, event_type, data_object, secret=WEBHOOK_SECRET, **kwargs):
    body, headers = fake_stripe.webhook(event_type, data_object, secret, **kwargs)
    return client.post("/stripe/webhook", data=body, headers=headers)


def outbox(app):
    app.extensions["pixstock_jobs"].drain()
    return read_outbox(app.config["MAIL_OUTBOX_DIR"])


def counts():
    return {
        "payments": db.session.scalar(select(func.count(Payment.id))),
        "grants": db.session.scalar(select(func.count(DownloadGrant.id))),
        "commissions": db.session.scalar(select(func.count(CommissionEntry.id))),
        "events": db.session.scalar(select(func.count()).select_from(WebhookEvent)),
    }


def test_completed_checkout_fulfils_in_one_go(stripe_app, client, pending, fake_stripe, stripe_shop):
    order, session_id = pending
    session = fake_stripe.complete(session_id)
    response = deliver(client, fake_stripe, "checkout.session.completed", session)
    assert response.status_code == 200
    assert response.get_json() == {"received": True, "result": "fulfilled"}
    db.session.refresh(order)
    assert order.status is OrderStatus.PAID and order.paid_at is not None
    [payment] = db.session.scalars(select(Payment)).all()
    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.amount == 50000 and payment.currency == "THB"
    assert payment.provider_payment_id == session["payment_intent"]
    grants = db.session.scalars(select(DownloadGrant)).all()
    assert sorted(g.photo_id for g in grants) == sorted(p.id for p in stripe_shop.photos)
    assert all(g.max_downloads == stripe_app.config["DOWNLOAD_LIMIT"] for g in grants)
    days = (grants[0].expires_at - order.paid_at).total_seconds() / 86400
    assert abs(days - stripe_app.config["DOWNLOAD_GRANT_DAYS"]) < 0.01
    entries = db.session.scalars(select(CommissionEntry)).all()
    prices = {item.id: item.price for item in order.items}
    assert len(entries) == 6
    for entry in entries:
        assert entry.kind == "sale" and entry.rate_bps == 4000
        assert entry.amount == (prices[entry.order_item_id] * 4000 + 5000) // 10000
    assert sum(e.amount for e in entries) == 20000
    [mail] = outbox(stripe_app)
    assert mail["To"] == order.email
    assert "ready to download" in str(mail["Subject"])
    text = mail.get_body(("plain",)).get_content()
    assert text.count("/downloads/") == 6
    assert f"/orders/{order.id}/photos.zip?token=" in text


@pytest.mark.parametrize("tamper", ["body", "secret", "old", "missing", "garbage", "future"])
def test_untrusted_deliveries_are_rejected_without_change(client, pending, fake_stripe, tamper):
    order, session_id = pending
    session = fake_stripe.complete(session_id)
    body, headers = fake_stripe.webhook("checkout.session.completed", session, WEBHOOK_SECRET)
    if tamper == "body":
        body = body.replace(b'"amount_total": 50000', b'"amount_total": 50001')
        assert b"50001" in body
    elif tamper == "secret":
        body, headers = fake_stripe.webhook("checkout.session.completed", session, "whsec_wrong")
    elif tamper == "old":
        body, headers = fake_stripe.webhook("checkout.session.completed", session, WEBHOOK_SECRET,
                                            timestamp=int(time.time()) - 301)
    elif tamper == "future":
        # Signed with the right secret but over a different timestamp than the header claims.
        signature = fake_stripe.sign(body, WEBHOOK_SECRET)
        headers["Stripe-Signature"] = signature.replace("t=", "t=1", 1)
    elif tamper == "missing":
        headers.pop("Stripe-Signature")
    elif tamper == "garbage":
        headers["Stripe-Signature"] = "nonsense"
    response = client.post("/stripe/webhook", data=body, headers=headers)
    assert response.status_code == 400
    db.session.refresh(order)
    assert order.status is OrderStatus.PENDING
    assert counts() == {"payments": 0, "grants": 0, "commissions": 0, "events": 0}


def test_signed_but_not_an_event_is_rejected(client, fake_stripe):
    body = b"[1, 2, 3]"
    response = client.post("/stripe/webhook", data=body,
                           headers={"Stripe-Signature": fake_stripe.sign(body, WEBHOOK_SECRET)})
    assert response.status_code == 400


def test_without_a_configured_secret_nothing_is_accepted(app, fake_stripe):
    body, headers = fake_stripe.webhook("checkout.session.completed", {"id": "cs_x"}, WEBHOOK_SECRET)
    response = app.test_client().post("/stripe/webhook", data=body, headers=headers)
    assert response.status_code == 400


def test_unknown_event_types_are_acknowledged_and_ignored(client, pending, fake_stripe):
    order, session_id = pending
    response = deliver(client, fake_stripe, "customer.created", {"id": "cus_1", "object": "customer"})
    assert response.status_code == 200 and response.get_json()["result"] == "ignored"
    db.session.refresh(order)
    assert order.status is OrderStatus.PENDING
    assert counts()["payments"] == 0


def _concurrently(app, deliveries):
    """POST each (body, headers) from its own thread, all released at once; return the JSON answers."""
    barrier = threading.Barrier(len(deliveries))
    results = [None] * len(deliveries)

    def post(index, body, headers):
        client = app.test_client()
        barrier.wait()
        results[index] = client.post("/stripe/webhook", data=body, headers=headers)

    threads = [threading.Thread(target=post, args=(i, b, h)) for i, (b, h) in enumerate(deliveries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(r is not None and r.status_code == 200 for r in results), [r and r.status_code for r in results]
    return [r.get_json()["result"] for r in results]


def test_the_same_event_ten_times_at_once_fulfils_once(stripe_app, pending, fake_stripe):
    order, session_id = pending
    session = fake_stripe.complete(session_id)
    delivery = fake_stripe.webhook("checkout.session.completed", session, WEBHOOK_SECRET)
    results = _concurrently(stripe_app, [delivery] * 10)
    assert sorted(results) == ["duplicate"] * 9 + ["fulfilled"]
    db.session.expire_all()
    assert counts() == {"payments": 1, "grants": 6, "commissions": 6, "events": 1}
    assert len(outbox(stripe_app)) == 1


def test_different_events_meaning_paid_at_once_fulfil_once(stripe_app, pending, fake_stripe):
    order, session_id = pending
    session = fake_stripe.complete(session_id)
    deliveries = [fake_stripe.webhook("checkout.session.completed", session, WEBHOOK_SECRET) for _ in range(4)]
    deliveries += [fake_stripe.webhook("checkout.session.async_payment_succeeded", session, WEBHOOK_SECRET)
                   for _ in range(4)]
    results = _concurrently(stripe_app, deliveries)
    assert results.count("fulfilled") == 1
    assert results.count("already_fulfilled") == 7
    db.session.expire_all()
    assert counts() == {"payments": 1, "grants": 6, "commissions": 6, "events": 8}
    assert len(outbox(stripe_app)) == 1


def test_promptpay_pays_later(stripe_app, client, pending, fake_stripe):
    order, session_id = pending
    session = fake_stripe.complete(session_id, payment_status="unpaid")
    assert deliver(client, fake_stripe, "checkout.session.completed", session).get_json()["result"] == "awaiting_payment"
    db.session.refresh(order)
    assert order.status is OrderStatus.PENDING
    page = client.get(f"/checkout/{order.id}/success").get_data(as_text=True)
    assert "Waiting for the payment" in page
    session["payment_status"] = "paid"
    result = deliver(client, fake_stripe, "checkout.session.async_payment_succeeded", session).get_json()["result"]
    assert result == "fulfilled"
    db.session.refresh(order)
    assert order.status is OrderStatus.PAID
    assert "Paid" in client.get(f"/checkout/{order.id}/success").get_data(as_text=True)
    assert len(outbox(stripe_app)) == 1


def test_promptpay_failure(stripe_app, client, pending, fake_stripe):
    order, session_id = pending
    session = fake_stripe.complete(session_id, payment_status="unpaid")
    deliver(client, fake_stripe, "checkout.session.completed", session)
    result = deliver(client, fake_stripe, "checkout.session.async_payment_failed", session).get_json()["result"]
    assert result == "failed"
    db.session.refresh(order)
    assert order.status is OrderStatus.FAILED
    [payment] = db.session.scalars(select(Payment)).all()
    assert payment.status is PaymentStatus.FAILED
    assert counts()["grants"] == 0
    [mail] = outbox(stripe_app)
    assert "did not go through" in str(mail["Subject"])
    assert "/cart" in mail.get_body(("plain",)).get_content()


def test_expiry_then_a_late_payment_still_delivers(client, pending, fake_stripe):
    order, session_id = pending
    session = dict(fake_stripe.sessions[session_id], status="expired")
    assert deliver(client, fake_stripe, "checkout.session.expired", session).get_json()["result"] == "expired"
    db.session.refresh(order)
    assert order.status is OrderStatus.EXPIRED
    # Stripe took the money after all: the customer must get the photos.
    session = fake_stripe.complete(session_id)
    assert deliver(client, fake_stripe, "checkout.session.completed", session).get_json()["result"] == "fulfilled"
    db.session.refresh(order)
    assert order.status is OrderStatus.PAID


def test_amount_mismatch_is_not_fulfilled(client, pending, fake_stripe):
    order, session_id = pending
    session = dict(fake_stripe.complete(session_id), amount_total=100)
    assert deliver(client, fake_stripe, "checkout.session.completed", session).get_json()["result"] == "amount_mismatch"
    db.session.refresh(order)
    assert order.status is OrderStatus.PENDING
    assert counts()["grants"] == 0


def test_events_for_sessions_we_did_not_create_are_ignored(client, pending, fake_stripe):
    order, session_id = pending
    forged = dict(fake_stripe.complete(session_id), id="cs_test_someone_else")
    assert deliver(client, fake_stripe, "checkout.session.completed", forged).get_json()["result"] == "unknown_order"
    stranger = {"id": "cs_x", "metadata": {"order_id": "99999"}, "payment_status": "paid"}
    assert deliver(client, fake_stripe, "checkout.session.completed", stranger).get_json()["result"] == "unknown_order"
    db.session.refresh(order)
    assert order.status is OrderStatus.PENDING


def test_refund_revokes_downloads_and_reverses_commissions(stripe_app, client, pending, fake_stripe):
    order, session_id = pending
    session = fake_stripe.complete(session_id)
    deliver(client, fake_stripe, "checkout.session.completed", session)
    grant = db.session.scalar(select(DownloadGrant))
    from pixstock.shop.links import grant_token

    link = f"/downloads/{grant_token(grant)}"
    assert client.get(link).status_code == 200
    # A partial refund is a goodwill gesture: the photos stay.
    partial = fake_stripe.charge_refunded(session, amount_refunded=1000)
    assert deliver(client, fake_stripe, "charge.refunded", partial).get_json()["result"] == "partial_refund"
    assert client.get(link).status_code == 200
    refund = fake_stripe.charge_refunded(session)
    assert deliver(client, fake_stripe, "charge.refunded", refund).get_json()["result"] == "refunded"
    db.session.expire_all()
    assert db.session.get(Order, order.id).status is OrderStatus.REFUNDED
    assert db.session.scalar(select(Payment)).status is PaymentStatus.REFUNDED
    assert all(g.revoked_at is not None for g in db.session.scalars(select(DownloadGrant)))
    gone = client.get(link)
    assert gone.status_code == 410 and "refunded" in gone.get_data(as_text=True)
    zip_response = client.get(f"/orders/{order.id}/photos.zip")
    assert zip_response.status_code == 410
    entries = db.session.scalars(select(CommissionEntry)).all()
    assert len(entries) == 12
    assert sum(e.amount for e in entries) == 0
    assert {e.kind for e in entries} == {"sale", "refund"}
    # Redelivered, the refund changes nothing more.
    body = json.dumps(fake_stripe.event("charge.refunded", refund)).encode()
    again = client.post("/stripe/webhook", data=body, headers={"Stripe-Signature": fake_stripe.sign(body, WEBHOOK_SECRET)})
    assert again.get_json()["result"] == "ignored"
    assert db.session.scalar(select(func.count(CommissionEntry.id))) == 12
    subjects = [str(m["Subject"]) for m in outbox(stripe_app)]
    assert len(subjects) == 2 and "refunded" in subjects[1]

"""Checkout: the real stripe SDK against a local fake Stripe, the success and cancel pages, the test provider."""
import re

import pytest
from sqlalchemy import func, select

from pixstock.extensions import db
from pixstock.models import CartItem, CommissionEntry, DownloadGrant, Order, OrderStatus, Payment
from pixstock.services import payments
from pixstock.services.mail import read_outbox

from . import factories
from .shop_helpers import (  # noqa: F401
    WEBHOOK_SECRET,
    add_photos,
    checkout,
    fake_stripe,
    pay_with_test_provider,
    session_id_of,
    shop,
    stripe_app,
    stripe_shop,
)

HX = {"HX-Request": "true"}


def lower_keys(headers: dict) -> dict:
    return {key.lower(): value for key, value in headers.items()}


@pytest.fixture
def stripe_client(stripe_app):
    return stripe_app.test_client()


def drain_app(app):
    app.extensions["pixstock_jobs"].drain()


# --- Stripe ----------------------------------------------------------------------------------------


def test_checkout_creates_a_pending_order_and_a_stripe_session(stripe_client, stripe_shop, fake_stripe):
    add_photos(stripe_client, stripe_shop.photos)
    response = checkout(stripe_client, "Runner@Example.com")
    assert response.status_code == 303
    order = db.session.scalar(select(Order))
    assert order.status is OrderStatus.PENDING
    assert order.email == "runner@example.com"
    assert order.total == 50000 and order.subtotal == 60000 and order.package == "bundle"
    assert sum(item.price for item in order.items) == order.total
    assert order.provider == "stripe"
    assert response.headers["Location"] == fake_stripe.sessions[order.provider_session_id]["url"]

    [request] = fake_stripe.checkout_requests()
    form, headers = request.form, lower_keys(request.headers)
    assert headers["idempotency-key"] == f"pixstock-order-{order.id}-checkout"
    assert headers["authorization"] == "Bearer sk_test_pixstock"
    assert "stripe-version" in headers
    assert form["mode"] == "payment"
    assert form["customer_email"] == "runner@example.com"
    assert form["metadata[order_id]"] == str(order.id)
    assert form["client_reference_id"] == str(order.id)
    assert form["payment_method_types[0]"] == "card"
    assert form["payment_method_types[1]"] == "promptpay"
    currencies = {v for k, v in form.items() if k.endswith("[price_data][currency]")}
    assert currencies == {"thb"}
    assert form["success_url"].endswith(f"/checkout/{order.id}/success?session_id={{CHECKOUT_SESSION_ID}}")
    assert form["cancel_url"].endswith(f"/checkout/{order.id}/cancel")
    # The line items add up to exactly what the order costs.
    assert fake_stripe.sessions[order.provider_session_id]["amount_total"] == order.total
    names = [v for k, v in form.items() if k.endswith("[product_data][name]")]
    assert any("Bundle of 5 photos" in name for name in names)


def test_payment_methods_follow_configuration(make_app, fake_stripe):
    application = make_app(STRIPE_SECRET_KEY="sk_test_x", STRIPE_API_BASE=fake_stripe.url,
                           STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_PAYMENT_METHODS=["card"])
    with application.app_context():
        photographer = factories.make_user("photographer")
        event = factories.make_event(photographers=[photographer])
        photos = factories.make_photos(event, photographer, 1, files=False)
        client = application.test_client()
        add_photos(client, photos)
        assert checkout(client).status_code == 303
    [request] = fake_stripe.checkout_requests()
    assert request.form["payment_method_types[0]"] == "card"
    assert "payment_method_types[1]" not in request.form


def test_going_back_to_pay_reuses_the_open_session(stripe_client, stripe_shop, fake_stripe):
    add_photos(stripe_client, stripe_shop.photos[:2])
    first = checkout(stripe_client)
    second = checkout(stripe_client)
    assert first.headers["Location"] == second.headers["Location"]
    assert len(fake_stripe.checkout_requests()) == 1
    assert db.session.scalar(select(func.count(Order.id))) == 1
    # A different cart is a different order.
    add_photos(stripe_client, stripe_shop.photos[2:3])
    third = checkout(stripe_client)
    assert third.headers["Location"] != first.headers["Location"]
    assert db.session.scalar(select(func.count(Order.id))) == 2


def test_a_changed_cart_closes_the_earlier_payment_page(stripe_client, stripe_shop, fake_stripe):
    """Never two payable checkouts for one browser's cart: the old Stripe session is expired, its order cancelled."""
    add_photos(stripe_client, stripe_shop.photos[:2])
    first = checkout(stripe_client)
    first_session = first.headers["Location"].rsplit("/", 1)[-1]
    add_photos(stripe_client, stripe_shop.photos[2:3])
    second = checkout(stripe_client)
    second_session = second.headers["Location"].rsplit("/", 1)[-1]
    assert fake_stripe.sessions[first_session]["status"] == "expired"
    assert fake_stripe.sessions[second_session]["status"] == "open"
    statuses = [o.status.value for o in db.session.scalars(select(Order).order_by(Order.id))]
    assert statuses == ["cancelled", "pending"]


def test_a_changed_cart_closes_the_earlier_test_checkout(client, shop):
    add_photos(client, shop.photos[:2])
    first = checkout(client)
    add_photos(client, shop.photos[2:3])
    checkout(client)
    # The first test checkout page no longer takes money.
    client.get(first.headers["Location"])
    client.post(first.headers["Location"], data={"action": "pay"})
    orders_by_id = db.session.scalars(select(Order).order_by(Order.id)).all()
    assert [o.status.value for o in orders_by_id] == ["cancelled", "pending"]


def test_success_page_says_paid_only_when_the_server_knows(stripe_app, stripe_client, stripe_shop, fake_stripe):
    add_photos(stripe_client, stripe_shop.photos[:2])
    session_id = session_id_of(checkout(stripe_client))
    order = db.session.scalar(select(Order))
    url = f"/checkout/{order.id}/success?session_id={session_id}"
    page = stripe_client.get(url).get_data(as_text=True)
    assert "Waiting for the payment" in page and "Paid" not in page
    assert 'hx-trigger="every 2s"' in page
    # The customer pays on Stripe; the webhook is slow, so the page's next poll asks Stripe itself.
    fake_stripe.complete(session_id)
    poll = stripe_client.get(f"/checkout/{order.id}/success", headers=HX).get_data(as_text=True)
    assert "<html" not in poll
    assert "Paid" in poll and "hx-trigger" not in poll
    db.session.refresh(order)
    assert order.status is OrderStatus.PAID
    assert any(r.method == "GET" and r.path == f"/v1/checkout/sessions/{session_id}" for r in fake_stripe.requests)
    # The webhook arriving later changes nothing.
    body, headers = fake_stripe.webhook("checkout.session.completed", fake_stripe.sessions[session_id], WEBHOOK_SECRET)
    answer = stripe_client.post("/stripe/webhook", data=body, headers=headers)
    assert answer.get_json()["result"] == "already_fulfilled"
    assert db.session.scalar(select(func.count(Payment.id))) == 1
    assert db.session.scalar(select(func.count(DownloadGrant.id))) == 2
    drain_app(stripe_app)
    assert len(read_outbox(stripe_app.config["MAIL_OUTBOX_DIR"])) == 1
    # Paid photos leave the session cart.
    assert 'data-total' not in stripe_client.get("/cart").get_data(as_text=True)


def test_success_page_is_not_for_strangers(stripe_client, stripe_shop, stripe_app):
    add_photos(stripe_client, stripe_shop.photos[:1])
    checkout(stripe_client)
    order = db.session.scalar(select(Order))
    stranger = stripe_app.test_client()
    assert stranger.get(f"/checkout/{order.id}/success").status_code == 404
    assert stranger.get(f"/checkout/{order.id}/success?session_id=cs_test_guess").status_code == 404
    # The real session id (from Stripe's redirect) lets the browser in.
    ok = stranger.get(f"/checkout/{order.id}/success?session_id={order.provider_session_id}")
    assert ok.status_code == 200


def test_cancel_returns_to_the_cart_intact(stripe_client, stripe_shop):
    add_photos(stripe_client, stripe_shop.photos[:3])
    checkout(stripe_client)
    order = db.session.scalar(select(Order))
    response = stripe_client.get(f"/checkout/{order.id}/cancel", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "Payment cancelled" in html
    assert 'data-total="30000"' in html
    db.session.refresh(order)
    assert order.status is OrderStatus.PENDING  # a GET changes nothing; Stripe's expiry closes it


def test_stripe_outage_keeps_the_cart_and_cancels_the_order(stripe_client, stripe_shop, fake_stripe):
    add_photos(stripe_client, stripe_shop.photos[:2])
    fake_stripe.fail_next = 10
    response = checkout(stripe_client)
    assert response.status_code == 503
    assert "not answering" in response.get_data(as_text=True)
    order = db.session.scalar(select(Order))
    assert order.status is OrderStatus.CANCELLED
    fake_stripe.fail_next = 0
    assert checkout(stripe_client).status_code == 303


def test_checkout_validates_the_email_and_the_cart(stripe_client, stripe_shop):
    empty = checkout(stripe_client)
    assert empty.status_code == 422 and "Your cart is empty" in empty.get_data(as_text=True)
    add_photos(stripe_client, stripe_shop.photos[:1])
    bad = checkout(stripe_client, "not-an-email")
    assert bad.status_code == 422
    assert db.session.scalar(select(func.count(Order.id))) == 0
    assert stripe_client.post("/checkout", data={"email": "a@example.com"}, csrf=False).status_code == 400


# --- The test provider -------------------------------------------------------------------------------


def test_test_provider_pays_through_the_same_fulfilment(app, client, shop, drain):
    add_photos(client, shop.photos)
    response = checkout(client)
    assert "/checkout/test/" in response.headers["Location"]
    paid = pay_with_test_provider(client, response, "pay")
    order = db.session.scalar(select(Order))
    assert paid.headers["Location"].startswith(f"/checkout/{order.id}/success")
    assert order.status is OrderStatus.PAID and order.provider == "test"
    page = client.get(paid.headers["Location"]).get_data(as_text=True)
    assert "Paid" in page
    grants = db.session.scalars(select(DownloadGrant)).all()
    assert len(grants) == 6
    commissions = db.session.scalars(select(CommissionEntry)).all()
    assert len(commissions) == 6
    assert sum(c.amount for c in commissions) == 50000 * 4000 // 10000
    assert {c.photographer_id for c in commissions} == {shop.photographer.id}
    drain()
    [mail] = read_outbox(app.config["MAIL_OUTBOX_DIR"])
    assert mail["To"] == "runner@example.com"


def test_test_provider_decline_fails_the_order(app, client, shop, drain):
    add_photos(client, shop.photos[:2])
    response = checkout(client)
    pay_with_test_provider(client, response, "decline")
    order = db.session.scalar(select(Order))
    assert order.status is OrderStatus.FAILED
    assert db.session.scalar(select(func.count(DownloadGrant.id))) == 0
    page = client.get(f"/checkout/{order.id}/success").get_data(as_text=True)
    assert "Payment failed" in page
    assert 'data-total="20000"' in client.get("/cart").get_data(as_text=True)  # cart kept for a retry
    drain()
    [mail] = read_outbox(app.config["MAIL_OUTBOX_DIR"])
    assert "did not go through" in str(mail["Subject"])
    # Pressing Pay afterwards on the stale page changes nothing.
    client.post(response.headers["Location"], data={"action": "pay"})
    db.session.refresh(order)
    assert order.status is OrderStatus.FAILED


def test_test_provider_cancel_keeps_the_cart(client, shop):
    add_photos(client, shop.photos[:2])
    response = checkout(client)
    cancelled = pay_with_test_provider(client, response, "cancel")
    assert cancelled.status_code == 302
    page = client.get(cancelled.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert "Payment cancelled" in page and 'data-total="20000"' in page


def test_test_provider_refuses_in_production(app, client, shop):
    add_photos(client, shop.photos[:1])
    response = checkout(client)
    location = response.headers["Location"]
    app.config["PIXSTOCK_ENV"] = "production"
    try:
        assert client.get(location).status_code == 404
        assert client.post(location, data={"action": "pay"}).status_code == 404
        with app.test_request_context():
            with pytest.raises(payments.PaymentError):
                payments.create_checkout_session(order_id=1, lines=[], currency="THB", email="a@example.com",
                                                 locale="en", success_url="/", cancel_url="/")
    finally:
        app.config["PIXSTOCK_ENV"] = "development"
    assert db.session.scalar(select(Order)).status is OrderStatus.PENDING


def test_test_provider_is_off_when_stripe_is_configured(stripe_client, stripe_shop):
    add_photos(stripe_client, stripe_shop.photos[:1])
    checkout(stripe_client)
    order = db.session.scalar(select(Order))
    assert stripe_client.get(f"/checkout/test/{order.provider_session_id}").status_code == 404


def test_signed_in_checkout_uses_the_account_and_empties_its_cart(client, auth, shop):
    customer = factories.make_user("customer", email="member@example.com")
    auth.login(customer.email)
    for photo in shop.photos[:2]:
        client.post(f"/cart/photos/{photo.id}")
    html = client.get("/cart").get_data(as_text=True)
    assert re.search(r'value="member@example.com"', html)
    response = client.post("/checkout", data={"email": "member@example.com"})
    pay_with_test_provider(client, response)
    order = db.session.scalar(select(Order))
    assert order.user_id == customer.id and order.status is OrderStatus.PAID
    assert db.session.scalar(select(func.count(CartItem.id))) == 0
    orders_page = client.get("/orders").get_data(as_text=True)
    assert f"/orders/{order.id}" in orders_page


def test_emails_speak_the_customers_language(app, client, shop, drain):
    client.post("/auth/language", data={"locale": "th", "next": "/"})
    add_photos(client, shop.photos[:2])
    cart = client.get("/cart").get_data(as_text=True)
    assert "ตะกร้าของคุณ" in cart and "ชำระเงินอย่างปลอดภัย" in cart
    pay_with_test_provider(client, checkout(client))
    order = db.session.scalar(select(Order))
    assert order.locale == "th"
    drain()
    [mail] = read_outbox(app.config["MAIL_OUTBOX_DIR"])
    assert str(mail["Subject"]) == f"ภาพของคุณพร้อมให้ดาวน์โหลดแล้ว (คำสั่งซื้อ {order.id})"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "ดาวน์โหลดไฟล์ต้นฉบับแต่ละภาพได้ที่นี่" in text and "ใบเสร็จ" in html
    assert text.count("/downloads/") == 2

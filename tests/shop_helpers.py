"""Fixtures and helpers shared by the shop's tests (cart, checkout, webhook, downloads, API)."""
import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event as sa_event

from pixstock.extensions import db

from . import factories
from .stripe_server import FakeStripe

WEBHOOK_SECRET = "whsec_test_" + "s3cr3t" * 4


def stock_shop():
    """An event on sale (฿100 a photo, 5 for ฿400, all of me ฿500) with 6 approved photos by a 40 % photographer."""
    photographer = factories.make_user("photographer")
    photographer.profile.commission_bps = 4000
    db.session.commit()
    event = factories.make_event(price_single=10000, price_all_of_me=50000, bundles=[(5, 40000)],
                                 photographers=[photographer])
    photos = factories.make_photos(event, photographer, 6)
    return type("Shop", (), {"event": event, "photos": photos, "photographer": photographer})


@pytest.fixture
def shop(app):
    """stock_shop() on the default app (test payment provider)."""
    return stock_shop()


@pytest.fixture
def fake_stripe():
    """A local Stripe API stand-in (see tests/stripe_server.py)."""
    with FakeStripe() as fake:
        yield fake


@pytest.fixture
def stripe_app(make_app, fake_stripe):
    """An app that pays through Stripe (the fake), with an app context pushed."""
    application = make_app(
        STRIPE_SECRET_KEY="sk_test_pixstock", STRIPE_PUBLISHABLE_KEY="pk_test_pixstock",
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_API_BASE=fake_stripe.url,
    )
    with application.app_context():
        yield application


@pytest.fixture
def stripe_shop(stripe_app):
    """The shop fixture's data, on the Stripe app."""
    return stock_shop()


def csrf_from(html: str) -> str:
    match = re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def add_photos(client, photos):
    """Put photos in the client's cart through the add-many endpoint."""
    response = client.post("/cart/add-many", data={"photo_ids": [p.id for p in photos]})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def checkout(client, email="runner@example.com"):
    """Submit the checkout form; returns the response (303 to the provider)."""
    return client.post("/checkout", data={"email": email})


def session_id_of(response) -> str:
    """The provider session id in a checkout redirect."""
    location = response.headers["Location"]
    return location.rstrip("/").rsplit("/", 1)[-1]


def pay_with_test_provider(client, response, action="pay"):
    """Follow a test-provider checkout redirect and press a button on its page."""
    location = response.headers["Location"]
    page = client.get(location)
    assert page.status_code == 200
    assert b"test-banner" in page.data  # the page says loudly that it is a test
    return client.post(location, data={"action": action})


def buy(client, photos, email="runner@example.com", drain=None):
    """Add, check out and pay with the test provider; return the order id."""
    from pixstock.models import Order

    add_photos(client, photos)
    response = checkout(client, email)
    assert response.status_code == 303, response.get_data(as_text=True)[:800]
    paid = pay_with_test_provider(client, response)
    assert paid.status_code == 302
    order = db.session.scalar(db.select(Order).order_by(Order.id.desc()))
    if drain is not None:
        drain()
    return order.id


@contextmanager
def count_queries(engine):
    """Count the SQL statements run inside the block: `with count_queries(db.engine) as n: ...; n()`."""
    statements = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa_event.listen(engine, "before_cursor_execute", before)
    try:
        yield lambda: len(statements)
    finally:
        sa_event.remove(engine, "before_cursor_execute", before)

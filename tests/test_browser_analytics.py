"""In a real Chromium: a runner's visit is counted, the admin reads the dashboard's charts, narrows the dates
with htmx, and a photographer reads their earnings."""
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from pixstock.analytics.days import local_today
from pixstock.analytics.tracking import flush_tracked
from pixstock.extensions import db
from pixstock.models import utcnow

from . import factories
from .analytics_helpers import sell
from .factories import PASSWORD

pytestmark = pytest.mark.browser
PHONE = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 "
         "Mobile Safari/537.36")


def sign_in(page, email):
    page.goto("/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def drawn(page, selector: str) -> int:
    """How many bars of a chart the browser actually laid out with a visible size."""
    bars = page.locator(f"{selector} svg rect.bar")
    sizes = [bars.nth(i).bounding_box() for i in range(bars.count())]
    return sum(1 for box in sizes if box and box["width"] > 0 and box["height"] > 0)


def test_admin_and_photographer_read_their_charts(live_server, page):
    app = live_server.app
    with app.app_context():
        admin = factories.make_user("admin")
        photographer = factories.make_user("photographer")
        photographer.profile.display_name = "Ploy"
        db.session.commit()
        event = factories.make_event(name="Krabi Half Marathon", photographers=[photographer])
        photos = factories.make_photos(event, photographer, 3)
        now = utcnow()
        sell([(photos[0], 15000), (photos[1], 15000)], now - timedelta(days=3))
        sell([(photos[0], 15000)], now - timedelta(days=1))
        sell([(photos[2], 20000)], now - timedelta(days=2), refunded_at=now - timedelta(hours=2))
        slug, photo_id, photographer_email, admin_email = event.slug, photos[0].id, photographer.email, admin.email
        yesterday = (local_today() - timedelta(days=1)).isoformat()  # Bangkok's yesterday, as the form reads it

    # A runner's phone finds the gallery, opens a photo and puts it in the cart. (Headless Chromium's own
    # user agent says "HeadlessChrome", which tracking rightly ignores as a robot.)
    phone = page.context.browser.new_context(base_url=live_server.url, user_agent=PHONE)
    runner = phone.new_page()
    runner.goto(f"/e/{slug}")
    runner.goto(f"/e/{slug}/p/{photo_id}")
    runner.get_by_role("button", name="Add to cart").first.click()
    expect(runner.get_by_role("button", name="In cart")).to_be_visible()
    phone.close()
    with app.app_context():
        assert flush_tracked() == 3

    sign_in(page, admin_email)
    page.get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", name="Analytics", exact=True)).to_be_visible()
    # Sold 650, of which 200 was refunded: gross 450, and the photographer's half of it.
    expect(page.locator('[data-figure="gross"]')).to_have_text("฿450")
    expect(page.locator('[data-figure="commission"]')).to_have_text("฿225")
    assert drawn(page, "#chart-revenue-day") >= 4  # three sale days and a refund below zero, two shares each
    assert drawn(page, "#chart-revenue-event") == 1
    assert drawn(page, "#chart-funnel") == 3  # visitors, cart and orders (nobody searched)
    expect(page.locator("#chart-funnel")).to_contain_text("1")
    expect(page.locator(".photo-ranks img").first).to_be_visible()
    assert page.locator(".photo-ranks img").first.evaluate("img => img.naturalWidth") == 150  # a real thumbnail

    # Narrowing the dates swaps the report in place (htmx) and keeps the address shareable.
    page.get_by_label("From").fill(yesterday)
    page.get_by_role("button", name="Show").click()
    until = page.get_by_role("textbox", name="To").input_value()
    expect(page).to_have_url(f"{live_server.url}/analytics/?from={yesterday}&to={until}")
    expect(page.locator('[data-figure="orders"]')).to_have_text("1")

    page.get_by_role("link", name="Krabi Half Marathon").first.click()
    expect(page.get_by_role("heading", name="Who is owed what")).to_be_visible()
    expect(page.locator("#owed")).to_contain_text("Ploy")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, photographer_email)
    page.get_by_role("link", name="Earnings").click()
    expect(page.locator('[data-figure="earned"]')).to_have_text("฿225")
    assert drawn(page, "#chart-earnings-month") >= 1
    assert drawn(page, "#chart-earnings-event") == 1
    with page.expect_download() as download:
        page.get_by_role("link", name="Download statement (CSV)").click()
    text = open(download.value.path(), encoding="utf-8-sig").read()
    assert text.splitlines()[-1].endswith(",225.00")

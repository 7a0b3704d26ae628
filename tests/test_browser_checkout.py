"""End to end in Chromium: add photos from the gallery, pay with the test provider, read the email, download.

The selfie-search step that comes before "add all" belongs to the faces work and is prepended there.
"""
import io
import re
import time
import zipfile

import pytest

from pixstock.services.mail import read_outbox
from pixstock.services.storage import get_storage

from . import factories

pytestmark = pytest.mark.browser


def wait_for_mail(outbox_dir, count=1, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = read_outbox(outbox_dir)
        if len(messages) >= count:
            return messages
        time.sleep(0.2)
    raise AssertionError(f"no email in {outbox_dir} after {timeout} s")


def test_buy_from_the_gallery_and_download_the_originals(live_server, page):
    app = live_server.app
    with app.app_context():
        photographer = factories.make_user("photographer")
        event = factories.make_event(name="Bangkok Marathon", photographers=[photographer], bundles=[(2, 15000)])
        photos = factories.make_photos(event, photographer, 3)
        slug = event.slug
        originals = {photo.original_filename: get_storage().read_bytes(photo.file_path) for photo in photos}
        ids = [photo.id for photo in photos]

    page.goto(f"/e/{slug}")
    badge = page.locator("#cart-badge .cart-count")
    assert badge.inner_text() == "0"
    # Add two photos from their gallery cards: htmx swaps the button and the badge without a reload.
    for photo_id in ids[:2]:
        page.locator(f"#p-{photo_id} .cart-toggle button").click()
        page.locator(f"#p-{photo_id} .cart-toggle button[aria-pressed=true]").wait_for()
    page.wait_for_function("document.querySelector('#cart-badge .cart-count').textContent.trim() === '2'")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # still the same page

    page.locator("#cart-badge").click()
    page.wait_for_url("**/cart")
    # Two photos: the bundle of 2 (฿150) beats two singles (฿200).
    assert page.locator("[data-total]").get_attribute("data-total") == "15000"
    assert page.get_by_text("Bundle of 2 photos").is_visible()
    page.get_by_label("Email for your receipt and download links").fill("runner@example.com")
    page.get_by_role("button", name="Pay securely").click()

    page.wait_for_url("**/checkout/test/**")
    assert page.get_by_text("TEST MODE").is_visible()
    page.get_by_role("button", name="Pay (test)").click()
    page.wait_for_url("**/success**")
    page.locator("#payment-status.status-paid").wait_for()

    [mail] = wait_for_mail(app.config["MAIL_OUTBOX_DIR"])
    assert mail["To"] == "runner@example.com"
    html = mail.get_body(("html",)).get_content()
    order_url = re.search(r'href="(http://[^"]+/orders/\d+\?token=[0-9a-f]+)"', html).group(1)
    assert len(re.findall(r"/downloads/", html)) == 2

    # The email's link opens the order page; download one original and check it byte for byte.
    page.goto(order_url)
    first = page.locator("a", has_text="Download original").first
    with page.expect_download() as info:
        first.click()
    download = info.value
    data = open(download.path(), "rb").read()
    assert originals[download.suggested_filename] == data

    with page.expect_download() as info:
        page.get_by_role("link", name="Download all as one ZIP").click()
    archive = zipfile.ZipFile(io.BytesIO(open(info.value.path(), "rb").read()))
    assert archive.testzip() is None
    names = archive.namelist()
    assert len(names) == 2
    for name in names:
        assert archive.read(name) == originals[name.split("-", 1)[1]]

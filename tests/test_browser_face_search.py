"""A customer on a phone finds her photos with a selfie from the event page, picks her face in a group selfie,
adds every photo found to the cart, pays with the test provider, reads the email and downloads an original
identical to the upload: a real Chromium, the real server, real photos processed and face-indexed by the
in-process worker."""
import re
import time

import numpy as np
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from pixstock.extensions import db
from pixstock.faces.search import read_selfie
from pixstock.models import FaceStatus, Photo, Role

from . import factories
from .test_browser_checkout import wait_for_mail
from .faces_helpers import GROUP_SELFIE, HOWARD, HOWARD_SELFIE, OTHERS, approve, ingest, read

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(base_url=live_server.url, **PHONE)
    yield context.new_page()
    context.close()


def wait_until_indexed(event_id: int, count: int, timeout: float = 60) -> None:
    """Wait for the in-process worker to process and face-index the event's photos."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()
        statuses = db.session.scalars(select(Photo.face_status).where(Photo.event_id == event_id)).all()
        if len(statuses) == count and FaceStatus.PENDING not in statuses:
            return
        time.sleep(0.2)
    raise AssertionError(f"photos not indexed in {timeout} s: {statuses}")


def test_selfie_search_from_the_event_page_to_the_cart(live_server, phone, shared_faces):
    app = live_server.app
    names = HOWARD[:3] + OTHERS[:2]  # Howard alone twice and in a group; two other people
    with app.app_context():
        photographer = factories.make_user(Role.PHOTOGRAPHER)
        # "All photos of me" at ฿250 beats three photos at ฿100 each.
        event = factories.make_event(photographers=[photographer], name="Chiang Mai Night Run",
                                     price_single=10000, price_all_of_me=25000)
        photos = [ingest(event, photographer, read(shared_faces, name), name.replace("/", "_")) for name in names]
        wait_until_indexed(event.id, len(names))
        approve(*photos)
        slug = event.slug
        howard_ids = {str(photo.id) for photo in photos[:3]}
        # Which face of the group selfie is Howard's (the picker lists them largest first).
        howard = read_selfie(read(shared_faces, HOWARD_SELFIE)).encoding
        group = [read_selfie(read(shared_faces, GROUP_SELFIE), 1, n) for n in range(5)]
        howard_face = int(np.argmin([np.linalg.norm(selfie.encoding - howard) for selfie in group]))
    page = phone

    page.goto(f"/e/{slug}")
    page.get_by_text("Find my photos with a selfie").click()
    expect(page.get_by_text("Your selfie stays private.")).to_be_visible()
    camera = page.locator('#face-search-form input[capture="user"]')
    assert camera.get_attribute("accept") == "image/*"

    # A selfie with friends: the largest face is searched, the others are offered to pick from.
    camera.set_input_files({"name": "selfie.jpg", "mimeType": "image/jpeg", "buffer": read(shared_faces, GROUP_SELFIE)})
    page.get_by_role("button", name="Agree and find my photos").click()
    choices = page.locator(".face-choice")
    expect(choices).to_have_count(5)
    expect(page.locator(".face-found")).to_be_visible()
    assert page.url.endswith(f"/e/{slug}")  # htmx swapped the results into the event page
    assert howard_face != 0  # the largest face is someone else's
    choices.nth(howard_face).click()  # the selfie is still in the form: no need to choose it again
    expect(choices.nth(howard_face)).to_have_attribute("aria-pressed", "true")
    found = page.locator(".face-result")
    expect(found.first).to_be_visible()
    # Howard's face in a crowd finds his two portraits (and his bearded costume in the group only maybe).
    assert {str(p.id) for p in photos[:2]} <= {found.nth(i).get_attribute("data-photo-id") for i in range(found.count())}

    # A selfie of him alone: choosing it clears the picker, and finds all three photos of him for sure.
    camera.set_input_files({"name": "me.png", "mimeType": "image/png", "buffer": read(shared_faces, HOWARD_SELFIE)})
    expect(choices).to_have_count(0)
    page.get_by_role("button", name="Agree and find my photos").click()
    results = page.locator('.face-results[data-band="strong"] .face-result')
    expect(results).to_have_count(3)
    assert {results.nth(i).get_attribute("data-photo-id") for i in range(3)} == howard_ids
    # The matched face is outlined over the photo, inside it.
    page.wait_for_function("[...document.querySelectorAll('.face-result img')].every(img => img.complete)")
    for i in range(3):
        photo_box = results.nth(i).locator("img").bounding_box()
        face_box = results.nth(i).locator(".face-box").bounding_box()
        assert face_box["width"] > 10 and face_box["height"] > 10
        assert photo_box["x"] - 1 <= face_box["x"] and face_box["x"] + face_box["width"] <= photo_box["x"] + photo_box["width"] + 1
        assert photo_box["y"] - 1 <= face_box["y"] and face_box["y"] + face_box["height"] <= photo_box["y"] + photo_box["height"] + 1
    expect(page.get_by_text("All photos of me: ฿250")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.get_by_role("button", name="Add all to cart").click()
    expect(page.locator(".cart-count")).to_have_text("3")
    page.get_by_role("link", name="View cart and pay").click()
    expect(page.get_by_text("All photos of me").first).to_be_visible()
    expect(page.locator("body")).to_contain_text("฿250")
    assert "/original" not in page.content()

    # Pay the package with the test provider, then follow the emailed link and download an original.
    page.get_by_label("Email for your receipt and download links").fill("howard@example.com")
    page.get_by_role("button", name="Pay securely").click()
    page.wait_for_url("**/checkout/test/**")
    page.get_by_role("button", name="Pay (test)").click()
    page.wait_for_url("**/success**")
    page.locator("#payment-status.status-paid").wait_for()
    [mail] = wait_for_mail(app.config["MAIL_OUTBOX_DIR"])
    assert mail["To"] == "howard@example.com"
    html = mail.get_body(("html",)).get_content()
    assert len(re.findall(r"/downloads/", html)) == 3
    order_url = re.search(r'href="(http://[^"]+/orders/\d+\?token=[0-9a-f]+)"', html).group(1)
    page.goto(order_url)
    uploaded = {name.replace("/", "_"): read(shared_faces, name) for name in names[:3]}
    with page.expect_download() as info:
        page.locator("a", has_text="Download original").first.click()
    download = info.value
    assert download.suggested_filename in uploaded
    assert open(download.path(), "rb").read() == uploaded[download.suggested_filename]

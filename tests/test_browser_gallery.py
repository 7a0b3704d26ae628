"""A customer on a phone-sized screen finds an event, scrolls its gallery past several pages, opens a photo,
moves with the keyboard and a swipe, and adds it to the cart: a real Chromium against the real server."""
import pytest
from playwright.sync_api import expect

from pixstock.catalog import PAGE_SIZE

from .factories import make_event, make_photos, make_user

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(base_url=live_server.url, **PHONE)
    yield context.new_page()
    context.close()


def test_customer_scrolls_a_gallery_and_opens_a_photo(live_server, phone):
    app = live_server.app
    with app.app_context():
        ann = make_user("photographer")
        event = make_event("on_sale", photographers=[ann], name="Bangkok City Marathon", location="Lumphini",
                           price_single=12000)
        make_event("on_sale", name="Hua Hin Swim", location="Hua Hin")
        photos = [p.id for p in make_photos(event, ann, 3 * PAGE_SIZE + 7)]
        slug = event.slug
    page = phone

    # Home: active search narrows the list as the customer types.
    page.goto("/")
    expect(page.locator(".event-card")).to_have_count(2)
    page.get_by_role("searchbox").press_sequentially("lumph", delay=30)
    expect(page.locator(".event-card")).to_have_count(1)
    page.get_by_role("link", name="Bangkok City Marathon").click()
    expect(page).to_have_url(f"{live_server.url}/e/{slug}")

    # The gallery fits the phone: three columns, no sideways scrolling.
    cards = page.locator(".photo-card")
    expect(cards).to_have_count(PAGE_SIZE)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    first_width = cards.first.bounding_box()["width"]
    assert 100 < first_width < 140, first_width
    page.wait_for_function("document.querySelector('.photo-card img').complete")
    assert page.evaluate("document.querySelector('.photo-card img').naturalWidth") == 300

    # Scrolling to the bottom fetches the next page, again and again, until all are there.
    for expected in (2 * PAGE_SIZE, 3 * PAGE_SIZE, len(photos)):
        page.mouse.wheel(0, 20_000)
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        expect(cards).to_have_count(expected, timeout=10_000)
    expect(page.locator(".photo-grid .more")).to_have_count(0)
    ids = [int(i) for i in page.eval_on_selector_all(".photo-card", "els => els.map(e => e.id.slice(2))")]
    assert ids == photos  # time order, nothing skipped or repeated
    assert page.url == f"{live_server.url}/e/{slug}"  # scrolling does not change the address

    # Open a photo from the third page.
    target = photos[2 * PAGE_SIZE + 3]
    page.locator(f"#p-{target} a").first.click()
    expect(page).to_have_url(f"{live_server.url}/e/{slug}/p/{target}")
    preview = page.locator(".photo-view img")
    expect(preview).to_be_visible()
    page.wait_for_function("document.querySelector('.photo-view img').complete && "
                           "document.querySelector('.photo-view img').naturalWidth > 0")
    assert "/preview" in preview.get_attribute("src")
    box = preview.bounding_box()
    assert box["width"] <= 390
    expect(page.locator("#share-url")).to_have_value(f"{live_server.url}/e/{slug}/p/{target}")

    def arrive(photo_id):
        # The address changes before the new page's deferred script has bound its keys and swipes.
        expect(page).to_have_url(f"{live_server.url}/e/{slug}/p/{photo_id}")
        page.wait_for_load_state("load")

    # Keyboard: → next, ← back.
    page.wait_for_load_state("load")
    page.keyboard.press("ArrowRight")
    arrive(photos[2 * PAGE_SIZE + 4])
    page.keyboard.press("ArrowLeft")
    arrive(target)

    # A swipe to the left shows the next photo, to the right the previous one.
    def swipe(dx):
        page.evaluate("""dx => {
            const el = document.querySelector('[data-swipe]');
            const at = (x) => [new Touch({identifier: 1, target: el, clientX: x, clientY: 300})];
            el.dispatchEvent(new TouchEvent('touchstart', {touches: at(200), changedTouches: at(200), bubbles: true}));
            el.dispatchEvent(new TouchEvent('touchend', {touches: [], changedTouches: at(200 + dx), bubbles: true}));
        }""", dx)

    swipe(-150)
    arrive(photos[2 * PAGE_SIZE + 4])
    swipe(150)
    arrive(target)
    swipe(20)  # too short: stays
    page.wait_for_timeout(300)
    expect(page).to_have_url(f"{live_server.url}/e/{slug}/p/{target}")

    # Add to cart (the checkout issue's control) and see the badge count it.
    page.get_by_role("button", name="Add to cart").click()
    expect(page.locator(".cart-count")).to_have_text("1")

    # Nothing on the way pointed at an original.
    assert "/original" not in page.content()

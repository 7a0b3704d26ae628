"""An admin clears the approval queue with the keyboard in a real Chromium: every action an htmx swap,
no page reload, each one recorded; a photo processed meanwhile appears live."""
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from pixstock.extensions import db
from pixstock.models import ApprovalStatus, AuditLog, Photo
from pixstock.tasks.progress import emit

from .factories import PASSWORD, make_event, make_photos, make_user

pytestmark = pytest.mark.browser


def _statuses(app, ids):
    with app.app_context():
        rows = db.session.execute(select(Photo.id, Photo.approval_status, Photo.rejection_reason).where(Photo.id.in_(ids)))
        return {i: (s, r) for i, s, r in rows}


def test_admin_clears_the_queue_with_the_keyboard(live_server, page):
    app = live_server.app
    with app.app_context():
        admin = make_user("admin", email="boss@example.com")
        ann = make_user("photographer", email="ann@example.com")
        event = make_event("on_sale", photographers=[ann], name="City Run")
        base = datetime.now(timezone.utc) - timedelta(minutes=30)
        photos = [make_photos(event, ann, 1, approval="pending", processed_at=base + timedelta(seconds=i))[0]
                  for i in range(7)]
        ids = [p.id for p in photos]
        newest_first = list(reversed(ids))

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/auth/login")
    page.get_by_label("Email").fill("boss@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/admin/queue")
    expect(page.locator("#shortcuts")).to_contain_text("approve")
    cards = page.locator("#queue-cards .queue-card")
    expect(cards).to_have_count(7)
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page

    def grid_swapped_after(action):
        with page.expect_response(lambda r: "/admin/queue/review" in r.url and r.request.method == "POST"):
            action()
        page.wait_for_function("document.querySelector('#queue-grid') && !document.querySelector('.htmx-request')")

    # A approves the highlighted (first, newest) photo.
    expect(cards.first).to_have_class("queue-card current")
    grid_swapped_after(lambda: page.keyboard.press("a"))
    expect(cards).to_have_count(6)
    assert _statuses(app, [newest_first[0]])[newest_first[0]][0] is ApprovalStatus.APPROVED

    # → then R rejects the second photo with the reason in the box.
    page.get_by_label("Reason").fill("Eyes closed")
    page.locator("body").click(position={"x": 5, "y": 5})  # leave the reason box so keys drive the grid
    page.keyboard.press("ArrowRight")
    expect(cards.nth(1)).to_have_class("queue-card current")
    grid_swapped_after(lambda: page.keyboard.press("r"))
    expect(cards).to_have_count(5)
    assert _statuses(app, [newest_first[2]])[newest_first[2]] == (ApprovalStatus.REJECTED, "Eyes closed")

    # Space selects; arrows move; A approves the selection (two photos), not the highlighted one alone.
    page.keyboard.press("ArrowLeft")
    page.keyboard.press(" ")
    page.keyboard.press("ArrowRight")
    page.keyboard.press(" ")
    expect(page.locator("[data-selected-count]")).to_have_text("2 ✓")
    grid_swapped_after(lambda: page.keyboard.press("a"))
    expect(cards).to_have_count(3)
    expect(page.locator("#queue-grid")).to_contain_text("Approved 2 photo(s).")

    # A shift-click range selects all three that are left; R rejects them.
    boxes = page.locator('#queue-cards input[type="checkbox"]')
    boxes.nth(0).click()
    boxes.nth(2).click(modifiers=["Shift"])
    expect(page.locator('#queue-cards input[type="checkbox"]:checked')).to_have_count(3)
    page.get_by_label("Reason").fill("Out of focus")
    page.locator("body").click(position={"x": 5, "y": 5})
    grid_swapped_after(lambda: page.keyboard.press("r"))
    expect(cards).to_have_count(0)
    expect(page.locator("#queue-grid")).to_contain_text("Nothing is waiting")
    expect(page.locator("#pending-count")).to_have_text("0")
    assert page.evaluate("window.__sameDocument") is True

    final = _statuses(app, ids)
    approved = {i for i, (s, _r) in final.items() if s is ApprovalStatus.APPROVED}
    rejected = {i: r for i, (s, r) in final.items() if s is ApprovalStatus.REJECTED}
    assert len(approved) == 3 and len(rejected) == 4
    assert sorted(rejected.values()) == ["Eyes closed", "Out of focus", "Out of focus", "Out of focus"]
    with app.app_context():
        actions = [a for (a,) in db.session.execute(select(AuditLog.action).order_by(AuditLog.id))]
    assert actions == ["photo.approve", "photo.reject", "photos.approve", "photos.reject"]


def test_a_newly_processed_photo_appears_live(live_server, page):
    app = live_server.app
    with app.app_context():
        make_user("admin", email="boss@example.com")
        ann = make_user("photographer")
        event = make_event("on_sale", photographers=[ann])
        first = make_photos(event, ann, 1, approval="pending",
                            processed_at=datetime.now(timezone.utc) - timedelta(minutes=5))[0].id
    page.goto("/auth/login")
    page.get_by_label("Email").fill("boss@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/admin/queue")
    cards = page.locator("#queue-cards .queue-card")
    expect(cards).to_have_count(1)
    # Wait until the page has joined the admins' room (its reply sets the badge from the server).
    page.wait_for_function("window.io && document.getElementById('pending-count').textContent.trim() === '1'")
    page.wait_for_timeout(500)
    with app.app_context():
        event, ann = db.session.merge(event), db.session.merge(ann)
        fresh = make_photos(event, ann, 1, approval="pending", processed_at=datetime.now(timezone.utc))[0].id
        # What the processing job announces when a photo becomes ready.
        emit("approval_count", {"pending": 2}, room="admins")
    expect(cards).to_have_count(2, timeout=10_000)
    expect(cards.first).to_have_attribute("data-photo-id", str(fresh))
    expect(cards.nth(1)).to_have_attribute("data-photo-id", str(first))
    expect(page.locator("#pending-count")).to_have_text("2")

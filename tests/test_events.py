"""Running events in the admin: create and edit, the lifecycle, sales, expiry, pricing, cover, QR, dashboard,
and managing photographers. Everything through the real pages, on PostgreSQL."""
import itertools
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from pixstock.extensions import db
from pixstock.models import (
    AuditLog,
    Event,
    EventPhotographer,
    EventStatus,
    Face,
    PhotographerStatus,
    TransitionError,
    User,
)
from pixstock.models.events import LIFECYCLE, PricingError

from . import factories
from .factories import make_event, make_photo, make_photos, make_user

STATUSES = [s.value for s in LIFECYCLE]
ALLOWED = {(a, b) for a, b in itertools.permutations(STATUSES, 2)
           if a != "closed" and abs(STATUSES.index(a) - STATUSES.index(b)) == 1}
ALL_PAIRS = list(itertools.permutations(STATUSES, 2))


@pytest.fixture
def admin(auth):
    user = make_user("admin")
    auth.login(user.email)
    return user


def _audit(action: str) -> list[AuditLog]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


# --- Lifecycle: every transition, allowed and refused ----------------------------------------------


def test_allowed_set_is_one_step_and_closed_is_final():
    # The table the tests below check against, written out so a change to it is deliberate.
    assert ALLOWED == {
        ("draft", "shooting"), ("shooting", "draft"), ("shooting", "processing"), ("processing", "shooting"),
        ("processing", "on_sale"), ("on_sale", "processing"), ("on_sale", "closed"),
    }


@pytest.mark.parametrize("old, new", ALL_PAIRS)
def test_model_transition(app, old, new):
    event = make_event(old)
    if (old, new) in ALLOWED:
        event.transition_to(EventStatus(new))
        assert event.status.value == new
        if new == "closed":
            assert event.closed_at is not None and event.sales_enabled is False
    else:
        with pytest.raises(TransitionError) as refused:
            event.transition_to(EventStatus(new))
        assert event.status.value == old
        message = str(refused.value)
        assert ("closed event is final" in message) if old == "closed" else ("one step at a time" in message)


@pytest.mark.parametrize("old, new", ALL_PAIRS)
def test_transition_through_the_page(client, admin, old, new):
    event = make_event(old)
    response = client.post(f"/admin/events/{event.id}/status", data={"status": new}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="event-status"' in html  # the panel, swapped in place
    db.session.refresh(event)
    if (old, new) in ALLOWED:
        assert event.status.value == new
        assert "flash-error" not in html
        [entry] = _audit("event.status")
        assert entry.actor_id == admin.id and entry.details == {"old": old, "new": new}
    else:
        assert event.status.value == old
        assert 'role="alert"' in html
        assert ("final" in html) if old == "closed" else ("one step at a time" in html)
        assert _audit("event.status") == []


def test_transition_without_javascript_redirects_with_the_reason(client, admin):
    event = make_event("draft")
    response = client.post(f"/admin/events/{event.id}/status", data={"status": "on_sale"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/admin/events/{event.id}")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "from draft it can go to shooting, not on_sale" in page
    assert client.post(f"/admin/events/{event.id}/status", data={"status": "bogus"}).status_code == 303


def test_dashboard_offers_only_allowed_steps(client, admin):
    event = make_event("processing")
    html = client.get(f"/admin/events/{event.id}").get_data(as_text=True)
    offered = set(re.findall(r'name="status" value="(\w+)"', html))
    assert offered == {"shooting", "on_sale"}
    closed = make_event("closed")
    html = client.get(f"/admin/events/{closed.id}").get_data(as_text=True)
    assert not re.findall(r'name="status" value="(\w+)"', html)
    assert "A closed event is final" in html


def test_an_event_runs_from_setup_to_closing(client, admin):
    """Create, price, staff and walk an event through every stage; the gallery follows along."""
    photographer = make_user("photographer")
    response = client.post("/admin/events/new", data={
        "name": "Chiang Mai Trail 2025", "event_date": "2025-03-02", "location": "Doi Suthep",
        "watermark_text": "CM Trail", "currency": "THB", "description": "Trail race",
    })
    assert response.status_code == 302
    event = db.session.scalar(select(Event).where(Event.name == "Chiang Mai Trail 2025"))
    assert event.slug == "chiang-mai-trail-2025" and event.status is EventStatus.DRAFT and not event.sales_enabled
    gallery = f"/e/{event.slug}"
    client.post(f"/admin/events/{event.id}/pricing", data={
        "price_single": "120", "bundles-0-photo_count": "5", "bundles-0-price": "450", "price_all_of_me": "590",
    })
    client.post(f"/admin/events/{event.id}/photographers", data={"user_id": photographer.id})
    for step in ["shooting", "processing", "on_sale"]:
        assert client.get(gallery).status_code == 200  # the admin previews it
        client.post(f"/admin/events/{event.id}/status", data={"status": step})
    client.post(f"/admin/events/{event.id}/sales", data={"enabled": "1"})
    db.session.refresh(event)
    assert event.status is EventStatus.ON_SALE and event.can_sell
    assert event.pricing == {"single": 12000, "bundles": [{"count": 5, "price": 45000}], "all_of_me": 59000}
    assert event.has_photographer(photographer)
    client.post(f"/admin/events/{event.id}/status", data={"status": "closed"})
    db.session.refresh(event)
    assert event.status is EventStatus.CLOSED and not event.sales_enabled
    # Closed is final: neither a step back nor reopening sales.
    client.post(f"/admin/events/{event.id}/status", data={"status": "on_sale"})
    client.post(f"/admin/events/{event.id}/sales", data={"enabled": "1"})
    db.session.refresh(event)
    assert event.status is EventStatus.CLOSED and not event.sales_enabled
    actions = [a.action for a in _audit_all()]
    assert actions.count("event.status") == 4 and "event.create" in actions and "event.pricing" in actions
    assert "event.assign" in actions and "event.sales" in actions


def _audit_all():
    db.session.expire_all()
    return list(db.session.scalars(select(AuditLog).order_by(AuditLog.id)))


# --- Create and edit -----------------------------------------------------------------------------


def test_edit_every_field(client, admin):
    event = make_event("draft", name="Old", slug="old-name")
    response = client.post(f"/admin/events/{event.id}/edit", data={
        "name": "วิ่งกรุงเทพ 2025", "slug": "bkk-run-2025", "description": "Night run", "event_date": "2025-04-01",
        "location": "Lumphini", "expiry_date": "2025-05-01", "watermark_text": "BKK", "currency": "USD",
    })
    assert response.status_code == 302
    db.session.refresh(event)
    assert (event.name, event.slug, event.description, event.location) == ("วิ่งกรุงเทพ 2025", "bkk-run-2025", "Night run", "Lumphini")
    assert event.event_date == date(2025, 4, 1) and event.expiry_date == date(2025, 5, 1)
    assert event.watermark_text == "BKK" and event.currency == "USD"
    [entry] = _audit("event.update")
    assert entry.details["before"] == {"name": "Old", "slug": "old-name"}


def test_thai_name_makes_a_thai_slug(client, admin):
    client.post("/admin/events/new", data={"name": "วิ่งกรุงเทพ", "watermark_text": "x", "currency": "THB"})
    assert db.session.scalar(select(Event.slug)) == "วิ่งกรุงเทพ"
    client.post("/admin/events/new", data={"name": "วิ่งกรุงเทพ", "watermark_text": "x", "currency": "THB"})
    assert sorted(db.session.scalars(select(Event.slug))) == ["วิ่งกรุงเทพ", "วิ่งกรุงเทพ-2"]


@pytest.mark.parametrize("data, message", [
    ({"name": ""}, "This field is required"),
    ({"name": "x" * 201}, "200 characters"),
    ({"slug": "has spaces!"}, "Use letters, digits and hyphens"),
    ({"slug": "taken"}, "Another event already uses this address"),
    ({"event_date": "2025-05-02", "expiry_date": "2025-05-01"}, "cannot end before the event"),
    ({"event_date": "not a date"}, "Not a valid date value"),
    ({"currency": "XYZ"}, "Not a valid choice"),
    ({"watermark_text": ""}, "This field is required"),
])
def test_edit_validates(client, admin, data, message):
    make_event("draft", slug="taken")
    event = make_event("draft", name="Keep", slug="keep")
    form = {"name": "Keep", "slug": "keep", "watermark_text": "w", "currency": "THB", **data}
    response = client.post(f"/admin/events/{event.id}/edit", data=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.refresh(event)
    assert (event.name, event.slug) == ("Keep", "keep")


def test_new_event_form_refuses_csrf_less_post(client, admin):
    response = client.post("/admin/events/new", data={"name": "x", "watermark_text": "w"}, csrf=False)
    assert response.status_code == 400
    assert db.session.scalar(select(Event.id)) is None


# --- Sales and expiry -------------------------------------------------------------------------------


def test_sales_open_and_close(client, admin):
    event = make_event("on_sale", sales_enabled=False)
    client.post(f"/admin/events/{event.id}/sales", data={"enabled": "1"})
    db.session.refresh(event)
    assert event.sales_enabled and event.can_sell
    client.post(f"/admin/events/{event.id}/sales", data={"enabled": "0"})
    db.session.refresh(event)
    assert not event.sales_enabled and not event.can_sell
    assert [e.details for e in _audit("event.sales")] == [{"enabled": True}, {"enabled": False}]


def test_sales_need_a_price(client, admin):
    event = make_event("on_sale", sales_enabled=False, price_single=0, bundles=[])
    html = client.post(f"/admin/events/{event.id}/sales", data={"enabled": "1"}, headers={"HX-Request": "1"}).get_data(as_text=True)
    assert "Set the single-photo price before opening sales" in html
    db.session.refresh(event)
    assert not event.sales_enabled


def test_expired_event_is_closed_to_customers(client, app):
    event = make_event("on_sale", expiry_date=date.today() - timedelta(days=2))
    photographer = make_user("photographer")
    photo = make_photo(event, photographer)
    assert event.is_expired() and not event.is_public and not event.can_sell and event.is_closed_to_customers
    html = client.get(f"/e/{event.slug}").get_data(as_text=True)
    assert "This event is closed" in html and "photo-grid" not in html
    html = client.get(f"/e/{event.slug}/p/{photo.id}").get_data(as_text=True)
    assert "This event is closed" in html and "add-to-cart" not in html
    assert event.name not in client.get("/").get_data(as_text=True)
    # The last day itself still sells.
    event.expiry_date = date.today()
    db.session.commit()
    assert event.can_sell and "photo-grid" in client.get(f"/e/{event.slug}").get_data(as_text=True)


# --- Pricing ---------------------------------------------------------------------------------------


def test_pricing_form_round_trip(client, admin):
    event = make_event("draft", price_single=10000, bundles=[(5, 40000), (10, 70000)], price_all_of_me=None)
    html = client.get(f"/admin/events/{event.id}/pricing").get_data(as_text=True)
    assert 'value="100.00"' in html or 'value="100.0"' in html or 'value="100"' in html
    response = client.post(f"/admin/events/{event.id}/pricing", data={
        "price_single": "99.50",
        "bundles-0-photo_count": "5", "bundles-0-price": "399.99",   # changed price, same count
        "bundles-1-photo_count": "", "bundles-1-price": "",            # the 10-photo tier removed
        "bundles-2-photo_count": "20", "bundles-2-price": "1200",      # a new tier
        "price_all_of_me": "",
    })
    assert response.status_code == 303
    db.session.expire_all()
    event = db.session.get(Event, event.id)
    assert event.pricing == {"single": 9950, "bundles": [{"count": 5, "price": 39999}, {"count": 20, "price": 120000}],
                             "all_of_me": None}
    [entry] = _audit("event.pricing")
    assert entry.details["single"] == 9950


@pytest.mark.parametrize("data, message", [
    ({"price_single": ""}, "Set a price"),
    ({"price_single": "-1"}, "Number must be at least 0"),
    ({"price_single": "1.005"}, "at most two decimals"),
    ({"price_single": "abc"}, "Not a valid decimal value"),
    ({"bundles-0-photo_count": "5", "bundles-0-price": ""}, "both a number of photos and a price"),
    ({"bundles-0-photo_count": "1", "bundles-0-price": "50"}, "Number must be between 2 and 10000"),
    ({"bundles-0-photo_count": "5", "bundles-0-price": "600"}, "costs no less than 5 single photos"),
    ({"bundles-0-photo_count": "5", "bundles-0-price": "400", "bundles-1-photo_count": "5", "bundles-1-price": "300"},
     "two bundles of 5 photos"),
])
def test_pricing_validates(client, admin, data, message):
    event = make_event("draft", price_single=10000, bundles=[(3, 25000)])
    form = {"price_single": "100", **data}
    response = client.post(f"/admin/events/{event.id}/pricing", data=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.refresh(event)
    assert event.pricing["single"] == 10000 and event.pricing["bundles"] == [{"count": 3, "price": 25000}]


def test_set_pricing_refuses_floats_and_booleans(app):
    event = make_event("draft")
    for bad in (12.5, True, -1, "100"):
        with pytest.raises(PricingError):
            event.set_pricing(bad, [], None)


# --- Cover, QR code --------------------------------------------------------------------------------


def test_cover_from_the_events_approved_photos(client, admin):
    photographer = make_user("photographer")
    event = make_event("on_sale")
    other = make_event("on_sale")
    approved = make_photo(event, photographer)
    pending = make_photo(event, photographer, approval="pending")
    foreign = make_photo(other, photographer)
    html = client.get(f"/admin/events/{event.id}/cover").get_data(as_text=True)
    assert f'value="{approved.id}"' in html and f'value="{pending.id}"' not in html and f'value="{foreign.id}"' not in html
    for bad in (pending.id, foreign.id):
        response = client.post(f"/admin/events/{event.id}/cover", data={"photo_id": bad})
        assert response.status_code == 422 and "approved photo of this event" in response.get_data(as_text=True)
    assert client.post(f"/admin/events/{event.id}/cover", data={"photo_id": "x1"}).status_code == 422
    assert client.post(f"/admin/events/{event.id}/cover", data={"photo_id": "99999999999"}).status_code == 422
    assert client.post(f"/admin/events/{event.id}/cover", data={"photo_id": approved.id}).status_code == 303
    db.session.refresh(event)
    assert event.cover_photo_id == approved.id
    home = client.get("/").get_data(as_text=True)
    assert f"/media/photos/{approved.id}/medium" in home
    client.post(f"/admin/events/{event.id}/cover", data={"photo_id": ""})
    db.session.refresh(event)
    assert event.cover_photo_id is None


def test_qr_code_encodes_the_public_page(client, admin, app):
    event = make_event("on_sale", slug="bkk-marathon")
    html = client.get(f"/admin/events/{event.id}/qr").get_data(as_text=True)
    assert "<svg" in html and "http://localhost/e/bkk-marathon" in html and "window.print()" in html
    svg = client.get(f"/admin/events/{event.id}/qr.svg")
    assert svg.mimetype == "image/svg+xml" and svg.data.startswith(b"<?xml") and b"<path" in svg.data
    app.config["BASE_URL"] = "https://photos.example.co.th"
    html = client.get(f"/admin/events/{event.id}/qr").get_data(as_text=True)
    assert "https://photos.example.co.th/e/bkk-marathon" in html


def test_qr_code_is_the_code_of_exactly_that_url(client, admin):
    """Without a decoder here, compare with qrcode's own rendering of the expected URL and of a near miss."""
    from pixstock.admin.events import qr_svg

    event = make_event("on_sale", slug="decode-me")
    svg = client.get(f"/admin/events/{event.id}/qr.svg").get_data(as_text=True)
    assert svg == qr_svg("http://localhost/e/decode-me")
    assert svg != qr_svg("http://localhost/e/decode-mf")


# --- Dashboard -------------------------------------------------------------------------------------


def test_dashboard_counts(client, admin):
    ann, bob = make_user("photographer", email="ann@example.com"), make_user("photographer", email="bob@example.com")
    event = make_event("on_sale", photographers=[ann, bob])
    make_photos(event, ann, 3, files=False)
    make_photos(event, ann, 2, approval="pending", files=False)
    make_photos(event, bob, 1, approval="rejected", files=False)
    failed = make_photo(event, bob, approval="pending", files=False)
    failed.processing_status = failed.processing_status.__class__("failed")
    with_faces = make_photo(event, bob, files=False, face_count=2)
    db.session.add_all([
        Face(photo_id=with_faces.id, event_id=event.id, top=0, right=10, bottom=10, left=0, size=10, encoding=b"\0" * 512)
        for _ in range(2)
    ])
    db.session.commit()
    html = client.get(f"/admin/events/{event.id}").get_data(as_text=True)
    cell = lambda name: re.search(rf'data-cell="{name}">(\d+)<', html).group(1)  # noqa: E731
    assert cell("ready-approved") == "4" and cell("ready-pending") == "2" and cell("ready-rejected") == "1"
    assert cell("failed-pending") == "1" and cell("received-pending") == "0"
    assert "Faces found: 2 in 1 photos." in html
    rows = re.findall(r"<tr><td>(\w+)</td><td>(\d+)</td>", html)
    assert ("ann", "5") in rows and ("bob", "3") in rows


# --- Photographers ---------------------------------------------------------------------------------


def test_assign_and_remove_photographers(client, admin):
    ann = make_user("photographer", email="ann@example.com")
    event = make_event("shooting")
    response = client.post(f"/admin/events/{event.id}/photographers", data={"user_id": ann.id},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200 and "ann@example.com" in response.get_data(as_text=True)
    assert db.session.scalar(select(EventPhotographer.user_id).where(EventPhotographer.event_id == event.id)) == ann.id
    # Twice is harmless; a customer, nobody, or a deactivated photographer cannot be assigned.
    client.post(f"/admin/events/{event.id}/photographers", data={"user_id": ann.id})
    customer = make_user("customer")
    for bad in (customer.id, 999999, "x"):
        html = client.post(f"/admin/events/{event.id}/photographers", data={"user_id": bad},
                           headers={"HX-Request": "true"}).get_data(as_text=True)
        assert 'role="alert"' in html
    gone = make_user("photographer", active=False)
    html = client.post(f"/admin/events/{event.id}/photographers", data={"user_id": gone.id},
                       headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "deactivated" in html
    assert len(db.session.scalars(select(EventPhotographer)).all()) == 1
    client.post(f"/admin/events/{event.id}/photographers/{ann.id}/remove")
    assert db.session.scalars(select(EventPhotographer)).all() == []
    assert [a.action for a in _audit_all()].count("event.assign") == 1
    assert [a.action for a in _audit_all()].count("event.unassign") == 1


def test_deactivate_and_reactivate_photographer(client, admin, app):
    ann = make_user("photographer", email="ann@example.com")
    response = client.post(f"/admin/photographers/{ann.id}/active", data={"active": "0"}, headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<tr id="photographer-') and "Reactivate" in html
    db.session.refresh(ann)
    assert not ann.active and ann.profile.status is PhotographerStatus.INACTIVE
    # A deactivated photographer can no longer sign in nor use a token.
    other = app.test_client()
    other.post("/auth/login", data={"email": ann.email, "password": factories.PASSWORD})
    assert other.get("/studio/").status_code in (302, 401)
    client.post(f"/admin/photographers/{ann.id}/active", data={"active": "1"})
    db.session.refresh(ann)
    assert ann.active and ann.profile.status is PhotographerStatus.ACTIVE
    assert [a.action for a in _audit_all() if a.action.startswith("photographer.")] == [
        "photographer.deactivate", "photographer.activate"]


def test_set_commission(client, admin):
    ann = make_user("photographer")
    response = client.post(f"/admin/photographers/{ann.id}/commission", data={"commission_percent": "42.5"},
                           headers={"HX-Request": "true"})
    assert 'value="42.50"' in response.get_data(as_text=True)
    db.session.refresh(ann)
    assert ann.profile.commission_bps == 4250
    for bad in ("101", "-1", "abc", "12.345"):
        html = client.post(f"/admin/photographers/{ann.id}/commission", data={"commission_percent": bad},
                           headers={"HX-Request": "true"}).get_data(as_text=True)
        assert 'class="error"' in html
    db.session.refresh(ann)
    assert ann.profile.commission_bps == 4250
    [entry] = _audit("photographer.commission")
    assert entry.details == {"old_bps": 5000, "new_bps": 4250}
    customer = make_user("customer")
    assert client.post(f"/admin/photographers/{customer.id}/commission", data={"commission_percent": "1"}).status_code == 404


def test_invite_photographer_lists_them(client, admin):
    response = client.post("/admin/photographers/invite", data={"email": "new@example.com", "commission_percent": "30"})
    assert response.status_code == 302
    user = User.by_email("new@example.com")
    assert user.profile.status is PhotographerStatus.INVITED and user.profile.commission_bps == 3000
    html = client.get("/admin/photographers").get_data(as_text=True)
    assert "new@example.com" in html and "Invited" in html

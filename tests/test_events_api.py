"""The events API: event JSON, the public list, keyset photo pages, admin create / patch / assign, approve / reject,
the same lifecycle rules as the site, and the OpenAPI document."""
import itertools
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from pixstock.extensions import db
from pixstock.models import ApiToken, ApprovalStatus, AuditLog, Event, EventStatus, Photo

from .factories import make_event, make_photo, make_photos, make_user

STATUSES = ["draft", "shooting", "processing", "on_sale", "closed"]
ALLOWED = {(a, b) for a, b in itertools.permutations(STATUSES, 2)
           if a != "closed" and abs(STATUSES.index(a) - STATUSES.index(b)) == 1}


def bearer(user) -> dict:
    _row, plain = ApiToken.issue(user)
    db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


@pytest.fixture
def admin_headers(app):
    return bearer(make_user("admin"))


def test_event_json_shape(client, app):
    event = make_event("on_sale", name="Bangkok Marathon", slug="bkk", description="Run", event_date=date(2025, 3, 2),
                       location="Lumphini", expiry_date=date.today() + timedelta(days=9), watermark_text="BKK",
                       price_single=12000, price_all_of_me=59000, bundles=[(10, 79000), (5, 45000)])
    body = client.get(f"/api/v1/events/{event.id}").get_json()
    assert body == {
        "id": event.id, "name": "Bangkok Marathon", "slug": "bkk", "description": "Run", "date": "2025-03-02",
        "location": "Lumphini", "status": "on_sale", "sales_enabled": True,
        "expiry_date": (date.today() + timedelta(days=9)).isoformat(), "watermark_text": "BKK", "currency": "THB",
        "url": "http://localhost/e/bkk",
        "pricing": {"single": 12000, "bundles": [{"count": 5, "price": 45000}, {"count": 10, "price": 79000}],
                    "all_of_me": 59000},
        "cover_photo_id": None,
    }


def test_list_is_events_on_sale(client, app):
    visible = make_event("on_sale", name="Visible")
    make_event("draft", name="Draft")
    make_event("on_sale", name="Expired", expiry_date=date.today() - timedelta(days=1))
    make_event("closed", name="Closed")
    body = client.get("/api/v1/events").get_json()
    assert [e["id"] for e in body["events"]] == [visible.id]
    assert client.get("/api/v1/events?q=vis").get_json()["events"][0]["name"] == "Visible"
    assert client.get("/api/v1/events?q=nothing").get_json() == {"events": []}


def test_unpublished_event_visible_to_staff_only(client, app):
    ann = make_user("photographer")
    event = make_event("draft", photographers=[ann])
    assert client.get(f"/api/v1/events/{event.id}").status_code == 404
    assert client.get(f"/api/v1/events/{event.id}", headers=bearer(make_user("customer"))).status_code == 404
    assert client.get(f"/api/v1/events/{event.id}", headers=bearer(make_user("photographer"))).status_code == 404
    assert client.get(f"/api/v1/events/{event.id}", headers=bearer(ann)).status_code == 200
    assert client.get("/api/v1/events/99999999999").status_code == 404


def test_the_session_cookie_is_ignored(client, auth, app):
    admin = make_user("admin")
    event = make_event("draft")
    auth.login(admin.email)
    assert client.get(f"/api/v1/events/{event.id}").status_code == 404
    assert client.post("/api/v1/events", json={"name": "x"}).status_code == 401


def test_photos_pages(client, app):
    ann = make_user("photographer")
    event = make_event("on_sale", photographers=[ann])
    photos = make_photos(event, ann, 5)
    make_photo(event, ann, approval="pending")
    first = client.get(f"/api/v1/events/{event.id}/photos?limit=3").get_json()
    assert [p["id"] for p in first["photos"]] == [p.id for p in photos[:3]] and first["next_cursor"]
    second = client.get(f"/api/v1/events/{event.id}/photos?limit=3&cursor={first['next_cursor']}").get_json()
    assert [p["id"] for p in second["photos"]] == [p.id for p in photos[3:]] and second["next_cursor"] is None
    sample = first["photos"][0]
    assert set(sample["urls"]) == {"square_150", "square_300", "medium", "preview"}
    assert sample["approval_status"] == "approved"
    # Limits outside 1..200 are clamped; a limit that is not a number is refused.
    assert len(client.get(f"/api/v1/events/{event.id}/photos?limit=0").get_json()["photos"]) == 1
    assert len(client.get(f"/api/v1/events/{event.id}/photos?limit=500").get_json()["photos"]) == 5
    response = client.get(f"/api/v1/events/{event.id}/photos?limit=x")
    assert (response.status_code, response.get_json()["error"]["code"]) == (400, "invalid_limit")


def test_create_event(client, admin_headers):
    response = client.post("/api/v1/events", headers=admin_headers, json={
        "name": "Chiang Mai Trail", "date": "2025-03-02", "location": "Doi Suthep", "description": "Trail",
        "watermark_text": "CMT", "currency": "THB", "expiry_date": "2025-04-30",
        "pricing": {"single": 15000, "bundles": [{"count": 5, "price": 60000}], "all_of_me": None},
    })
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/events/{body['id']}")
    assert body["status"] == "draft" and body["slug"] == "chiang-mai-trail" and body["sales_enabled"] is False
    assert body["pricing"] == {"single": 15000, "bundles": [{"count": 5, "price": 60000}], "all_of_me": None}
    assert body["url"] == "http://localhost/e/chiang-mai-trail"
    [entry] = db.session.scalars(select(AuditLog).where(AuditLog.action == "event.create")).all()
    assert entry.details["via"] == "api"
    again = client.post("/api/v1/events", headers=admin_headers, json={"name": "Chiang Mai Trail"}).get_json()
    assert again["slug"] == "chiang-mai-trail-2"


@pytest.mark.parametrize("body, status, code, field", [
    ({}, 422, "invalid_field", "name"),
    ({"name": ""}, 422, "invalid_field", "name"),
    ({"name": 5}, 422, "invalid_field", "name"),
    ({"name": "x", "status": "on_sale"}, 422, "invalid_field", "status"),
    ({"name": "x", "date": "02/03/2025"}, 422, "invalid_field", "date"),
    ({"name": "x", "date": 20250302}, 422, "invalid_field", "date"),
    ({"name": "x", "date": "2025-03-02", "expiry_date": "2025-03-01"}, 422, "invalid_field", "expiry_date"),
    ({"name": "x", "currency": "BTC"}, 422, "invalid_field", "currency"),
    ({"name": "x", "slug": "no spaces"}, 422, "invalid_field", "slug"),
    ({"name": "x", "pricing": {"single": 12.5}}, 422, "invalid_field", "pricing.single"),
    ({"name": "x", "pricing": {"single": "100"}}, 422, "invalid_field", "pricing.single"),
    ({"name": "x", "pricing": {"single": -1}}, 422, "invalid_field", "pricing"),
    ({"name": "x", "pricing": {"single": 100, "bundles": [{"count": 1, "price": 50}]}}, 422, "invalid_field", "pricing"),
    ({"name": "x", "pricing": {"single": 100, "bundles": {"count": 5}}}, 422, "invalid_field", "pricing.bundles"),
    ({"name": "x", "pricing": {"single": 100, "extra": 1}}, 422, "invalid_field", "pricing"),
    ({"name": "x", "pricing": []}, 422, "invalid_field", "pricing"),
    ({"name": "x", "sales_enabled": True}, 409, "sales_refused", None),
    ({"name": "x", "sales_enabled": "yes"}, 422, "invalid_field", "sales_enabled"),
    ({"name": "x", "colour": "red"}, 422, "unknown_field", None),
    ({"name": "x", "cover_photo_id": 12345}, 422, "invalid_field", "cover_photo_id"),
])
def test_create_validates(client, admin_headers, body, status, code, field):
    response = client.post("/api/v1/events", headers=admin_headers, json=body)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code and error["message"]
    if field:
        assert error["field"] == field
    assert db.session.scalar(select(Event.id)) is None


def test_create_refuses_non_json(client, admin_headers):
    response = client.post("/api/v1/events", headers=admin_headers, data="name=x")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize("old, new", list(itertools.permutations(STATUSES, 2)))
def test_patch_status_follows_the_lifecycle(client, admin_headers, old, new):
    event = make_event(old)
    response = client.patch(f"/api/v1/events/{event.id}", headers=admin_headers, json={"status": new})
    db.session.refresh(event)
    if (old, new) in ALLOWED:
        assert response.status_code == 200 and response.get_json()["status"] == new
        assert event.status.value == new
    else:
        assert response.status_code == 409
        error = response.get_json()["error"]
        assert error["code"] == "transition_refused" and ("final" in error["message"] or "one step" in error["message"])
        assert error["allowed"] == [s.value for s in event.allowed_transitions()]
        assert event.status.value == old


def test_patch_any_field_and_prices_atomically(client, admin_headers):
    event = make_event("processing", price_single=10000, bundles=[(5, 40000)], sales_enabled=False)
    response = client.patch(f"/api/v1/events/{event.id}", headers=admin_headers, json={
        "name": "Renamed", "slug": "renamed", "description": "", "location": "Hua Hin", "date": "2025-05-01",
        "expiry_date": None, "watermark_text": "HH", "currency": "USD",
        "pricing": {"bundles": [{"count": 3, "price": 25000}, {"count": 10, "price": 70000}]},
        "status": "on_sale", "sales_enabled": True,
    })
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["name"] == "Renamed" and body["url"].endswith("/e/renamed") and body["currency"] == "USD"
    assert body["pricing"] == {"single": 10000, "bundles": [{"count": 3, "price": 25000}, {"count": 10, "price": 70000}],
                               "all_of_me": 50000}
    assert body["status"] == "on_sale" and body["sales_enabled"] is True and body["expiry_date"] is None
    # A refused part refuses the whole request: nothing of it is saved.
    response = client.patch(f"/api/v1/events/{event.id}", headers=admin_headers,
                            json={"name": "Half-saved?", "status": "draft"})
    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.get(Event, event.id).name == "Renamed"


def test_patch_cover(client, admin_headers):
    ann = make_user("photographer")
    event = make_event("on_sale")
    approved, pending = make_photo(event, ann), make_photo(event, ann, approval="pending")
    url = f"/api/v1/events/{event.id}"
    assert client.patch(url, headers=admin_headers, json={"cover_photo_id": pending.id}).status_code == 422
    assert client.patch(url, headers=admin_headers, json={"cover_photo_id": approved.id}).get_json()["cover_photo_id"] == approved.id
    assert client.patch(url, headers=admin_headers, json={"cover_photo_id": None}).get_json()["cover_photo_id"] is None


def test_assign_and_remove_photographer(client, admin_headers):
    ann = make_user("photographer", email="ann@example.com")
    event = make_event("shooting")
    url = f"/api/v1/events/{event.id}/photographers"
    response = client.post(url, headers=admin_headers, json={"email": "ANN@example.com"})
    assert response.status_code == 201
    assert response.get_json()["photographers"] == [{"id": ann.id, "email": "ann@example.com", "name": "ann", "active": True}]
    assert client.post(url, headers=admin_headers, json={"email": "ann@example.com"}).status_code == 200
    customer = make_user("customer")
    assert client.post(url, headers=admin_headers, json={"email": customer.email}).status_code == 404
    assert client.post(url, headers=admin_headers, json={"email": "nobody@example.com"}).status_code == 404
    assert client.post(url, headers=admin_headers, json={}).status_code == 422
    gone = make_user("photographer", active=False)
    assert client.post(url, headers=admin_headers, json={"email": gone.email}).status_code == 409
    assert client.delete(f"{url}/{ann.id}", headers=admin_headers).get_json()["photographers"] == []
    assert client.delete(f"{url}/{ann.id}", headers=admin_headers).status_code == 404


def test_approve_and_reject(client, admin_headers, app):
    ann = make_user("photographer")
    event = make_event("on_sale")
    photo = make_photo(event, ann, approval="pending")
    response = client.post(f"/api/v1/photos/{photo.id}/approve", headers=admin_headers)
    assert response.status_code == 200 and response.get_json()["approval_status"] == "approved"
    response = client.post(f"/api/v1/photos/{photo.id}/reject", headers=admin_headers, json={})
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "reason"
    response = client.post(f"/api/v1/photos/{photo.id}/reject", headers=admin_headers, json={"reason": " "})
    assert response.status_code == 422
    response = client.post(f"/api/v1/photos/{photo.id}/reject", headers=admin_headers, json={"reason": "Blurry"})
    assert response.status_code == 200 and response.get_json()["approval_status"] == "rejected"
    db.session.expire_all()
    stored = db.session.get(Photo, photo.id)
    assert stored.approval_status is ApprovalStatus.REJECTED and stored.rejection_reason == "Blurry"
    actions = [a.action for a in db.session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["photo.approve", "photo.reject"]
    # The photographer reads the reason through the API; a customer does not.
    assert client.get(f"/api/v1/photos/{photo.id}", headers=bearer(ann)).get_json()["rejection_reason"] == "Blurry"
    assert client.get(f"/api/v1/photos/{photo.id}", headers=bearer(make_user("customer"))).status_code == 404
    unprocessed = make_photo(event, ann, approval="pending", files=False, processing_status="received")
    assert client.post(f"/api/v1/photos/{unprocessed.id}/approve", headers=admin_headers).status_code == 409
    assert client.post("/api/v1/photos/99999999999/approve", headers=admin_headers).status_code == 404


@pytest.mark.parametrize("method, path", [
    ("post", "/api/v1/events"),
    ("patch", "/api/v1/events/{id}"),
    ("post", "/api/v1/events/{id}/photographers"),
    ("delete", "/api/v1/events/{id}/photographers/1"),
    ("post", "/api/v1/photos/{photo}/approve"),
    ("post", "/api/v1/photos/{photo}/reject"),
])
def test_admin_endpoints_refuse_others(client, app, method, path):
    ann = make_user("photographer")
    event = make_event("on_sale", photographers=[ann])
    photo = make_photo(event, ann, approval="pending", files=False)
    url = path.format(id=event.id, photo=photo.id)
    assert getattr(client, method)(url, json={"name": "x", "reason": "x", "email": ann.email}).status_code == 401
    for role in ("customer", "photographer"):
        user = ann if role == "photographer" else make_user(role)
        response = getattr(client, method)(url, headers=bearer(user), json={"name": "x", "reason": "x", "email": ann.email})
        assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    db.session.expire_all()
    assert db.session.get(Photo, photo.id).approval_status is ApprovalStatus.PENDING
    assert db.session.get(Event, event.id).name != "x"


def test_openapi_documents_every_events_endpoint(client, app):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    for path, method in [("/events", "get"), ("/events", "post"), ("/events/{event_id}", "get"),
                         ("/events/{event_id}", "patch"), ("/events/{event_id}/photos", "get"),
                         ("/events/{event_id}/photographers", "post"),
                         ("/events/{event_id}/photographers/{user_id}", "delete"),
                         ("/photos/{photo_id}/approve", "post"), ("/photos/{photo_id}/reject", "post")]:
        assert method in paths[path], (path, method)
    event = spec["components"]["schemas"]["Event"]["properties"]
    for field in ("id", "name", "slug", "description", "date", "location", "status", "sales_enabled", "expiry_date",
                  "watermark_text", "currency", "url", "pricing"):
        assert field in event
    assert "Photo" in spec["components"]["schemas"] and "Pricing" in spec["components"]["schemas"]
    # Every $ref points at something that exists.
    import json

    refs = set(__import__("re").findall(r'"\$ref": "#/components/(\w+)/(\w+)"', json.dumps(spec)))
    for kind, name in refs:
        assert name in spec["components"][kind], name


def test_event_status_enum_matches_model():
    assert STATUSES == [s.value for s in EventStatus]

"""Who may do what: every admin, studio, gallery (selfie search included), media and analytics route and every
API endpoint, for anonymous, customer, photographer assigned to the event, photographer not assigned, and admin.

The table below names the expected outcome per role. A route added later without a row still gets the
rule of its area (admin: admins only; studio: staff only) and the API's (never a 5xx), and
test_every_route_is_covered lists what the table does not name yet.
"""
import re
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from pixstock.extensions import db
from pixstock.models import ApiToken, ApprovalStatus, Photo, Upload, UploadBatch, UploadStatus

from .factories import make_event, make_photo, make_user

ROLES = ("anonymous", "customer", "outsider", "assigned", "admin")
OK = "ok"              # allowed: anything but 401/403/404, a redirect to sign in, or a 5xx
LOGIN = "login"        # web: redirected to sign in; API: 401
FORBIDDEN = "403"
HIDDEN = "404"
DENIED = "denied"      # 403 or 404: refused either way
ANY = "any"            # only: never a 5xx

ADMIN_ONLY = {"anonymous": LOGIN, "customer": FORBIDDEN, "outsider": FORBIDDEN, "assigned": FORBIDDEN, "admin": OK}
STAFF_OF_EVENT = {"anonymous": LOGIN, "customer": FORBIDDEN, "outsider": DENIED, "assigned": OK, "admin": OK}
STAFF_ANY = {"anonymous": LOGIN, "customer": FORBIDDEN, "outsider": OK, "assigned": OK, "admin": OK}
PUBLIC = {role: OK for role in ROLES}
STAFF_PREVIEW = {"anonymous": HIDDEN, "customer": HIDDEN, "outsider": HIDDEN, "assigned": OK, "admin": OK}
OWNER = {"anonymous": HIDDEN, "customer": HIDDEN, "outsider": HIDDEN, "assigned": OK, "admin": OK}
OWNER_API = {"anonymous": LOGIN, "customer": FORBIDDEN, "outsider": DENIED, "assigned": OK, "admin": OK}
SIGNED_IN = {"anonymous": LOGIN, "customer": OK, "outsider": OK, "assigned": OK, "admin": OK}
ANYONE = {role: ANY for role in ROLES}


@dataclass
class Case:
    method: str
    url: str
    expect: dict
    endpoint: str
    json: dict | None = None
    data: dict = field(default_factory=dict)

    @property
    def api(self) -> bool:
        return self.url.startswith("/api/")


CASES = [
    # Admin: events
    Case("GET", "/admin/", ADMIN_ONLY, "admin.index"),
    Case("GET", "/admin/events", ADMIN_ONLY, "admin.list_events"),
    Case("GET", "/admin/events/new", ADMIN_ONLY, "admin.new_event"),
    Case("POST", "/admin/events/new", ADMIN_ONLY, "admin.new_event", data={"name": "Matrix", "watermark_text": "w", "currency": "THB"}),
    Case("GET", "/admin/events/{event}", ADMIN_ONLY, "admin.show_event"),
    Case("GET", "/admin/events/{event}/edit", ADMIN_ONLY, "admin.edit_event"),
    Case("POST", "/admin/events/{event}/edit", ADMIN_ONLY, "admin.edit_event", data={"name": "Renamed", "watermark_text": "w", "currency": "THB"}),
    Case("POST", "/admin/events/{event}/status", ADMIN_ONLY, "admin.change_status", data={"status": "processing"}),
    Case("POST", "/admin/events/{event}/sales", ADMIN_ONLY, "admin.set_sales", data={"enabled": "0"}),
    Case("GET", "/admin/events/{event}/pricing", ADMIN_ONLY, "admin.edit_pricing"),
    Case("POST", "/admin/events/{event}/pricing", ADMIN_ONLY, "admin.edit_pricing", data={"price_single": "1"}),
    Case("GET", "/admin/events/{event}/cover", ADMIN_ONLY, "admin.choose_cover"),
    Case("POST", "/admin/events/{event}/cover", ADMIN_ONLY, "admin.choose_cover", data={"photo_id": "{approved}"}),
    Case("GET", "/admin/events/{event}/qr", ADMIN_ONLY, "admin.event_qr"),
    Case("GET", "/admin/events/{event}/qr.svg", ADMIN_ONLY, "admin.event_qr_svg"),
    Case("POST", "/admin/events/{event}/photographers", ADMIN_ONLY, "admin.assign_photographer", data={"user_id": "{outsider_id}"}),
    Case("POST", "/admin/events/{event}/photographers/{assigned_id}/remove", ADMIN_ONLY, "admin.remove_photographer"),
    Case("POST", "/admin/events/{event}/faces/reindex", ADMIN_ONLY, "admin.reindex_faces"),
    Case("POST", "/admin/events/{event}/faces/delete", ADMIN_ONLY, "admin.delete_faces"),
    # Admin: photographers
    Case("GET", "/admin/photographers", ADMIN_ONLY, "admin.photographers"),
    Case("POST", "/admin/photographers/invite", ADMIN_ONLY, "admin.invite", data={"email": "new@example.com", "commission_percent": "40"}),
    Case("POST", "/admin/photographers/{outsider_id}/active", ADMIN_ONLY, "admin.set_active", data={"active": "1"}),
    Case("POST", "/admin/photographers/{outsider_id}/commission", ADMIN_ONLY, "admin.set_commission", data={"commission_percent": "45"}),
    # Admin: the approval queue
    Case("GET", "/admin/queue", ADMIN_ONLY, "admin.queue"),
    Case("GET", "/admin/queue/newer?after=0_0", ADMIN_ONLY, "admin.queue_newer_cards"),
    Case("POST", "/admin/queue/review", ADMIN_ONLY, "admin.review", data={"approve_one": "{pending}"}),
    Case("POST", "/admin/queue/review-all", ADMIN_ONLY, "admin.review_all",
         data={"event": "{event}", "photographer": "{assigned_id}", "decision": "approve"}),
    # Studio
    Case("GET", "/studio/", STAFF_ANY, "studio.index"),
    Case("GET", "/studio/events/{event}/uploads", STAFF_OF_EVENT, "studio.event_uploads"),
    Case("GET", "/studio/events/{draft}/uploads", STAFF_OF_EVENT, "studio.event_uploads"),
    Case("POST", "/studio/events/{event}/batches", STAFF_OF_EVENT, "studio.create_batch", data={"label": "m"}),
    Case("GET", "/studio/events/{event}/reviews", STAFF_OF_EVENT, "studio.photo_reviews"),
    Case("GET", "/studio/batches/{batch}", STAFF_OF_EVENT, "studio.show_batch"),
    Case("GET", "/studio/batches/{batch}/state", STAFF_OF_EVENT, "studio.batch_state"),
    Case("POST", "/studio/batches/{batch}/files", STAFF_OF_EVENT, "studio.upload_files"),
    Case("POST", "/studio/batches/{batch}/retry", STAFF_OF_EVENT, "studio.retry_batch"),
    Case("POST", "/studio/batches/{batch}/uploads", STAFF_OF_EVENT, "studio.create_upload"),
    Case("GET", "/studio/uploads/{upload}", STAFF_OF_EVENT, "studio.upload_status"),
    Case("PATCH", "/studio/uploads/{upload}", STAFF_OF_EVENT, "studio.upload_chunk"),
    # Galleries
    Case("GET", "/e/{slug}", PUBLIC, "gallery.show_event"),
    Case("GET", "/e/{slug}/p/{approved}", PUBLIC, "gallery.show_photo"),
    Case("GET", "/e/{slug}/p/{pending}", {role: HIDDEN for role in ROLES}, "gallery.show_photo"),
    Case("GET", "/e/{draft_slug}", STAFF_PREVIEW, "gallery.show_event"),
    Case("GET", "/e/{draft_slug}/p/{draft_photo}", STAFF_PREVIEW, "gallery.show_photo"),
    # Selfie search (a gallery page of its own)
    Case("GET", "/e/{slug}/find-me", PUBLIC, "faces.show_search"),
    Case("POST", "/e/{slug}/find-me", ANYONE, "faces.search_photos"),
    Case("GET", "/e/{draft_slug}/find-me", {**STAFF_PREVIEW, "assigned": ANY, "admin": ANY}, "faces.show_search"),
    Case("POST", "/e/{draft_slug}/find-me", {**STAFF_PREVIEW, "assigned": ANY, "admin": ANY}, "faces.search_photos"),
    # Analytics (admins; photographers see their own earnings)
    Case("GET", "/analytics/", ADMIN_ONLY, "analytics.show_dashboard"),
    Case("GET", "/analytics/events/{event}", ADMIN_ONLY, "analytics.show_event"),
    Case("GET", "/analytics/export/funnels.csv", ADMIN_ONLY, "analytics.export_table"),
    Case("GET", "/analytics/earnings", {**STAFF_ANY, "admin": ANY}, "analytics.show_earnings"),
    Case("GET", "/analytics/earnings/statement.csv", {**STAFF_ANY, "admin": ANY}, "analytics.export_statement"),
    Case("GET", "/analytics/photographers/{assigned_id}", {**STAFF_OF_EVENT, "outsider": DENIED}, "analytics.show_earnings"),
    Case("GET", "/analytics/photographers/{assigned_id}/statement.csv", {**STAFF_OF_EVENT, "outsider": DENIED},
         "analytics.export_statement"),
    # Media
    Case("GET", "/media/photos/{approved}/preview", PUBLIC, "media.photo_file"),
    Case("GET", "/media/photos/{approved}/square_300", PUBLIC, "media.photo_file"),
    Case("GET", "/media/photos/{approved}/original", {**OWNER, "anonymous": DENIED, "customer": DENIED, "outsider": DENIED},
         "media.photo_file"),
    Case("GET", "/media/photos/{pending}/preview", OWNER, "media.photo_file"),
    Case("GET", "/media/photos/{draft_photo}/preview", OWNER, "media.photo_file"),
    # API: events
    Case("GET", "/api/v1/events", PUBLIC, "api.list_events"),
    Case("GET", "/api/v1/events/{event}", PUBLIC, "api.show_event"),
    Case("GET", "/api/v1/events/{draft}", STAFF_PREVIEW, "api.show_event"),
    Case("GET", "/api/v1/events/{event}/photos", PUBLIC, "api.list_event_photos"),
    Case("GET", "/api/v1/events/{draft}/photos", STAFF_PREVIEW, "api.list_event_photos"),
    Case("POST", "/api/v1/events", ADMIN_ONLY, "api.create_event", json={"name": "Via API"}),
    Case("PATCH", "/api/v1/events/{event}", ADMIN_ONLY, "api.update_event", json={"name": "Patched"}),
    Case("POST", "/api/v1/events/{event}/photographers", ADMIN_ONLY, "api.assign_photographer", json={"email": "{outsider_email}"}),
    Case("DELETE", "/api/v1/events/{event}/photographers/{assigned_id}", ADMIN_ONLY, "api.remove_photographer"),
    Case("POST", "/api/v1/photos/{pending}/approve", ADMIN_ONLY, "api.approve_photo"),
    Case("POST", "/api/v1/photos/{pending}/reject", ADMIN_ONLY, "api.reject_photo", json={"reason": "Blurry"}),
    Case("POST", "/api/v1/events/{event}/face-search", ANYONE, "api.search_faces"),
    Case("POST", "/api/v1/events/{draft}/face-search", {role: HIDDEN for role in ROLES}, "api.search_faces"),
    # API: photos and uploads
    Case("GET", "/api/v1/photos/{approved}", PUBLIC, "api.get_photo_json"),
    Case("GET", "/api/v1/photos/{pending}", OWNER, "api.get_photo_json"),
    Case("POST", "/api/v1/events/{event}/photos", OWNER_API, "api.upload_photo"),
    Case("POST", "/api/v1/events/{event}/batches", OWNER_API, "api.create_batch", json={"label": "api"}),
    Case("GET", "/api/v1/batches/{batch}", OWNER_API, "api.get_batch_state"),
    Case("POST", "/api/v1/batches/{batch}/uploads", OWNER_API, "api.create_upload", json={}),
    Case("GET", "/api/v1/uploads/{upload}", OWNER_API, "api.get_upload_state"),
    Case("PATCH", "/api/v1/uploads/{upload}", OWNER_API, "api.send_chunk"),
    # API: accounts, documents, orders, reports
    Case("GET", "/api/v1/me", SIGNED_IN, "api.me"),
    Case("GET", "/api/v1/openapi.json", PUBLIC, "api.openapi_document"),
    Case("POST", "/api/v1/tokens", ANYONE, "api.create_token", json={}),
    Case("POST", "/api/v1/orders", ANYONE, "api.create_order", json={}),
    Case("GET", "/api/v1/orders/999999", ANYONE, "api.get_order_json"),
    Case("GET", "/api/v1/reports/revenue", ADMIN_ONLY, "api.revenue_report"),
]
AREAS = ("admin", "studio", "gallery", "faces", "media", "analytics", "api")


@pytest.fixture
def world(app):
    """An event on sale and a draft, both staffed by `assigned`; photos approved and waiting; a batch and an upload."""
    # No passwords: the matrix signs people in through the session (sign-in itself is tested elsewhere),
    # which keeps 75 cases × 5 roles free of password hashing.
    people = {
        "customer": make_user("customer", password=None), "outsider": make_user("photographer", password=None),
        "assigned": make_user("photographer", password=None), "admin": make_user("admin", password=None),
    }
    event = make_event("on_sale", photographers=[people["assigned"]])
    draft = make_event("draft", photographers=[people["assigned"]])
    approved = make_photo(event, people["assigned"])
    pending = make_photo(event, people["assigned"], approval="pending")
    draft_photo = make_photo(draft, people["assigned"])
    batch = UploadBatch(event_id=event.id, user_id=people["assigned"].id, label="matrix")
    db.session.add(batch)
    db.session.flush()
    upload = Upload(id="u" * 32, batch_id=batch.id, event_id=event.id, user_id=people["assigned"].id,
                    filename="a.jpg", fingerprint="a.jpg-1-1", size=10, offset=0, status=UploadStatus.UPLOADING)
    db.session.add(upload)
    db.session.commit()
    tokens = {}
    for role, user in people.items():
        _row, tokens[role] = ApiToken.issue(user)
    db.session.commit()
    values = {
        "event": event.id, "draft": draft.id, "slug": event.slug, "draft_slug": draft.slug, "approved": approved.id,
        "pending": pending.id, "draft_photo": draft_photo.id, "batch": batch.id, "upload": upload.id,
        "assigned_id": people["assigned"].id, "outsider_id": people["outsider"].id,
        "outsider_email": people["outsider"].email,
    }
    return {"people": people, "values": values, "tokens": tokens}


def _fill(value, values):
    if isinstance(value, str):
        return value.format(**values)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    return value


def _check(response, outcome: str, case: Case, role: str) -> None:
    status = response.status_code
    where = f"{case.method} {case.url} as {role}: {status}"
    assert status < 500, where
    to_login = status in (301, 302, 303) and "/auth/login" in response.headers.get("Location", "")
    if outcome == OK:
        assert status not in (401, 403, 404) and not to_login, where
    elif outcome == LOGIN:
        assert (status == 401) if case.api else to_login, where
    elif outcome == FORBIDDEN:
        assert status == 403, where
    elif outcome == HIDDEN:
        assert status == 404, where
    elif outcome == DENIED:
        assert status in (403, 404), where


def _clients(app, world):
    clients = {}
    for role in ROLES:
        client = app.test_client()
        if role != "anonymous":
            with client.session_transaction() as session:  # what Flask-Login keeps after a sign-in
                session["_user_id"] = str(world["people"][role].id)
                session["_fresh"] = True
        clients[role] = client
    return clients


def _request(client, case: Case, values: dict, token: str | None):
    url = _fill(case.url, values)
    kwargs = {}
    if case.api:
        kwargs["headers"] = {"Authorization": f"Bearer {token}"} if token else {}
        if case.method in ("POST", "PATCH", "DELETE"):
            kwargs["json"] = _fill(case.json, values) if case.json is not None else {}
    else:
        kwargs["data"] = _fill(case.data, values)
    return client.open(url, method=case.method, **kwargs)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.method} {c.url}" for c in CASES])
def test_access(app, world, case):
    clients = _clients(app, world)
    # Refusals first: an allowed request may change the world (e.g. approve the waiting photo).
    for role in sorted(ROLES, key=lambda r: case.expect[r] == OK):
        token = world["tokens"].get(role)
        response = _request(clients[role], case, world["values"], token)
        _check(response, case.expect[role], case, role)


def _rules(app):
    for rule in app.url_map.iter_rules():
        area = rule.endpoint.split(".")[0]
        if area in AREAS:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield area, rule, method


def test_every_route_is_covered(app):
    """Each admin, studio, gallery, media and API route (and method) has at least one row above."""
    covered = {(c.endpoint, c.method) for c in CASES}
    missing = sorted(f"{m} {r.rule} ({r.endpoint})" for _a, r, m in _rules(app) if (r.endpoint, m) not in covered)
    assert missing == [], "add these to CASES: " + ", ".join(missing)


def test_area_rules_hold_for_every_route(app, world):
    """Whatever the table says, admin routes refuse everyone but admins and studio routes refuse customers."""
    clients = _clients(app, world)
    values = {**world["values"], "name": "preview", "upload_id": world["values"]["upload"]}
    for area, rule, method in _rules(app):
        if area not in ("admin", "studio", "analytics"):
            continue
        url = re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", lambda m: str({
            "event_id": values["event"], "user_id": values["outsider_id"], "batch_id": values["batch"],
            "upload_id": values["upload"], "photo_id": values["approved"],
        }.get(m.group(1), 1)), rule.rule)
        anonymous = clients["anonymous"].open(url, method=method, data={})
        assert anonymous.status_code in (302, 303) and "/auth/login" in anonymous.headers["Location"], (method, url)
        assert clients["customer"].open(url, method=method, data={}).status_code == 403, (method, url)
        if area == "admin" or (area == "analytics" and "earnings" not in rule.endpoint and "statement" not in rule.endpoint):
            for role in ("outsider", "assigned"):
                assert clients[role].open(url, method=method, data={}).status_code == 403, (method, url, role)


def test_csrf_is_required_for_every_web_state_change(app, world):
    """Every admin and studio POST (and PATCH) refuses a request without the CSRF token, even from an admin."""
    client = _clients(app, world)["admin"]
    for area, rule, method in _rules(app):
        if area in ("admin", "studio", "gallery", "faces") and method != "GET":
            url = re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", "1", rule.rule)
            assert client.open(url, method=method, data={}, csrf=False).status_code == 400, (method, url)


def test_a_photographer_sees_only_their_events_uploads_and_rejections(app, world):
    people, values = world["people"], world["values"]
    client = _clients(app, world)["assigned"]
    other_event = make_event("on_sale", photographers=[people["outsider"]], name="Someone Else's Run")
    mine_rejected = make_photo(db.session.get(type(other_event), values["event"]), people["assigned"],
                               approval="rejected", rejection_reason="Eyes closed")
    theirs_rejected = make_photo(other_event, people["outsider"], approval="rejected", rejection_reason="Blurry")
    studio = client.get("/studio/").get_data(as_text=True)
    assert "Someone Else&#39;s Run" not in studio and "Someone Else's Run" not in studio
    assert f"/studio/events/{values['event']}/uploads" in studio
    assert client.get(f"/studio/events/{other_event.id}/uploads").status_code in (403, 404)
    assert client.get(f"/studio/events/{other_event.id}/reviews").status_code in (403, 404)
    reviews = client.get(f"/studio/events/{values['event']}/reviews").get_data(as_text=True)
    assert "Eyes closed" in reviews and f'id="rejected-{mine_rejected.id}"' in reviews
    assert "Blurry" not in reviews and f"rejected-{theirs_rejected.id}" not in reviews
    assert re.search(r'data-count="approved">1<', reviews) and re.search(r'data-count="pending">1<', reviews)
    uploads = client.get(f"/studio/events/{values['event']}/uploads").get_data(as_text=True)
    assert f"/studio/events/{values['event']}/reviews" in uploads
    # The photographer's own pending photo is theirs to see; the outsider's is not.
    assert client.get(f"/media/photos/{values['pending']}/preview").status_code == 200
    assert client.get(f"/media/photos/{theirs_rejected.id}/preview").status_code == 404
    assert db.session.scalar(select(Photo.approval_status).where(Photo.id == values["pending"])) is ApprovalStatus.PENDING

"""The approval queue: what waits, filters, reviewing one, a selection or everything from a photographer,
reasons, the audit log, the live count, and that only approved photos ever reach customers."""
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from pixstock.approval import Decision, QueueFilter, ReviewError, queue_cursor, queue_newer, queue_page, review_photos
from pixstock.extensions import db, socketio
from pixstock.models import ApprovalStatus, AuditLog, Photo, ProcessingStatus, UploadBatch

from .factories import make_event, make_photo, make_photos, make_user

HX = {"HX-Request": "true"}


@pytest.fixture
def admin(auth):
    user = make_user("admin")
    auth.login(user.email)
    return user


@pytest.fixture
def setup(app):
    """Two photographers, two events, a batch; waiting, approved, rejected and unprocessed photos."""
    ann = make_user("photographer", email="ann@example.com")
    bob = make_user("photographer", email="bob@example.com")
    run = make_event("on_sale", photographers=[ann, bob], name="City Run")
    gig = make_event("processing", photographers=[ann], name="Night Gig")
    batch = UploadBatch(event_id=run.id, user_id=ann.id, label="Finish line")
    db.session.add(batch)
    db.session.commit()
    start = datetime(2025, 3, 2, 1, 0, tzinfo=timezone.utc)
    photos = {
        "ann_run": make_photos(run, ann, 3, approval="pending", start=start, batch_id=batch.id),
        "ann_run_loose": make_photos(run, ann, 1, approval="pending", start=start),
        "bob_run": make_photos(run, bob, 2, approval="pending", start=start),
        "ann_gig": make_photos(gig, ann, 2, approval="pending", start=start),
        "approved": make_photos(run, bob, 1, start=start),
        "rejected": make_photos(run, bob, 1, approval="rejected", start=start),
    }
    unprocessed = make_photo(run, ann, approval="pending", files=False, processing_status=ProcessingStatus.RECEIVED,
                             processed_at=None, derivative_keys={})
    return {"ann": ann, "bob": bob, "run": run, "gig": gig, "batch": batch, "photos": photos, "unprocessed": unprocessed}


def _ids(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'data-photo-id="(\d+)"', html)}


def _status(photo_id: int) -> ApprovalStatus:
    db.session.expire_all()
    return db.session.get(Photo, photo_id).approval_status


def _waiting(setup) -> set[int]:
    p = setup["photos"]
    return {x.id for key in ("ann_run", "ann_run_loose", "bob_run", "ann_gig") for x in p[key]}


def test_queue_shows_processed_waiting_photos_newest_first(client, admin, setup):
    html = client.get("/admin/queue").get_data(as_text=True)
    assert _ids(html) == _waiting(setup)  # not approved, rejected or unprocessed
    order = [int(i) for i in re.findall(r'data-photo-id="(\d+)"', html)]
    assert order == sorted(order, reverse=True)  # processed in id order by the factory: newest first
    assert "8 waiting in this view" in html and '<span id="pending-count" class="badge">8</span>' in html
    # The shortcuts are shown on the page.
    assert all(key in html for key in ("<kbd>A</kbd>", "<kbd>R</kbd>", "<kbd>Space</kbd>", "<kbd>←</kbd>"))


@pytest.mark.parametrize("query, expected", [
    ("event={run}", ["ann_run", "ann_run_loose", "bob_run"]),
    ("photographer={ann}", ["ann_run", "ann_run_loose", "ann_gig"]),
    ("event={run}&photographer={bob}", ["bob_run"]),
    ("batch={batch}", ["ann_run"]),
    ("event=abc&photographer=-1&batch=99999999999", ["ann_run", "ann_run_loose", "bob_run", "ann_gig"]),
])
def test_queue_filters(client, admin, setup, query, expected):
    url = "/admin/queue?" + query.format(run=setup["run"].id, ann=setup["ann"].id, bob=setup["bob"].id,
                                         batch=setup["batch"].id)
    html = client.get(url).get_data(as_text=True)
    assert _ids(html) == {p.id for key in expected for p in setup["photos"][key]}


def test_batch_filter_lists_the_batches(client, admin, setup):
    html = client.get(f"/admin/queue?event={setup['run'].id}").get_data(as_text=True)
    assert "Finish line" in html and f'value="{setup["batch"].id}"' in html


def test_approve_one_is_an_htmx_swap(client, admin, setup):
    photo = setup["photos"]["bob_run"][0]
    response = client.post("/admin/queue/review", data={"approve_one": photo.id, "event": setup["run"].id}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith('<div id="queue-grid"')
    assert photo.id not in _ids(html) and "Approved 1 photo(s)." in html
    assert '<span id="pending-count" class="badge" hx-swap-oob="true">7</span>' in html
    assert _ids(html) == {p.id for k in ("ann_run", "ann_run_loose", "bob_run") for p in setup["photos"][k]} - {photo.id}
    db.session.expire_all()
    reviewed = db.session.get(Photo, photo.id)
    assert reviewed.approval_status is ApprovalStatus.APPROVED and reviewed.reviewed_by_id == admin.id
    assert reviewed.reviewed_at is not None and reviewed.rejection_reason is None
    [entry] = db.session.scalars(select(AuditLog).where(AuditLog.action == "photo.approve")).all()
    assert (entry.actor_id, entry.object_type, entry.object_id) == (admin.id, "photo", photo.id)


def test_reject_one_needs_a_reason(client, admin, setup):
    photo = setup["photos"]["ann_run"][0]
    html = client.post("/admin/queue/review", data={"reject_one": photo.id, "reason": "   "}, headers=HX).get_data(as_text=True)
    assert "Say why the photo is rejected" in html and photo.id in _ids(html)
    assert _status(photo.id) is ApprovalStatus.PENDING
    html = client.post("/admin/queue/review", data={"reject_one": photo.id, "reason": " Eyes   closed "},
                       headers=HX).get_data(as_text=True)
    assert "Rejected 1 photo(s)." in html
    db.session.expire_all()
    rejected = db.session.get(Photo, photo.id)
    assert rejected.approval_status is ApprovalStatus.REJECTED and rejected.rejection_reason == "Eyes closed"
    [entry] = db.session.scalars(select(AuditLog).where(AuditLog.action == "photo.reject")).all()
    assert entry.details["reason"] == "Eyes closed"
    long = client.post("/admin/queue/review", data={"reject_one": setup["photos"]["ann_run"][1].id, "reason": "x" * 501},
                       headers=HX).get_data(as_text=True)
    assert "under 500 characters" in long


def test_review_a_selection(client, admin, setup):
    chosen = [p.id for p in setup["photos"]["ann_run"]] + [setup["photos"]["ann_gig"][0].id]
    response = client.post("/admin/queue/review", data={"photo_id": chosen, "decision": "approve"}, headers=HX)
    assert "Approved 4 photo(s)." in response.get_data(as_text=True)
    assert all(_status(i) is ApprovalStatus.APPROVED for i in chosen)
    untouched = _waiting(setup) - set(chosen)
    assert all(_status(i) is ApprovalStatus.PENDING for i in untouched)
    [entry] = db.session.scalars(select(AuditLog).where(AuditLog.action == "photos.approve")).all()
    assert sorted(entry.details["photo_ids"]) == sorted(chosen) and entry.details["count"] == 4
    # Reject a selection with a reason.
    client.post("/admin/queue/review", data={"photo_id": [p.id for p in setup["photos"]["bob_run"]],
                                             "decision": "reject", "reason": "Duplicate"}, headers=HX)
    assert all(_status(p.id) is ApprovalStatus.REJECTED for p in setup["photos"]["bob_run"])


@pytest.mark.parametrize("data, message", [
    ({"decision": "approve"}, "Select at least one photo."),
    ({"decision": "approve", "photo_id": ["x", "99999999999"]}, "Select at least one photo."),
    ({"decision": "maybe", "photo_id": ["1"]}, "Choose approve or reject."),
    ({"photo_id": ["1"]}, "Choose approve or reject."),
])
def test_review_refuses_nonsense_without_a_500(client, admin, setup, data, message):
    response = client.post("/admin/queue/review", data=data, headers=HX)
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    assert all(_status(i) is ApprovalStatus.PENDING for i in _waiting(setup))


def test_unprocessed_photos_cannot_be_approved(client, admin, setup):
    photo = setup["unprocessed"]
    html = client.post("/admin/queue/review", data={"approve_one": photo.id}, headers=HX).get_data(as_text=True)
    assert "Approved 0 photo(s)." in html
    assert _status(photo.id) is ApprovalStatus.PENDING


def test_review_without_javascript_redirects_back_with_the_filters(client, admin, setup):
    photo = setup["photos"]["bob_run"][0]
    response = client.post("/admin/queue/review", data={"approve_one": photo.id, "event": setup["run"].id,
                                                        "photographer": setup["bob"].id, "reason": "Blurry"})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert f"event={setup['run'].id}" in location and f"photographer={setup['bob'].id}" in location
    assert "reason=Blurry" in location
    html = client.get(location).get_data(as_text=True)
    assert "Approved 1 photo(s)." in html and 'value="Blurry"' in html


def test_review_everything_from_one_photographer_in_one_event(client, admin, setup):
    run, ann = setup["run"], setup["ann"]
    html = client.get(f"/admin/queue?event={run.id}&photographer={ann.id}").get_data(as_text=True)
    assert "Everything from this photographer in this event" in html
    response = client.post("/admin/queue/review-all", data={"event": run.id, "photographer": ann.id,
                                                            "decision": "approve"}, headers=HX)
    assert "4 photo(s) by ann in City Run: approved." in response.get_data(as_text=True)
    for key, expected in [("ann_run", ApprovalStatus.APPROVED), ("ann_run_loose", ApprovalStatus.APPROVED),
                          ("bob_run", ApprovalStatus.PENDING), ("ann_gig", ApprovalStatus.PENDING),
                          ("rejected", ApprovalStatus.REJECTED)]:
        assert all(_status(p.id) is expected for p in setup["photos"][key]), key
    assert _status(setup["unprocessed"].id) is ApprovalStatus.PENDING
    [entry] = db.session.scalars(select(AuditLog).where(AuditLog.action == "photos.approve_all")).all()
    assert entry.object_id == run.id and entry.details["photographer_id"] == ann.id and entry.details["count"] == 4
    # Rejecting everything needs a reason too; without event and photographer nothing happens.
    html = client.post("/admin/queue/review-all", data={"event": run.id, "photographer": setup["bob"].id,
                                                        "decision": "reject", "reason": ""}, headers=HX).get_data(as_text=True)
    assert "Say why" in html
    html = client.post("/admin/queue/review-all", data={"event": run.id, "decision": "approve"}, headers=HX).get_data(as_text=True)
    assert "Choose an event and a photographer first." in html
    assert all(_status(p.id) is ApprovalStatus.PENDING for p in setup["photos"]["bob_run"])


def test_rejecting_the_cover_clears_it(client, admin, setup):
    cover = setup["photos"]["approved"][0]
    run = setup["run"]
    run.cover_photo_id = cover.id
    db.session.commit()
    client.post("/admin/queue/review", data={"reject_one": cover.id, "reason": "Not from this event"}, headers=HX)
    db.session.refresh(run)
    assert run.cover_photo_id is None


def test_keyset_pages_of_the_queue(app, setup):
    run, ann = setup["run"], setup["ann"]
    # Forty more waiting photos processed in the same microsecond: the id breaks the tie.
    same = datetime(2025, 3, 2, 5, 0, tzinfo=timezone.utc)
    extra = make_photos(run, ann, 40, approval="pending", files=False, processed_at=same)
    seen, cursor = [], None
    while True:
        photos, cursor = queue_page(QueueFilter(event_id=run.id), cursor, limit=7)
        seen.extend(p.id for p in photos)
        if cursor is None:
            break
    expected = {p.id for k in ("ann_run", "ann_run_loose", "bob_run") for p in setup["photos"][k]} | {p.id for p in extra}
    assert len(seen) == len(set(seen)) == len(expected) and set(seen) == expected
    # The live top: photos processed after the first card's position.
    top = queue_page(QueueFilter())[0][0]
    later = make_photo(run, ann, approval="pending", files=False, processed_at=top.processed_at + timedelta(seconds=1))
    assert [p.id for p in queue_newer(QueueFilter(), queue_cursor(top))] == [later.id]
    assert queue_newer(QueueFilter(event_id=setup["gig"].id), queue_cursor(top)) == []


def test_newer_cards_and_older_pages_over_http(client, admin, setup):
    top = max(_waiting(setup))
    db.session.expire_all()
    cursor = queue_cursor(db.session.get(Photo, top)).encode()
    html = client.get(f"/admin/queue/newer?after={cursor}").get_data(as_text=True)
    assert _ids(html) == set()
    later = make_photo(setup["run"], setup["ann"], approval="pending", files=False,
                       processed_at=datetime.now(timezone.utc) + timedelta(minutes=1))
    html = client.get(f"/admin/queue/newer?after={cursor}").get_data(as_text=True)
    assert _ids(html) == {later.id}
    assert client.get("/admin/queue/newer?after=garbage").status_code == 400
    assert client.get("/admin/queue?before=1_x", headers=HX).status_code == 400


def _fresh(call, *args, **kwargs):
    """Run a Socket.IO test-client call outside the test's app context, as a server would: each event gets
    its own context, so the signed-in user is not cached in a `g` shared with earlier calls."""
    import contextvars

    from flask.globals import _cv_app

    def run():
        _cv_app.set(None)
        return call(*args, **kwargs)

    return contextvars.copy_context().run(run)


def test_reviews_announce_the_count_to_the_admins_room(app, client, admin, setup):
    """A real Socket.IO client, signed in as the admin, joins the admins' room and hears the new count."""
    listener = _fresh(socketio.test_client, app, flask_test_client=client)
    assert listener.is_connected()
    assert _fresh(listener.emit, "join_admins", {}, callback=True) == {"ok": True, "pending": 8}
    client.post("/admin/queue/review", data={"photo_id": [p.id for p in setup["photos"]["ann_run"]],
                                             "decision": "approve"}, headers=HX)
    counts = [m["args"][0] for m in listener.get_received() if m["name"] == "approval_count"]
    assert counts == [{"pending": 5}]
    # A customer's socket is not let into the room.
    customer_client = app.test_client()
    customer = make_user("customer")
    customer_client.post("/auth/login", data={"email": customer.email, "password": "correct horse battery staple"})
    outsider = _fresh(socketio.test_client, app, flask_test_client=customer_client)
    assert _fresh(outsider.emit, "join_admins", {}, callback=True) == {"ok": False}
    client.post("/admin/queue/review", data={"approve_one": setup["photos"]["bob_run"][0].id}, headers=HX)
    assert [m for m in outsider.get_received() if m["name"] == "approval_count"] == []
    assert [m["args"][0] for m in listener.get_received() if m["name"] == "approval_count"] == [{"pending": 4}]
    _fresh(listener.disconnect)
    _fresh(outsider.disconnect)


def test_review_photos_function(app, setup):
    admin = make_user("admin")
    with pytest.raises(ReviewError):
        review_photos([], admin, Decision.APPROVE)
    photo = setup["photos"]["approved"][0]
    # Re-reviewing: an approved photo can be taken down, and approving it again is a no-op.
    assert review_photos([photo.id], admin, Decision.APPROVE) == []
    assert review_photos([photo.id], admin, Decision.REJECT, "Found a problem") == [photo.id]


# --- Only approved photos ever reach customers ------------------------------------------------------


def test_only_approved_photos_reach_customers(client, setup):
    run = setup["run"]
    approved = setup["photos"]["approved"][0]
    hidden = [setup["photos"]["rejected"][0], setup["photos"]["bob_run"][0], setup["unprocessed"]]
    page = client.get(f"/e/{run.slug}").get_data(as_text=True)
    assert f'id="p-{approved.id}"' in page
    for photo in hidden:
        assert f'id="p-{photo.id}"' not in page and f"/media/photos/{photo.id}/" not in page
        assert client.get(f"/e/{run.slug}/p/{photo.id}").status_code == 404
        assert client.get(f"/media/photos/{photo.id}/preview").status_code == 404
        assert client.get(f"/media/photos/{photo.id}/square_300").status_code == 404
    body = client.get(f"/api/v1/events/{run.id}/photos").get_json()
    assert [p["id"] for p in body["photos"]] == [approved.id]
    # Approving one makes it appear, nothing else.
    admin = make_user("admin")
    review_photos([hidden[1].id], admin, Decision.APPROVE)
    page = client.get(f"/e/{run.slug}").get_data(as_text=True)
    assert f'id="p-{hidden[1].id}"' in page and client.get(f"/e/{run.slug}/p/{hidden[1].id}").status_code == 200


@pytest.mark.parametrize("role", ["customer", "photographer"])
def test_queue_is_for_admins_only(client, auth, setup, role):
    user = setup["ann"] if role == "photographer" else make_user("customer")
    auth.login(user.email)
    photo = setup["photos"]["ann_run"][0]
    assert client.get("/admin/queue").status_code == 403
    assert client.post("/admin/queue/review", data={"approve_one": photo.id}).status_code == 403
    assert client.post("/admin/queue/review-all", data={"event": setup["run"].id, "photographer": setup["ann"].id,
                                                        "decision": "approve"}).status_code == 403
    assert _status(photo.id) is ApprovalStatus.PENDING

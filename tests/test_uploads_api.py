"""The upload API for camera apps and scripts: single-request uploads, the chunk protocol, photo JSON."""
import io

import pytest
from sqlalchemy import func, select

from pixstock.extensions import db
from pixstock.models import ApiToken, ApprovalStatus, Photo, Role
from pixstock.studio.samples import sample_jpeg

from . import factories


def bearer(user) -> dict:
    _row, plain = ApiToken.issue(user, "camera")
    db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


@pytest.fixture
def photographer(app):
    return factories.make_user(Role.PHOTOGRAPHER)


@pytest.fixture
def event(app, photographer):
    return factories.make_event(photographers=[photographer])


@pytest.fixture
def token(photographer):
    return bearer(photographer)


def post_photo(client, event_id, data, headers, name="IMG_0001.JPG"):
    return client.post(f"/api/v1/events/{event_id}/photos", data={"file": (io.BytesIO(data), name)},
                       headers=headers, content_type="multipart/form-data")


def test_camera_app_uploads_a_photo_and_polls_it_until_ready(app, client, event, token, drain):
    data = sample_jpeg(21, size=(1200, 800), gps=(13.7563, 100.5018))
    response = post_photo(client, event.id, data, token)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/photos/{body['id']}")
    assert body["status"] == "received" and body["approval_status"] == "pending" and body["face_status"] == "pending"
    assert (body["width"], body["height"]) == (1200, 800)
    assert body["taken_at"].startswith("2025-03-01T22:") and body["camera_model"]
    assert set(body["urls"]) == {"original"}  # nothing derived yet
    assert "gps" not in str(body) and "metadata" not in body  # the location stays private

    drain()
    ready = client.get(f"/api/v1/photos/{body['id']}", headers=token).get_json()
    assert ready["status"] == "ready" and ready["faces"] == 0
    assert set(ready["urls"]) == {"square_150", "square_300", "medium", "preview", "original"}
    assert ready["urls"]["preview"].startswith("http://localhost/media/photos/")
    # The urls work for the photographer (the API user's session is not needed: media uses the site login).
    photo = db.session.get(Photo, body["id"])
    assert photo.metadata_json["gps"]["latitude"] == pytest.approx(13.7563, abs=1e-4)


def test_duplicate_is_409_with_the_existing_photo(app, client, event, token):
    data = sample_jpeg(22, size=(640, 480))
    first = post_photo(client, event.id, data, token).get_json()
    second = post_photo(client, event.id, data, token, name="again.jpg")
    assert second.status_code == 409
    assert second.get_json()["error"]["photo_id"] == first["id"]
    assert second.get_json()["error"]["code"] == "duplicate"
    assert db.session.scalar(select(func.count(Photo.id))) == 1


@pytest.mark.parametrize("payload, fragment", [
    (b"", "empty"),
    (b"GIF89a" + b"\x00" * 100, "not an image"),
    (lambda: sample_jpeg(23, size=(800, 600))[:20_000], "truncated"),
])
def test_unusable_files_are_422_with_a_reason(app, client, event, token, payload, fragment):
    data = payload() if callable(payload) else payload
    response = post_photo(client, event.id, data, token)
    assert response.status_code == 422
    assert fragment in response.get_json()["error"]["message"]
    assert db.session.scalar(select(func.count(Photo.id))) == 0


def test_too_large_is_413(make_app):
    app = make_app(MAX_PHOTO_BYTES=200_000)
    with app.app_context():
        photographer = factories.make_user(Role.PHOTOGRAPHER)
        event = factories.make_event(photographers=[photographer])
        headers = bearer(photographer)
        client = app.test_client()
        big = sample_jpeg(24, size=(1600, 1200), quality=95)
        assert len(big) > 200_000 + 64 * 1024  # beyond even the multipart allowance
        assert post_photo(client, event.id, big, headers).status_code == 413
        medium = big[:250_000]  # over the limit, within the request allowance
        response = post_photo(client, event.id, medium, headers)
        assert response.status_code == 413 and "too large" in response.get_json()["error"]["message"]


def test_not_assigned_is_403_and_customers_cannot_upload(app, client, event):
    outsider = factories.make_user(Role.PHOTOGRAPHER)
    assert post_photo(client, event.id, sample_jpeg(25, size=(64, 64)), bearer(outsider)).status_code == 403
    customer = factories.make_user(Role.CUSTOMER)
    assert post_photo(client, event.id, sample_jpeg(25, size=(64, 64)), bearer(customer)).status_code == 403
    assert post_photo(client, event.id, sample_jpeg(25, size=(64, 64)), {}).status_code == 401
    admin = factories.make_user(Role.ADMIN)
    assert post_photo(client, event.id, sample_jpeg(25, size=(64, 64)), bearer(admin)).status_code == 201


def test_missing_file_field_is_400(app, client, event, token):
    response = client.post(f"/api/v1/events/{event.id}/photos", data={"other": "x"}, headers=token)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "missing_file"


def test_chunk_protocol_over_the_api(app, client, event, token, drain):
    data = sample_jpeg(26, size=(1200, 800))
    batch = client.post(f"/api/v1/events/{event.id}/batches", json={"label": "card 2"}, headers=token)
    assert batch.status_code == 201
    batch_id = batch.get_json()["id"]
    spec = {"filename": "DSC_0002.JPG", "size": len(data), "fingerprint": "DSC_0002.JPG:card2"}
    upload = client.post(f"/api/v1/batches/{batch_id}/uploads", json=spec, headers=token)
    assert upload.status_code == 201
    upload_id = upload.get_json()["id"]
    half = len(data) // 2
    first = client.patch(f"/api/v1/uploads/{upload_id}", data=data[:half],
                         headers={**token, "Upload-Offset": "0"})
    assert first.status_code == 200 and first.headers["Upload-Offset"] == str(half)
    head = client.head(f"/api/v1/uploads/{upload_id}", headers=token)
    assert head.headers["Upload-Offset"] == str(half)
    assert client.post(f"/api/v1/batches/{batch_id}/uploads", json=spec, headers=token).status_code == 200
    mismatch = client.patch(f"/api/v1/uploads/{upload_id}", data=data[:10], headers={**token, "Upload-Offset": "0"})
    assert mismatch.status_code == 409 and mismatch.get_json()["error"]["upload"]["offset"] == half
    last = client.patch(f"/api/v1/uploads/{upload_id}", data=data[half:], headers={**token, "Upload-Offset": str(half)})
    assert last.get_json()["status"] == "processing"
    drain()
    state = client.get(f"/api/v1/batches/{batch_id}", headers=token).get_json()
    assert state["summary"]["ready"] == 1 and state["uploads"][0]["photo_id"]


def test_photo_json_shows_each_caller_only_what_they_may_fetch(app, client, event, photographer, token, drain):
    body = post_photo(client, event.id, sample_jpeg(27, size=(640, 480)), token).get_json()
    drain()
    photo_id = body["id"]
    # Not approved yet: hidden from customers and anonymous clients.
    assert client.get(f"/api/v1/photos/{photo_id}").status_code == 404
    customer = bearer(factories.make_user(Role.CUSTOMER))
    assert client.get(f"/api/v1/photos/{photo_id}", headers=customer).status_code == 404
    admin = bearer(factories.make_user(Role.ADMIN))
    assert "original" in client.get(f"/api/v1/photos/{photo_id}", headers=admin).get_json()["urls"]

    photo = db.session.get(Photo, photo_id)
    photo.approval_status = ApprovalStatus.APPROVED
    db.session.commit()
    for headers in ({}, customer):
        seen = client.get(f"/api/v1/photos/{photo_id}", headers=headers).get_json()
        assert set(seen["urls"]) == {"square_150", "square_300", "medium", "preview"}
    other_photographer = bearer(factories.make_user(Role.PHOTOGRAPHER))
    assert "original" not in client.get(f"/api/v1/photos/{photo_id}", headers=other_photographer).get_json()["urls"]
    assert "original" in client.get(f"/api/v1/photos/{photo_id}", headers=token).get_json()["urls"]


def test_upload_endpoints_are_in_the_openapi_document(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "post" in spec["paths"]["/events/{event_id}/photos"]
    assert {"get", "patch"} <= set(spec["paths"]["/uploads/{upload_id}"])
    assert "post" in spec["paths"]["/batches/{batch_id}/uploads"]
    assert spec["components"]["schemas"]["Photo"]["properties"]["status"]["enum"] == [
        "received", "processing", "ready", "failed"]

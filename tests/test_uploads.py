"""Uploads through the studio: the chunk protocol, resuming, retrying, duplicates and every bad file."""
import io
import os
import re
import zlib
import struct

import pytest
from PIL import Image
from sqlalchemy import func, select

from pixstock.extensions import db
from pixstock.models import Photo, ProcessingStatus, Role, Upload, UploadBatch, UploadStatus
from pixstock.services.storage import get_storage
from pixstock.studio.samples import sample_jpeg

from . import factories


# --- helpers ----------------------------------------------------------------------------------------------


@pytest.fixture
def photographer(app):
    return factories.make_user(Role.PHOTOGRAPHER)


@pytest.fixture
def event(app, photographer):
    return factories.make_event(photographers=[photographer])


@pytest.fixture
def studio(client, auth, photographer):
    """A signed-in photographer's client."""
    auth.login(photographer.email)
    return client


def new_batch(client, event) -> int:
    response = client.post(f"/studio/events/{event.id}/batches", data={"label": "Finish line"})
    assert response.status_code == 303
    return int(re.search(r"/studio/batches/(\d+)$", response.headers["Location"]).group(1))


def csrf(client) -> dict:
    """The session's CSRF token as the page's htmx and upload.js send it."""
    page = client.get("/studio/").get_data(as_text=True)
    return {"X-CSRFToken": re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)}


def create_upload(client, batch_id, name, size, fingerprint=None, headers=None):
    return client.post(
        f"/studio/batches/{batch_id}/uploads",
        json={"filename": name, "size": size, "fingerprint": fingerprint or f"{name}:{size}:1700000000000"},
        headers=headers or csrf(client),
    )


def send_chunk(client, upload_id, offset, chunk, headers):
    return client.patch(
        f"/studio/uploads/{upload_id}", data=chunk,
        headers={**headers, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"},
    )


def upload_whole(client, batch_id, name, data, chunk_size=64 * 1024, headers=None):
    """Upload data in chunks; return the final JSON."""
    headers = headers or csrf(client)
    created = create_upload(client, batch_id, name, len(data), headers=headers)
    state = created.get_json()
    if created.status_code >= 400:
        return state
    while state["status"] == "uploading":
        start = state["offset"]
        response = send_chunk(client, state["id"], start, data[start:start + chunk_size], headers)
        state = response.get_json()
        if response.status_code >= 400:
            return state
    return state


def part_files(app) -> list[str]:
    directory = app.config["UPLOAD_DIR"]
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def stored_keys(app) -> list[str]:
    root = app.config["STORAGE_DIR"]
    found = []
    for directory, _dirs, files in os.walk(root):
        found += [os.path.relpath(os.path.join(directory, f), root) for f in files]
    return sorted(found)


# --- the happy path and resuming ------------------------------------------------------------------------


def test_chunked_upload_is_interrupted_resumed_and_processed(app, studio, event, drain):
    data = sample_jpeg(1, size=(1200, 800))
    batch_id = new_batch(studio, event)
    headers = csrf(studio)
    created = create_upload(studio, batch_id, "IMG_0001.JPG", len(data), headers=headers)
    assert created.status_code == 201
    state = created.get_json()
    assert (state["status"], state["offset"], state["size"]) == ("uploading", 0, len(data))

    first = send_chunk(studio, state["id"], 0, data[:100_000], headers)
    assert first.status_code == 200 and first.headers["Upload-Offset"] == "100000"
    # The connection dies mid-chunk: the server keeps nothing of the broken chunk.
    broken = studio.patch(
        f"/studio/uploads/{state['id']}", input_stream=io.BytesIO(data[100_000:120_000]), environ_overrides={"CONTENT_LENGTH": str(len(data) - 100_000)},
        headers={**headers, "Upload-Offset": "100000"},
    )
    assert broken.status_code == 400
    # The page comes back and asks where the server stands: HEAD, then the same file again.
    head = studio.head(f"/studio/uploads/{state['id']}")
    assert head.headers["Upload-Offset"] == "100000" and head.headers["Upload-Length"] == str(len(data))
    again = create_upload(studio, batch_id, "IMG_0001.JPG", len(data), headers=headers)
    assert again.status_code == 200 and again.get_json()["id"] == state["id"]
    assert again.get_json()["offset"] == 100_000
    # A client that lost track sends from the wrong offset: 409 says where to continue.
    wrong = send_chunk(studio, state["id"], 0, data[:1000], headers)
    assert wrong.status_code == 409 and wrong.get_json()["upload"]["offset"] == 100_000

    done = send_chunk(studio, state["id"], 100_000, data[100_000:], headers)
    assert done.status_code == 200
    final = done.get_json()
    assert final["status"] == "processing" and final["photo_id"]
    assert part_files(app) == []
    photo = db.session.get(Photo, final["photo_id"])
    assert photo.processing_status is ProcessingStatus.RECEIVED
    assert get_storage().read_bytes(photo.file_path) == data  # the original, byte for byte
    assert photo.original_filename == "IMG_0001.JPG" and photo.batch_id == batch_id

    drain()
    db.session.expire_all()
    assert photo.processing_status is ProcessingStatus.READY
    assert set(photo.derivative_keys) == {"square_150", "square_300", "medium", "preview"}
    status = studio.get(f"/studio/uploads/{state['id']}").get_json()
    assert status["status"] == "ready" and status["thumb_url"].startswith(f"/media/photos/{photo.id}/square_150")


def test_reopened_batch_page_shows_every_file_from_the_server(app, studio, event, drain):
    batch_id = new_batch(studio, event)
    headers = csrf(studio)
    ready = sample_jpeg(2, size=(640, 480))
    partial = sample_jpeg(3, size=(640, 480))
    upload_whole(studio, batch_id, "ready.jpg", ready, headers=headers)
    started = create_upload(studio, batch_id, "partial.jpg", len(partial), headers=headers).get_json()
    send_chunk(studio, started["id"], 0, partial[:20_000], headers)
    upload_whole(studio, batch_id, "notes.jpg", b"shopping list: rice, eggs" * 10, headers=headers)
    drain()

    page = studio.get(f"/studio/batches/{batch_id}").get_data(as_text=True)
    rows = dict(re.findall(r'data-fingerprint="([^":]+)[^"]*"\s+data-status="(\w+)"', page))
    assert rows == {"ready.jpg": "ready", "partial.jpg": "uploading", "notes.jpg": "rejected"}
    assert 'data-offset="20000"' in page
    assert "choose the file again to resume" in page
    assert "not an image" in page

    # Choosing the same files again: the finished one is known, the partial one resumes.
    again = create_upload(studio, batch_id, "partial.jpg", len(partial), headers=headers).get_json()
    assert (again["id"], again["offset"]) == (started["id"], 20_000)
    assert create_upload(studio, batch_id, "ready.jpg", len(ready), headers=headers).get_json()["status"] == "ready"
    state = studio.get(f"/studio/batches/{batch_id}/state").get_json()
    assert state["summary"] == {"total": 3, "uploading": 1, "processing": 0, "ready": 1, "failed": 0,
                                "duplicate": 0, "rejected": 1}


def test_retry_failed_reprocesses_only_failed_photos(app, studio, event, drain, monkeypatch):
    from pixstock.services import imaging

    batch_id = new_batch(studio, event)
    headers = csrf(studio)
    for seed in (4, 5):
        upload_whole(studio, batch_id, f"IMG_{seed}.jpg", sample_jpeg(seed, size=(640, 480)), headers=headers)
    real_process = imaging.process
    calls = []

    def flaky(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 1:
            raise imaging.ImageRejected("The image is truncated or corrupt.")
        return real_process(path, *args, **kwargs)

    monkeypatch.setattr(imaging, "process", flaky)
    drain()
    statuses = sorted(p.processing_status.value for p in db.session.scalars(select(Photo)))
    assert statuses == ["failed", "ready"]
    failed = db.session.scalar(select(Photo).where(Photo.processing_status == ProcessingStatus.FAILED))
    assert failed.failure_reason == "The image is truncated or corrupt."

    response = studio.post(f"/studio/batches/{batch_id}/retry", headers={**headers, "Accept": "application/json"})
    assert response.get_json() == {"retried": [failed.id]}
    drain()
    db.session.expire_all()
    assert len(calls) == 3  # the ready photo was not processed again
    assert {p.processing_status for p in db.session.scalars(select(Photo))} == {ProcessingStatus.READY}


def test_same_file_twice_is_a_duplicate_and_stored_once(app, studio, event, drain):
    data = sample_jpeg(6, size=(640, 480))
    first_batch, second_batch = new_batch(studio, event), new_batch(studio, event)
    headers = csrf(studio)
    first = upload_whole(studio, first_batch, "a.jpg", data, headers=headers)
    second = upload_whole(studio, second_batch, "copy of a.jpg", data, headers=headers)
    assert second["status"] == "duplicate"
    assert second["reason"] == f"Duplicate of photo {first['photo_id']}"
    assert second["duplicate_of"] == first["photo_id"]
    assert db.session.scalar(select(func.count(Photo.id))) == 1
    originals = [k for k in stored_keys(app) if "/originals/" in k]
    assert len(originals) == 1
    assert part_files(app) == []


def test_plain_form_without_javascript_uploads_several_files(app, studio, event, drain):
    batch_id = new_batch(studio, event)
    response = studio.post(
        f"/studio/batches/{batch_id}/files",
        data={"files": [(io.BytesIO(sample_jpeg(7, size=(640, 480))), "one.jpg"),
                        (io.BytesIO(sample_jpeg(8, size=(640, 480))), "two.jpg"),
                        (io.BytesIO(b"not a photo"), "three.jpg")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    page = studio.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 photos received." in page and "1 file was not accepted" in page
    drain()
    assert sorted(p.original_filename for p in db.session.scalars(select(Photo))) == ["one.jpg", "two.jpg"]


# --- bad files --------------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png() -> bytes:
    """A 30000 x 30000 PNG (900 MP) that compresses to a few hundred kilobytes."""
    width = height = 30_000
    row = b"\x00" + b"\x00" * width  # filter byte + one grey byte per pixel
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(2000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")


def huge_declared_jpeg() -> bytes:
    """A small JPEG whose header claims 60000 x 60000 pixels."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 50, 50)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 60_000, 60_000)
    return bytes(data)


BAD_FILES = {
    "truncated": (lambda: sample_jpeg(9, size=(800, 600))[:30_000], "truncated or corrupt"),
    "text renamed .jpg": (lambda: b"Dear photographer,\nthis is a text file.\n" * 50, "not an image"),
    "decompression bomb": (bomb_png, "too large"),
    "huge declared size": (huge_declared_jpeg, "too large"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_file_is_rejected_with_a_reason_and_leaves_nothing(app, studio, event, drain, kind):
    make, reason = BAD_FILES[kind]
    batch_id = new_batch(studio, event)
    state = upload_whole(studio, batch_id, "IMG_6666.jpg", make())
    assert state["status"] == "rejected"
    assert reason in state["reason"]
    assert db.session.scalar(select(func.count(Photo.id))) == 0
    assert part_files(app) == []
    assert stored_keys(app) == []
    page = studio.get(f"/studio/batches/{batch_id}").get_data(as_text=True)
    assert reason in page


def test_text_file_is_refused_after_its_first_chunk(app, studio, event):
    batch_id = new_batch(studio, event)
    headers = csrf(studio)
    text = b"x" * 1_000_000
    state = create_upload(studio, batch_id, "notes.jpg", len(text), headers=headers).get_json()
    response = send_chunk(studio, state["id"], 0, text[:65_536], headers)
    assert response.get_json()["status"] == "rejected"
    assert part_files(app) == []
    # Further chunks are refused: the upload is closed.
    assert send_chunk(studio, state["id"], 65_536, text[65_536:131_072], headers).status_code == 409


def test_zero_bytes_and_too_large_are_refused_before_any_byte_is_sent(make_app, auth):
    app = make_app(MAX_PHOTO_BYTES=1_000_000)
    with app.app_context():
        photographer = factories.make_user(Role.PHOTOGRAPHER)
        event = factories.make_event(photographers=[photographer])
        client = app.test_client()
        client.post("/auth/login", data={"email": photographer.email, "password": factories.PASSWORD})
        batch_id = new_batch(client, event)
        empty = create_upload(client, batch_id, "empty.jpg", 0)
        assert empty.status_code == 422 and empty.get_json()["upload"]["reason"] == "The file is empty."
        big = create_upload(client, batch_id, "big.jpg", 1_000_001)
        assert big.status_code == 413
        assert big.get_json()["upload"]["status"] == "rejected"
        assert "too large" in big.get_json()["error"]["message"]
        # A chunk may not carry more than the declared size either.
        ok = create_upload(client, batch_id, "small.jpg", 10).get_json()
        over = send_chunk(client, ok["id"], 0, b"\xff\xd8\xff" + b"0" * 20, csrf(client))
        assert over.status_code == 413
        statuses = sorted(u.status.value for u in db.session.scalars(select(Upload)))
        assert statuses == ["rejected", "rejected", "uploading"]


# --- access ---------------------------------------------------------------------------------------------


def test_only_assigned_photographers_and_admins_upload(app, client, auth, event):
    outsider = factories.make_user(Role.PHOTOGRAPHER)
    auth.login(outsider.email)
    assert client.post(f"/studio/events/{event.id}/batches").status_code == 403
    assert client.get(f"/studio/events/{event.id}/uploads").status_code == 403
    auth.logout()
    admin = factories.make_user(Role.ADMIN)
    auth.login(admin.email)
    assert client.post(f"/studio/events/{event.id}/batches").status_code == 303


def test_someone_elses_batch_is_not_found(app, client, auth, studio, event):
    batch_id = new_batch(studio, event)
    state = create_upload(studio, batch_id, "a.jpg", 100).get_json()
    auth.logout()
    other = factories.make_user(Role.PHOTOGRAPHER)
    factories.make_event(photographers=[other])
    auth.login(other.email)
    assert client.get(f"/studio/batches/{batch_id}").status_code == 404
    assert client.head(f"/studio/uploads/{state['id']}").status_code == 404
    assert send_chunk(client, state["id"], 0, b"\xff\xd8\xff", csrf(client)).status_code == 404


def test_chunks_need_the_csrf_token(app, studio, event):
    batch_id = new_batch(studio, event)
    state = create_upload(studio, batch_id, "a.jpg", 100).get_json()
    response = studio.patch(f"/studio/uploads/{state['id']}", data=b"\xff\xd8\xff", headers={"Upload-Offset": "0"},
                            csrf=False)
    assert response.status_code == 400


# --- cleaning up ------------------------------------------------------------------------------------------


def test_abandoned_uploads_are_swept_with_their_bytes(app, studio, event):
    from datetime import timedelta

    from pixstock.uploads import sweep_abandoned

    batch_id = new_batch(studio, event)
    headers = csrf(studio)
    data = sample_jpeg(10, size=(640, 480))
    state = create_upload(studio, batch_id, "left.jpg", len(data), headers=headers).get_json()
    send_chunk(studio, state["id"], 0, data[:10_000], headers)
    finished = upload_whole(studio, batch_id, "kept.jpg", sample_jpeg(11, size=(640, 480)), headers=headers)
    # A stray part file whose row is gone (a deleted batch) goes too.
    stray = os.path.join(app.config["UPLOAD_DIR"], "0" * 32 + ".part")
    open(stray, "wb").write(b"junk")
    assert len(part_files(app)) == 2

    assert sweep_abandoned(timedelta(hours=1)) == 0  # nothing is old enough yet
    assert sweep_abandoned(timedelta(seconds=-1)) == 2
    assert part_files(app) == []
    assert db.session.get(Upload, state["id"]) is None
    assert db.session.get(Upload, finished["id"]).status is UploadStatus.COMPLETE
    assert db.session.scalar(select(func.count(UploadBatch.id))) == 1



def test_upload_page_in_thai(app, client, auth, event):
    photographer = factories.make_user(Role.PHOTOGRAPHER, locale="th")
    event_th = factories.make_event(photographers=[photographer])
    auth.login(photographer.email)
    batch_id = new_batch(client, event_th)
    page = client.get(f"/studio/batches/{batch_id}").get_data(as_text=True)
    assert "อัปโหลดภาพ" in page and "ลากภาพมาวางที่นี่" in page and "ลองใหม่เฉพาะที่ล้มเหลว" in page
    import html
    import json

    messages = json.loads(html.unescape(re.search(r"data-messages='([^']*)'", page).group(1)))
    assert messages["time_left"] == "เหลืออีก {time}"  # upload.js fills in the time
    state = upload_whole(client, batch_id, "notes.jpg", b"not a photo at all" * 10)
    assert state["reason"] == "ไฟล์นี้ไม่ใช่ภาพที่ pixstock อ่านได้ (JPEG, PNG, WebP หรือ HEIC)"


@pytest.mark.parametrize("fmt, content_type, extension", [
    ("PNG", "image/png", ".png"), ("WEBP", "image/webp", ".webp"), ("HEIF", "image/heic", ".heic"),
])
def test_png_webp_and_heic_are_accepted_by_content(app, studio, event, drain, fmt, content_type, extension):
    import pillow_heif

    pillow_heif.register_heif_opener()
    image = Image.open(io.BytesIO(sample_jpeg(12, size=(800, 600))))
    buffer = io.BytesIO()
    image.save(buffer, fmt, quality=80)
    # Named .jpg on purpose: the content decides, never the name.
    state = upload_whole(studio, new_batch(studio, event), "phone-photo.jpg", buffer.getvalue())
    assert state["status"] == "processing", state
    photo = db.session.get(Photo, state["photo_id"])
    assert photo.content_type == content_type and photo.file_path.endswith(extension)
    drain()
    db.session.refresh(photo)
    assert photo.processing_status is ProcessingStatus.READY and (photo.width, photo.height) == (800, 600)


def test_same_file_finishing_twice_at_the_same_moment_becomes_one_photo(app, studio, event, photographer,
                                                                         monkeypatch):
    """The other copy commits its photo between our duplicate check and our insert: the unique index decides."""
    import hashlib

    from sqlalchemy.orm import Session

    from pixstock.services import imaging

    data = sample_jpeg(13, size=(640, 480))
    real_inspect = imaging.inspect
    winner = {}

    def inspect_while_the_other_copy_wins(path, **kwargs):
        with Session(db.engine) as other:  # another request, another connection
            row = Photo(event_id=event.id, photographer_id=photographer.id, original_filename="other.jpg",
                        filename="other.jpg", file_path=f"events/{event.id}/originals/other.jpg", file_size=len(data),
                        sha256=hashlib.sha256(data).hexdigest(), content_type="image/jpeg", derivative_keys={})
            other.add(row)
            other.commit()
            winner["id"] = row.id
        return real_inspect(path, **kwargs)

    monkeypatch.setattr(imaging, "inspect", inspect_while_the_other_copy_wins)
    state = upload_whole(studio, new_batch(studio, event), "copy.jpg", data)
    assert state["status"] == "duplicate" and state["duplicate_of"] == winner["id"]
    assert db.session.scalar(select(func.count(Photo.id))) == 1
    assert [k for k in stored_keys(app) if "/originals/" in k] == []  # nothing stored for the loser
    assert part_files(app) == []

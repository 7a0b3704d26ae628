"""The face indexing job on real photos (../shared/faces), re-indexing, deleting face data, and retention.

Photos go through the real ingest path and the real processing job, which hands them to index_faces on the
faces queue; face_recognition runs for real on their pixels.
"""
from datetime import date, timedelta

import numpy as np
import pytest
from PIL import Image
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from pixstock.extensions import db
from pixstock.faces import indexing
from pixstock.models import AuditLog, EventStatus, Face, FaceStatus, Photo, Role, utcnow
from pixstock.services import faces, imaging
from pixstock.services.storage import get_storage
from pixstock.tasks import faces as face_tasks
from pixstock.tasks import progress, schedule
from pixstock.tasks.queue import jobs

from . import factories
from .faces_helpers import HOWARD_SELFIE, NO_FACE, approve, build_event, ingest, jpeg, read

pytestmark = pytest.mark.slow
GROUP = "_group/faceapi_bbt5.jpg"  # five people, faces of 60-90 px


def faces_of(photo) -> list[Face]:
    return list(db.session.scalars(select(Face).where(Face.photo_id == photo.id).order_by(Face.left)))


def centre(box) -> np.ndarray:
    top, right, bottom, left = box
    return np.array([(top + bottom) / 2, (left + right) / 2])


def same_face(rows, box):
    """The stored face whose centre is within a fifth of its height of box's centre (or fail)."""
    row = min(rows, key=lambda row: np.linalg.norm(centre(row.box) - centre(box)))
    assert np.linalg.norm(centre(row.box) - centre(box)) < 0.2 * row.size, (row.box, box)
    return row


def test_processing_queues_indexing_on_the_faces_queue_and_boxes_are_in_original_pixels(app, drain, shared_faces):
    photographer = factories.make_user(Role.PHOTOGRAPHER)
    event = factories.make_event(photographers=[photographer])
    # The group photo at twice its size (so the job works on a reduced decode), stored upright and, as cameras
    # do, sideways with an EXIF orientation that turns it upright.
    upright = Image.open(f"{shared_faces}/{GROUP}").convert("RGB")
    upright = upright.resize((upright.width * 2, upright.height * 2), Image.Resampling.LANCZOS)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    sideways = jpeg(upright.transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes())
    straight = ingest(event, photographer, jpeg(upright), "straight.jpg")
    turned = ingest(event, photographer, sideways, "turned.jpg")
    empty = ingest(event, photographer, read(shared_faces, NO_FACE), "dogs.jpg")

    drain(("images",))
    assert jobs().queue("faces").count == 3  # handed over after processing, on the faces queue only
    db.session.expire_all()
    assert {straight.face_status, turned.face_status, empty.face_status} == {FaceStatus.PENDING}
    drain(("faces",))
    db.session.expire_all()

    assert (straight.width, straight.height) == (turned.width, turned.height) == upright.size
    assert straight.face_status is FaceStatus.DONE and straight.face_count == len(faces_of(straight)) >= 5
    assert turned.face_status is FaceStatus.DONE and turned.face_count == straight.face_count
    assert empty.face_status is FaceStatus.NONE and empty.face_count == 0 and faces_of(empty) == []
    # Where the service finds faces in the same file (its own decode), the job found them too. HOG's boxes come
    # in steps of its scan pyramid, so two decodes of one photo may frame a face a step apart: compare centres.
    rows = faces_of(straight)
    reference = faces.detect_photo_faces(jpeg(upright))
    assert len(reference) == len(rows)
    for face in reference:
        row = same_face(rows, face.box)
        assert 0.75 < row.size / face.size < 1.33
        assert row.size == row.bottom - row.top and row.event_id == event.id
        assert np.linalg.norm(row.vector - face.encoding) < 0.15
    # And every face of the photo at its own size sits at twice its centre in the boxes the job stored.
    for face in faces.detect_photo_faces(f"{shared_faces}/{GROUP}"):
        same_face(rows, [2 * value for value in face.box])
    for row in faces_of(turned):
        same_face(rows, row.box)  # the sideways file was indexed upright


def test_index_faces_is_idempotent_replaces_rows_and_announces_the_status(app, drain, shared_faces, monkeypatch):
    event, photos = build_event(shared_faces, drain, [])
    photographer = event.assignments[0].user
    photo = ingest(event, photographer, read(shared_faces, GROUP), "group.jpg")
    sent = []
    monkeypatch.setattr(progress, "emit", lambda name, data, room: sent.append((name, data, room)))
    drain()
    db.session.expire_all()
    first = [(row.id, row.box) for row in faces_of(photo)]
    assert photo.face_count == len(first) == 5  # Raj, Penny, Sheldon, Leonard, Howard
    assert sent[-1][0] == "photo_status" and sent[-1][1]["face_status"] == "done"
    assert sent[-1][2] == progress.batch_room(photo.batch_id)

    assert face_tasks.index_faces(photo.id) == "done"
    assert face_tasks.index_faces(photo.id) == "done"
    db.session.expire_all()
    again = faces_of(photo)
    assert len(again) == photo.face_count == 5  # replaced, never added to
    assert {row.id for row in again}.isdisjoint(face_id for face_id, _box in first)
    assert [row.box for row in again] == [box for _id, box in first]
    assert db.session.scalar(select(func.count(Face.id)).where(Face.event_id == event.id)) == 5


def test_failures_permanent_and_transient(app, drain, shared_faces, monkeypatch):
    event, _ = build_event(shared_faces, drain, [])
    photographer = event.assignments[0].user
    storage = get_storage()

    # A file that cannot be decoded any more fails for good, with a reason.
    broken = ingest(event, photographer, read(shared_faces, GROUP), "broken.jpg")
    drain(("images",))
    with open(storage.local_path(broken.file_path), "r+b") as handle:
        handle.truncate(4000)
    drain(("faces",))
    db.session.expire_all()
    assert broken.face_status is FaceStatus.FAILED and broken.face_error == "The image is truncated or corrupt."

    # A transient error (storage, memory) leaves the photo pending and RQ retries the job later.
    flaky = ingest(event, photographer, read(shared_faces, HOWARD_SELFIE), "flaky.png")
    drain(("images",))
    real = imaging.load_oriented
    monkeypatch.setattr(imaging, "load_oriented", lambda *a, **k: (_ for _ in ()).throw(OSError("NFS hiccup")))
    drain(("faces",))
    db.session.expire_all()
    assert flaky.face_status is FaceStatus.PENDING
    assert len(ScheduledJobRegistry(queue=jobs().queue("faces"))) == 1
    # Out of retries (here: no job at all) the same error fails the photo, saying an admin can re-index.
    assert face_tasks.index_faces(flaky.id) == "failed"
    db.session.expire_all()
    assert "re-index" in flaky.face_error
    monkeypatch.setattr(imaging, "load_oriented", real)
    assert face_tasks.index_faces(flaky.id) == "done"


def test_sweeper_queues_photos_whose_job_was_lost(app, drain, shared_faces):
    event, _ = build_event(shared_faces, drain, [])
    photo = ingest(event, event.assignments[0].user, read(shared_faces, HOWARD_SELFIE), "howard.png")
    drain(("images",))
    queue = jobs().queue("faces")
    assert face_tasks.sweep_unindexed_photos(timedelta(0)) == 0  # its job is waiting: leave it
    queue.empty()  # Redis lost the job
    assert face_tasks.sweep_unindexed_photos(timedelta(minutes=30)) == 0  # too recent to call lost
    assert face_tasks.sweep_unindexed_photos(timedelta(0)) == 1
    drain(("faces",))
    db.session.expire_all()
    assert photo.face_status is FaceStatus.DONE and photo.face_count == 1


def test_closed_events_are_not_indexed_and_a_deletion_during_indexing_leaves_nothing(app, drain, shared_faces,
                                                                                      monkeypatch):
    event, _ = build_event(shared_faces, drain, [])
    photographer = event.assignments[0].user
    photo = ingest(event, photographer, read(shared_faces, HOWARD_SELFIE), "howard.png")
    drain(("images",))
    event.transition_to(EventStatus.CLOSED)
    db.session.commit()
    drain(("faces",))
    db.session.expire_all()
    assert photo.face_status is FaceStatus.PENDING and faces_of(photo) == []
    assert face_tasks.sweep_unindexed_photos(timedelta(0)) == 0  # and the sweeper does not insist

    # An admin deletes the event's face data while a job is busy detecting: the job must not bring it back.
    other, _ = build_event(shared_faces, drain, [])
    late = ingest(other, other.assignments[0].user, read(shared_faces, HOWARD_SELFIE), "late.png")
    drain(("images",))
    real = face_tasks.find_photo_faces

    def detect_then_deleted(photo):
        found = real(photo)
        indexing.delete_event_face_data(photo.event_id)
        return found

    monkeypatch.setattr(face_tasks, "find_photo_faces", detect_then_deleted)
    assert face_tasks.index_faces(late.id) == "not indexed"
    assert db.session.scalar(select(func.count(Face.id)).where(Face.event_id == other.id)) == 0


def _fake_faces(event, photographer, n=2) -> list[Photo]:
    """Processed photos with face rows whose encodings are random: retention never looks at them."""
    photos = factories.make_photos(event, photographer, n, face_status=FaceStatus.DONE, face_count=1)
    rng = np.random.default_rng(event.id)
    for photo in photos:
        db.session.add(Face(photo_id=photo.id, event_id=event.id, top=10, right=60, bottom=60, left=10, size=50,
                            encoding=Face.pack(rng.normal(size=128))))
    db.session.commit()
    return photos


def _face_count(event) -> int:
    return db.session.scalar(select(func.count(Face.id)).where(Face.event_id == event.id))


def test_retention_deletes_face_data_after_closing_or_expiry_plus_grace(app):
    assert app.config["FACE_DATA_GRACE_DAYS"] == 30
    photographer = factories.make_user(Role.PHOTOGRAPHER)
    today = date.today()
    closed_long_ago = factories.make_event(EventStatus.CLOSED, [photographer], closed_at=utcnow() - timedelta(days=31))
    closed_recently = factories.make_event(EventStatus.CLOSED, [photographer], closed_at=utcnow() - timedelta(days=29))
    expired_long_ago = factories.make_event(photographers=[photographer], event_date=today - timedelta(days=60),
                                            expiry_date=today - timedelta(days=31))
    expired_recently = factories.make_event(photographers=[photographer], event_date=today - timedelta(days=60),
                                            expiry_date=today - timedelta(days=29))
    on_sale = factories.make_event(photographers=[photographer])
    events = [closed_long_ago, closed_recently, expired_long_ago, expired_recently, on_sale]
    photos = {event.id: _fake_faces(event, photographer) for event in events}

    schedule.load_periodic_modules()
    assert (face_tasks.delete_expired_face_data, "default", 3600) in schedule.periodic_jobs()
    assert face_tasks.delete_expired_face_data() == 2
    db.session.expire_all()
    for event in (closed_long_ago, expired_long_ago):
        assert _face_count(event) == 0 and event.face_data_deleted_at is not None
        assert all(p.face_status is FaceStatus.PENDING and p.face_count == 0 for p in photos[event.id])
        entry = db.session.scalar(select(AuditLog).where(AuditLog.object_id == event.id,
                                                         AuditLog.action == "event.faces_delete"))
        assert entry.actor_id is None and entry.details == {"faces": 2, "reason": "retention"}
    for event in (closed_recently, expired_recently, on_sale):
        assert _face_count(event) == 2 and event.face_data_deleted_at is None
    assert face_tasks.delete_expired_face_data() == 0  # done once, not every hour


def test_admin_deletes_face_data_now_and_reindexes(app, client, auth, drain, shared_faces):
    event, photos = build_event(shared_faces, drain, [HOWARD_SELFIE, GROUP, NO_FACE])
    assert _face_count(event) == 6
    admin = factories.make_user(Role.ADMIN)
    photographer = event.assignments[0].user
    delete_url = f"/admin/events/{event.id}/faces/delete"
    reindex_url = f"/admin/events/{event.id}/faces/reindex"

    auth.login(photographer.email)
    assert client.post(delete_url).status_code == 403
    auth.logout()
    auth.login(admin.email)
    page = client.get(f"/admin/events/{event.id}").get_data(as_text=True)
    assert 'id="event-faces"' in page and 'data-faces="6"' in page
    assert client.post(delete_url, csrf=False).status_code == 400
    assert _face_count(event) == 6

    response = client.post(delete_url)
    assert response.status_code == 303
    db.session.expire_all()
    assert _face_count(event) == 0 and event.face_data_deleted_at is not None
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "event.faces_delete"))
    assert entry.actor_id == admin.id and entry.details == {"faces": 6, "reason": "admin"}
    assert "Deleted 6 face encodings." in client.get(response.location).get_data(as_text=True)
    # New photos of the event are not indexed either, until an admin re-indexes it.
    late = ingest(event, photographer, read(shared_faces, "bbt_penny/2.png"), "penny.png")
    approve(late)
    drain()
    assert _face_count(event) == 0

    response = client.post(reindex_url)
    assert response.status_code == 303
    assert jobs().queue("faces").count == 4
    drain()
    db.session.expire_all()
    assert event.face_data_deleted_at is None and _face_count(event) == 7
    counts = {photo.id: photo.face_count for photo in db.session.scalars(select(Photo).where(Photo.event_id == event.id))}
    client.post(reindex_url)
    drain()
    db.session.expire_all()
    assert _face_count(event) == 7  # indexing again replaces, never duplicates
    assert {p.id: p.face_count for p in db.session.scalars(select(Photo).where(Photo.event_id == event.id))} == counts
    assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "event.faces_reindex")) == 2

    event.transition_to(EventStatus.CLOSED)
    db.session.commit()
    response = client.post(reindex_url, follow_redirects=True)
    assert "not indexed again" in response.get_data(as_text=True)
    assert jobs().queue("faces").count == 0

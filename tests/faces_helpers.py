"""Helpers for the face tests: small events of real labelled photos (../shared/faces), uploaded through the real
ingest path, processed and face-indexed by the real jobs."""
import io
from pathlib import Path

import pytest
from PIL import Image

from pixstock import uploads
from pixstock.extensions import db
from pixstock.models import ApprovalStatus, Photo, Role, utcnow

from . import factories

# Howard's selfie; the other photos of him (two single, three group photos); photos without him.
HOWARD_SELFIE = "bbt_howard/1.png"
HOWARD = ["bbt_howard/3.png", "bbt_howard/5.png", "_group/faceapi_bbt1.jpg", "_group/faceapi_bbt3.jpg",
          "_group/faceapi_bbt5.jpg"]
OTHERS = ["bbt_leonard/2.png", "bbt_penny/2.png", "bbt_raj/5.png", "_group/faceapi_bbt2.jpg",
          "_group/faceapi_bbt4.jpg", "lfw_colin_powell/1.jpg"]
AMY = ["bbt_amy/2.png", "bbt_amy/5.png"]  # Amy is also in faceapi_bbt4
NO_FACE = "_noface/dlib_dogs.jpg"
GROUP_SELFIE = "_group/faceapi_bbt3.jpg"  # five people, Howard among them


def read(shared_faces, name: str) -> bytes:
    return (Path(shared_faces) / name).read_bytes()


def ingest(event, photographer, data: bytes, name: str) -> Photo:
    """Upload one file the way the API and the upload form do (validated, stored, processing queued)."""
    upload = uploads.ingest_stream(uploads.api_batch(event, photographer), photographer, name, io.BytesIO(data))
    assert upload.photo_id is not None, upload.reason
    return db.session.get(Photo, upload.photo_id)


def approve(*photos) -> None:
    for photo in photos:
        photo.approval_status = ApprovalStatus.APPROVED
        photo.reviewed_at = utcnow()
    db.session.commit()


def build_event(shared_faces, drain, names, approved=True, **event_fields):
    """An event on sale with the named shared photos uploaded, processed and face-indexed by the real jobs."""
    photographer = factories.make_user(Role.PHOTOGRAPHER)
    event = factories.make_event(photographers=[photographer], **event_fields)
    photos = {name: ingest(event, photographer, read(shared_faces, name), name.replace("/", "_")) for name in names}
    drain()
    db.session.expire_all()
    if approved:
        approve(*photos.values())
    return event, photos


def jpeg(image: Image.Image, **save) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=90, **save)
    return buffer.getvalue()


@pytest.fixture
def remember_faces(monkeypatch):
    """Reuse the faces found in an identical original earlier in this test session (keyed by its sha256).

    Face detection is deterministic, so tests about search, privacy and the API need not run dlib on the same
    photos again: the first test to index a photo runs the real detector, later ones get its result. Selfies
    are always encoded for real. Tests about indexing itself do not use this fixture.
    """
    from pixstock.tasks import faces as face_tasks

    real = face_tasks.find_photo_faces

    def remembered(photo):
        if photo.sha256 not in _FOUND:
            _FOUND[photo.sha256] = real(photo)
        return _FOUND[photo.sha256]

    monkeypatch.setattr(face_tasks, "find_photo_faces", remembered)


_FOUND: dict = {}

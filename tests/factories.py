"""Test data factories: real rows through the models, committed like the app would."""
import itertools
from datetime import date, timedelta

from pixstock.auth.services import create_user
from pixstock.extensions import db
from pixstock.models import BundleTier, Event, EventPhotographer, EventStatus, Role

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


def make_user(role: str | Role = Role.CUSTOMER, email: str | None = None, password: str = PASSWORD, **fields):
    """A committed user with a known password."""
    role = Role(role) if isinstance(role, str) else role
    email = email or f"{role.value}{next(_seq)}@example.com"
    user = create_user(email, password, role)
    for key, value in fields.items():
        setattr(user, key, value)
    db.session.commit()
    return user


def make_event(status: EventStatus | str = EventStatus.ON_SALE, photographers=(), **fields):
    """A committed event (on sale by default) with pricing, assigned to photographers."""
    n = next(_seq)
    values = dict(
        name=f"Test Event {n}",
        slug=f"test-event-{n}",
        description="An event for tests",
        event_date=date.today(),
        location="Bangkok",
        status=EventStatus(status) if isinstance(status, str) else status,
        sales_enabled=True,
        expiry_date=date.today() + timedelta(days=30),
        watermark_text="pixstock test",
        price_single=10000,
        price_all_of_me=50000,
    )
    bundles = fields.pop("bundles", [(5, 40000)])
    values.update(fields)
    event = Event(**values)
    event.bundles = [BundleTier(photo_count=c, price=p) for c, p in bundles]
    db.session.add(event)
    db.session.flush()
    for user in photographers:
        db.session.add(EventPhotographer(event_id=event.id, user_id=user.id))
    db.session.commit()
    return event


# --- Photos ---------------------------------------------------------------------------------------

# Sizes of the tiny derivatives make_photo stores: small enough to keep tests fast, real JPEGs all the same.
DERIVATIVE_SIZES = {"square_150": (150, 150), "square_300": (300, 300), "medium": (320, 240), "preview": (480, 320)}
ORIGINAL_SIZE = (640, 480)


def _jpeg(size, n: int, label: str) -> bytes:
    """A small real JPEG whose colour and text differ per photo n, so derivatives are distinguishable."""
    import io

    from PIL import Image, ImageDraw

    colour = ((n * 67) % 256, (n * 131) % 256, (n * 199) % 256)
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).text((8, 8), f"{label} #{n}", fill=(255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def make_photo(event, photographer, approval="approved", taken_at=None, files: bool = True, commit: bool = True,
               **fields):
    """A committed, processed Photo of event by photographer with small real JPEG derivatives in storage.

    approval is "approved" (default), "pending" or "rejected"; taken_at also sets sort_at.
    files=False skips the image files (for tests that only page through rows).
    """
    import hashlib
    from datetime import datetime, timezone

    from pixstock.models import ApprovalStatus, FaceStatus, Photo, ProcessingStatus
    from pixstock.services.storage import get_storage

    n = next(_seq)
    now = datetime.now(timezone.utc)
    taken_at = taken_at if taken_at is not None else now
    approval = ApprovalStatus(approval) if isinstance(approval, str) else approval
    values = dict(
        event_id=event.id,
        photographer_id=photographer.id,
        original_filename=f"IMG_{n:05d}.jpg",
        filename=f"IMG_{n:05d}.jpg",
        file_path="",
        file_size=0,
        width=ORIGINAL_SIZE[0],
        height=ORIGINAL_SIZE[1],
        camera_model="Test Camera",
        taken_at=taken_at,
        sort_at=taken_at,
        uploaded_at=now,
        approval_status=approval,
        face_status=FaceStatus.NONE,
        sha256=hashlib.sha256(f"photo-{n}".encode()).hexdigest(),
        content_type="image/jpeg",
        processing_status=ProcessingStatus.READY,
        processed_at=now,
        derivative_keys={},
    )
    if approval is not ApprovalStatus.PENDING:
        values["reviewed_at"] = now
    if approval is ApprovalStatus.REJECTED:
        values["rejection_reason"] = "Out of focus"
    values.update(fields)
    photo = Photo(**values)
    db.session.add(photo)
    db.session.flush()
    if files:
        storage = get_storage()
        prefix = f"events/{event.id}/photos/{photo.id}"
        keys = {}
        for name, size in DERIVATIVE_SIZES.items():
            keys[name] = f"{prefix}/{name}.jpg"
            storage.put_bytes(keys[name], _jpeg(size, photo.id, name), "image/jpeg")
        original = _jpeg(ORIGINAL_SIZE, photo.id, "original")
        photo.file_path = f"{prefix}/original.jpg"
        photo.file_size = len(original)
        storage.put_bytes(photo.file_path, original, "image/jpeg")
        photo.derivative_keys = keys
    else:
        photo.file_path = f"events/{event.id}/photos/{photo.id}/original.jpg"
    if commit:
        db.session.commit()
    return photo


def make_photos(event, photographer, n: int, same_taken_at=None, start=None, step_seconds: int = 1,
                files: bool = True, **fields):
    """n committed photos (see make_photo); all taken at same_taken_at, else one per step_seconds from start."""
    from datetime import datetime, timedelta, timezone

    start = start or datetime(2025, 3, 2, 0, 30, tzinfo=timezone.utc)
    photos = []
    for i in range(n):
        taken_at = same_taken_at or start + timedelta(seconds=i * step_seconds)
        photos.append(make_photo(event, photographer, taken_at=taken_at, files=files, commit=False, **fields))
    db.session.commit()
    return photos

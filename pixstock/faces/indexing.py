"""An event's face data: writing a photo's faces, re-indexing an event, deleting its encodings.

Face encodings are biometric data, so they exist only while an event can still sell: no photo of a
closed or expired event is indexed, and ``delete_event_face_data`` removes every encoding of an event
(the retention job calls it once the grace period after closing has passed; an admin may call it at
any time). Writers of an event's faces take the event row's lock first (``_lock_event``), so an index
job finishing while the event's data is deleted can never leave rows behind, and two jobs indexing
the same photo never leave duplicates.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, func, or_, select, update

from ..extensions import db
from ..models import AuditLog, Event, EventStatus, Face, FaceStatus, Photo, ProcessingStatus, utcnow
from ..models.events import local_today
from ..services.faces import DetectedFace, forget_event_index, invalidate_event_index


def may_index(event: Event, today: date | None = None) -> bool:
    """Whether photos of event may be searched for faces: not closed, not expired, face data not deleted."""
    return (
        event.status is not EventStatus.CLOSED
        and not event.is_expired(today)
        and event.face_data_deleted_at is None
    )


def face_search_available(event: Event) -> bool:
    """Whether customers can search event by selfie now: its gallery is public and its face data exists."""
    return event.is_public and event.face_data_deleted_at is None


def refuse_face_search(event: Event) -> None:
    """Forget this process's cached encodings of an event that can no longer be searched (closed, deleted)."""
    forget_event_index(event.id)


def _lock_event(event_id: int) -> Event | None:
    """Reload the event with its row locked until commit (FOR NO KEY UPDATE: inserts referencing it still run)."""
    return db.session.get(Event, event_id, with_for_update={"key_share": True}, populate_existing=True)


def store_photo_faces(photo_id: int, found: Sequence[DetectedFace]) -> str | None:
    """Replace a photo's faces with found and mark it done or none; commit. None if it may no longer be indexed.

    The caller has found the faces outside any transaction (it takes seconds); this takes milliseconds.
    """
    photo = db.session.get(Photo, photo_id)
    if photo is None:
        return None
    event = _lock_event(photo.event_id)
    db.session.refresh(photo)
    if event is None or not may_index(event) or photo.processing_status is not ProcessingStatus.READY:
        db.session.rollback()
        return None
    db.session.execute(delete(Face).where(Face.photo_id == photo.id))
    db.session.add_all(
        Face(
            photo_id=photo.id, event_id=photo.event_id, top=face.box[0], right=face.box[1], bottom=face.box[2],
            left=face.box[3], size=face.size, encoding=Face.pack(face.encoding),
        )
        for face in found
    )
    photo.face_status = FaceStatus.DONE if found else FaceStatus.NONE
    photo.face_count = len(found)
    photo.face_error = None
    db.session.commit()
    invalidate_event_index(photo.event_id)
    return photo.face_status.value


def mark_face_failure(photo_id: int, reason: str) -> None:
    """Record that a photo cannot be indexed, and why (its old faces, if any, go: they may be wrong)."""
    photo = db.session.get(Photo, photo_id)
    if photo is None:
        return
    _lock_event(photo.event_id)
    db.session.execute(delete(Face).where(Face.photo_id == photo.id))
    photo.face_status = FaceStatus.FAILED
    photo.face_count = 0
    photo.face_error = reason[:500]
    db.session.commit()
    invalidate_event_index(photo.event_id)


def delete_event_face_data(event_id: int, actor=None, reason: str = "admin") -> int:
    """Delete every face encoding of an event and stop indexing it, audited; commit; return how many faces went.

    actor is the admin who asked (None for the retention job); reason is recorded with it.
    """
    event = _lock_event(event_id)
    if event is None:
        return 0
    deleted = db.session.execute(delete(Face).where(Face.event_id == event_id)).rowcount or 0
    AuditLog.record(actor, "event.faces_delete", event, faces=deleted, reason=reason)
    # The photos no longer have faces on record; face_data_deleted_at says why they are not indexed.
    db.session.execute(
        update(Photo).where(Photo.event_id == event_id)
        .values(face_status=FaceStatus.PENDING, face_count=0, face_error=None)
    )
    event.face_data_deleted_at = utcnow()
    db.session.commit()
    # Other processes drop their copy when a search asks for the event (see face_search_available's callers).
    forget_event_index(event_id)
    return deleted


class ReindexRefused(ValueError):
    """Re-indexing is not allowed for this event; the message says why."""


def start_reindex(event_id: int, actor=None) -> list[int]:
    """Mark an event's processed photos pending and allow indexing again, audited; commit; return the photo ids.

    Refused (ReindexRefused) for a closed or expired event: its face data must not come back.
    """
    event = _lock_event(event_id)
    if event is None:
        raise ReindexRefused(_("There is no such event."))
    if event.status is EventStatus.CLOSED or event.is_expired():
        db.session.rollback()
        raise ReindexRefused(_("A closed or expired event is not indexed again: its face data is deleted for privacy."))
    event.face_data_deleted_at = None
    ready = Photo.event_id == event_id, Photo.processing_status == ProcessingStatus.READY
    db.session.execute(update(Photo).where(*ready).values(face_status=FaceStatus.PENDING, face_error=None))
    photo_ids = list(db.session.scalars(select(Photo.id).where(*ready).order_by(Photo.id)))
    AuditLog.record(actor, "event.faces_reindex", event, photos=len(photo_ids))
    db.session.commit()
    return photo_ids


def events_due_for_deletion(now: datetime | None = None, today: date | None = None) -> list[int]:
    """Ids of events whose face data should go: closed, or past their expiry date, for over the grace period."""
    grace = timedelta(days=current_app.config["FACE_DATA_GRACE_DAYS"])
    now = now or utcnow()
    today = today or local_today()
    closed_long_ago = (Event.status == EventStatus.CLOSED) & (
        func.coalesce(Event.closed_at, Event.updated_at) <= now - grace
    )
    # An event expires at the end of its expiry date (local time): the grace counts from the day after.
    expired_long_ago = Event.expiry_date.is_not(None) & (Event.expiry_date < today - grace)
    return list(db.session.scalars(
        select(Event.id).where(Event.face_data_deleted_at.is_(None), or_(closed_long_ago, expired_long_ago))
        .order_by(Event.id)
    ))


def face_data_deleted_on(event: Event) -> date | None:
    """The day the retention job will delete event's face data, if it is closed or has an expiry date."""
    grace = timedelta(days=current_app.config["FACE_DATA_GRACE_DAYS"])
    if event.face_data_deleted_at is not None:
        return None
    if event.status is EventStatus.CLOSED:
        return ((event.closed_at or event.updated_at) + grace).date()
    if event.expiry_date is not None:
        return event.expiry_date + grace + timedelta(days=1)
    return None


@dataclass(frozen=True)
class FaceSummary:
    """An event's indexing progress for the admin dashboard."""

    by_status: dict[str, int]
    faces: int
    photos_with_faces: int

    @property
    def indexed(self) -> int:
        return self.by_status.get("done", 0) + self.by_status.get("none", 0)


def face_summary(event: Event) -> FaceSummary:
    """Processed photos by face status, and faces found (two queries)."""
    by_status = {status.value: 0 for status in FaceStatus}
    for status, count in db.session.execute(
        select(Photo.face_status, func.count(Photo.id))
        .where(Photo.event_id == event.id, Photo.processing_status == ProcessingStatus.READY)
        .group_by(Photo.face_status)
    ):
        by_status[status.value] = count
    faces, photos = db.session.execute(
        select(func.count(Face.id), func.count(func.distinct(Face.photo_id))).where(Face.event_id == event.id)
    ).one()
    return FaceSummary(by_status, faces, photos)

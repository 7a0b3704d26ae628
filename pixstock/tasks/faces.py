"""Face jobs: index each processed photo's faces; re-index an event; delete face data after the grace period.

``index_faces(photo_id)`` runs on the ``faces`` queue, so a crowd of faces never delays thumbnails.
It decodes the ORIGINAL at the preview's size with EXIF orientation applied, not the stored preview:
the preview carries the watermark, and on the labelled photos (../shared/faces) encodings taken
through it drift by a median 0.29 from the clean ones, which cut recall at the default thresholds from
0.975 to 0.885 (strong band 0.91 to 0.71). The reduced-scale JPEG decode costs ~0.1 s more per 24 MP
photo than decoding the preview. The job is idempotent (a re-run replaces the photo's rows), retries
transient errors (storage, database) with backoff, and fails for good, with a reason, on a file that
cannot be decoded.
"""
from __future__ import annotations

import os
from datetime import timedelta

import numpy as np
from flask import current_app
from rq import Retry, get_current_job
from sqlalchemy import or_, select

from ..extensions import db
from ..faces import indexing
from ..models import Event, EventStatus, FaceStatus, Photo, ProcessingStatus, utcnow
from ..models.events import local_today
from ..services import faces, imaging
from ..services.storage import ObjectNotFound
from . import progress
from .images import original_file
from .queue import enqueue, jobs
from .schedule import every

RETRY = Retry(max=3, interval=[10, 60, 300])
# A photo of a crowd (50 faces) takes ~5 s on one core; this only stops a job that hangs.
JOB_TIMEOUT = 300
JOB_ID_PREFIX = "index-faces-"
# A processed photo still pending this long without a job has lost it (a worker killed, Redis restarted).
STUCK_AFTER = timedelta(minutes=30)


def queue_face_indexing(photo_id: int):
    """Queue index_faces for a photo on the faces queue."""
    return enqueue(
        index_faces, photo_id, queue="faces", retry=RETRY, job_timeout=JOB_TIMEOUT,
        job_id=f"{JOB_ID_PREFIX}{photo_id}-{os.urandom(4).hex()}",
    )


def index_faces(photo_id: int) -> str:
    """Find, encode and store the faces of one processed photo; return its face status (or why it was skipped)."""
    # In-process workers keep one session across jobs: start from what the database says now, and
    # leave no transaction open afterwards.
    db.session.rollback()
    try:
        return _index(photo_id)
    finally:
        db.session.rollback()


def _index(photo_id: int) -> str:
    photo = db.session.get(Photo, photo_id)
    if photo is None:
        return "gone"
    if photo.processing_status is not ProcessingStatus.READY:
        return "not ready"  # processing queues this job again when it finishes
    if not indexing.may_index(photo.event):
        return "not indexed"  # closed, expired, or its face data deleted: never (re)create face data
    try:
        found = find_photo_faces(photo)
    except imaging.ImageRejected as rejected:
        return _fail(photo_id, rejected.reason)
    except ObjectNotFound:
        return _fail(photo_id, "The original file is missing from storage.")
    except Exception:
        db.session.rollback()
        job = get_current_job()
        if job is not None and job.retries_left:
            raise  # transient (storage, memory, database): RQ retries with backoff
        current_app.logger.exception("indexing the faces of photo %s failed for good", photo_id)
        return _fail(photo_id, "Face indexing failed several times; an admin can re-index the event.")
    status = indexing.store_photo_faces(photo_id, found)
    if status is None:
        return "not indexed"
    _announce(photo_id)
    return status


def find_photo_faces(photo: Photo) -> list[faces.DetectedFace]:
    """Detect and encode a photo's faces on a clean, upright decode of its original; boxes in original pixels."""
    config = current_app.config
    with original_file(photo.file_path) as path:
        image = imaging.load_oriented(path, faces.PHOTO_MAX_SIDE)
    # Photo.width/height are the original's, after orientation: what boxes are stored against.
    original_long = max(photo.width or image.width, photo.height or image.height)
    scale = original_long / max(image.size)
    found = faces.detect_faces(
        np.asarray(image), model=config["FACE_MODEL"], upsample=config["FACE_UPSAMPLE"],
        detect_side=faces.PHOTO_DETECT_SIDE,
    )
    return [faces.to_original(face, scale) for face in found]


def _fail(photo_id: int, reason: str) -> str:
    indexing.mark_face_failure(photo_id, reason)
    _announce(photo_id)
    return FaceStatus.FAILED.value


def _announce(photo_id: int) -> None:
    photo = db.session.get(Photo, photo_id)
    if photo is not None:
        progress.photo_status(photo)


def reindex_event(event_id: int, actor=None) -> int:
    """Index every processed photo of an event again (an admin asked); return how many jobs were queued."""
    photo_ids = indexing.start_reindex(event_id, actor)
    for photo_id in photo_ids:
        queue_face_indexing(photo_id)
    return len(photo_ids)


# --- periodic jobs ------------------------------------------------------------------------------------


@every(3600, queue="default")
def delete_expired_face_data() -> int:
    """Delete the face encodings of events closed or expired for longer than FACE_DATA_GRACE_DAYS."""
    db.session.rollback()
    deleted = 0
    for event_id in indexing.events_due_for_deletion():
        faces_deleted = indexing.delete_event_face_data(event_id, reason="retention")
        current_app.logger.info("deleted %d face encodings of event %s (retention)", faces_deleted, event_id)
        deleted += 1
    return deleted


def _live_job_photo_ids() -> set[int]:
    """Photo ids with an index_faces job waiting, scheduled for a retry, or running."""
    waiting, started = jobs().live_object_ids("faces", JOB_ID_PREFIX)
    return waiting | started


@every(600, queue="default")
def sweep_unindexed_photos(stuck_after: timedelta = STUCK_AFTER) -> int:
    """Queue again processed photos still waiting for faces long after processing with no job for them."""
    db.session.rollback()
    cutoff = utcnow() - stuck_after
    live = _live_job_photo_ids()
    candidates = db.session.scalars(
        select(Photo.id).join(Event, Event.id == Photo.event_id).where(
            Photo.processing_status == ProcessingStatus.READY,
            Photo.face_status == FaceStatus.PENDING,
            Photo.processed_at <= cutoff,
            Event.status != EventStatus.CLOSED,
            or_(Event.expiry_date.is_(None), Event.expiry_date >= local_today()),
            Event.face_data_deleted_at.is_(None),
        ).order_by(Photo.id).limit(5000)
    ).all()
    queued = 0
    for photo_id in candidates:
        if photo_id not in live:
            queue_face_indexing(photo_id)
            queued += 1
    db.session.rollback()
    return queued

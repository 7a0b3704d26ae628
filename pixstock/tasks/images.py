"""Image jobs: turn an uploaded original into derivatives and metadata; sweep what got stuck.

``process_photo(photo_id)`` runs on the ``images`` queue. It is idempotent: derivative keys are
named after their content, so a re-run writes the same keys and leaves no duplicates, and a photo
already processed is left alone. Transient errors (storage, database) raise, so RQ retries with
backoff; a file that cannot be decoded fails for good with a reason the photographer can read.
A job lost with its worker (SIGKILL, a Redis restart) is found by ``sweep_stuck_photos``.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from datetime import timedelta

from flask import current_app
from rq import Retry
from sqlalchemy import or_, select

from ..extensions import db
from ..models import Photo, ProcessingStatus, utcnow
from ..services import imaging
from ..services.storage import ObjectNotFound, get_storage
from . import progress
from .queue import enqueue, jobs
from .schedule import every

DERIVATIVE_NAMES = ("square_150", "square_300", "medium", "preview")
# Attempts (RQ retries and sweeps together) before a photo that keeps failing is marked failed.
MAX_ATTEMPTS = 5
RETRY = Retry(max=3, interval=[5, 30, 120])
# Well under PROCESSING_STUCK_MINUTES, so a photo still "processing" past that has lost its job.
JOB_TIMEOUT = 180
JOB_ID_PREFIX = "process-photo-"


def queue_processing(photo: Photo):
    """Queue process_photo for photo on the images queue (after its row is committed)."""
    return enqueue(
        process_photo, photo.id, queue="images", retry=RETRY, job_timeout=JOB_TIMEOUT,
        job_id=f"{JOB_ID_PREFIX}{photo.id}-{os.urandom(4).hex()}",
    )


def process_photo(photo_id: int, force: bool = False) -> str:
    """Build the derivatives and read the metadata of one photo; return its final status.

    force=True rebuilds a photo that is already ready (e.g. after the event's watermark changed).
    """
    # In-process workers keep one session across jobs: start from what the database says now, and
    # leave no transaction open afterwards (an idle one would hold its locks until the next job).
    db.session.rollback()
    try:
        return _process(photo_id, force)
    finally:
        db.session.rollback()


def _process(photo_id: int, force: bool) -> str:
    photo = db.session.get(Photo, photo_id)
    if photo is None:
        return "gone"  # deleted while it waited
    if photo.processing_status is ProcessingStatus.READY and not force:
        return "ready"
    if photo.processing_status is ProcessingStatus.FAILED and not force:
        return "failed"  # "retry failed" moves it back to received first
    if photo.processing_attempts >= MAX_ATTEMPTS:
        return _fail(photo, "Processing was interrupted too many times; the photo may be too complex to process.")
    photo.move_processing_to(ProcessingStatus.PROCESSING)
    db.session.commit()
    progress.photo_status(photo)
    old_keys = dict(photo.derivative_keys or {})
    try:
        with original_file(photo.file_path) as path:
            info, derivatives = imaging.process(
                path,
                watermark_text=photo.event.watermark_text or photo.event.name,
                logo_path=current_app.config.get("WATERMARK_LOGO_PATH"),
                default_tz=current_app.config.get("BABEL_DEFAULT_TIMEZONE") or imaging.DEFAULT_TZ,
            )
        keys = store_derivatives(photo, derivatives)
    except imaging.ImageRejected as rejected:
        return _fail(photo, rejected.reason)
    except ObjectNotFound:
        return _fail(photo, "The original file is missing from storage; upload the photo again.")
    except Exception:
        db.session.rollback()
        if photo.processing_attempts >= MAX_ATTEMPTS:
            current_app.logger.exception("processing photo %s failed for good", photo_id)
            return _fail(photo, "Processing failed several times; try again later.")
        raise  # transient (storage, memory, database): RQ retries with backoff
    photo.derivative_keys = keys
    photo.width, photo.height = info.width, info.height
    photo.taken_at = info.taken_at
    photo.camera_model = info.camera_model
    photo.metadata_json = info.metadata
    photo.sort_at = info.taken_at or photo.uploaded_at
    photo.move_processing_to(ProcessingStatus.READY)
    db.session.commit()
    after_processing(photo)
    _delete_replaced(old_keys, keys)
    progress.photo_status(photo)
    progress.approval_count()
    return "ready"


def after_processing(photo: Photo) -> None:
    """Hand a freshly processed photo over to face indexing on the "faces" queue.

    Called after READY is committed, so the job never finds the photo still processing. If the
    queue is unreachable, the photo waits with face_status "pending" and the faces sweeper queues it.
    """
    from ..models import FaceStatus
    from .faces import queue_face_indexing

    if photo.face_status in (FaceStatus.DONE, FaceStatus.NONE):
        return  # rebuilt derivatives (a new watermark) of an original whose faces are already known
    try:
        queue_face_indexing(photo.id)
    except Exception:  # the derivatives are done and committed: never fail (and retry) them over this
        current_app.logger.warning("could not queue face indexing of photo %s", photo.id, exc_info=True)


def store_derivatives(photo: Photo, derivatives: dict[str, bytes]) -> dict[str, str]:
    """Store each derivative under a key named after its content; return name -> key."""
    storage = get_storage()
    keys = {}
    for name in DERIVATIVE_NAMES:
        data = derivatives[name]
        # Content-addressed: the same bytes give the same key (a re-run duplicates nothing), new
        # bytes (a changed watermark) a new key, so the media URLs can be cached forever.
        digest = hashlib.sha256(data).hexdigest()[:16]
        keys[name] = f"events/{photo.event_id}/photos/{photo.id}/{name}-{digest}.jpg"
        storage.put_bytes(keys[name], data, "image/jpeg")
    return keys


def _delete_replaced(old: dict, new: dict) -> None:
    storage = get_storage()
    for key in set(old.values()) - set(new.values()):
        try:
            storage.delete(key)
        except Exception:  # a leftover derivative costs a few KB; never fail a finished job over it
            current_app.logger.warning("could not delete replaced derivative %s", key, exc_info=True)


def _fail(photo: Photo, reason: str) -> str:
    photo = db.session.get(Photo, photo.id)
    photo.move_processing_to(ProcessingStatus.FAILED, reason)
    db.session.commit()
    progress.photo_status(photo)
    return "failed"


@contextmanager
def original_file(key: str):
    """Yield a local path holding the stored original (the file itself on local storage)."""
    storage = get_storage()
    local = storage.local_path(key)
    if local is not None:
        if not os.path.isfile(local):
            raise ObjectNotFound(f"no stored object {key!r}")
        yield local
        return
    with tempfile.NamedTemporaryFile(prefix="pixstock-original-", suffix=os.path.splitext(key)[1]) as temp:
        with storage.open(key) as source:
            shutil.copyfileobj(source, temp, 1024 * 1024)
        temp.flush()
        yield temp.name


# --- sweepers -------------------------------------------------------------------------------------------


def _live_job_photo_ids() -> tuple[set[int], set[int]]:
    """Photo ids with a process_photo job (waiting or scheduled for a retry, running or dead while running)."""
    return jobs().live_object_ids("images", JOB_ID_PREFIX)


@every(60, queue="images")
def sweep_stuck_photos(stuck_after: timedelta | None = None) -> int:
    """Queue again the photos stuck in processing (a killed worker) or received with no job (a lost queue)."""
    if stuck_after is None:
        stuck_after = timedelta(minutes=current_app.config["PROCESSING_STUCK_MINUTES"])
    cutoff = utcnow() - stuck_after
    db.session.rollback()
    waiting, started = _live_job_photo_ids()
    candidates = db.session.scalars(
        select(Photo).where(
            or_(
                (Photo.processing_status == ProcessingStatus.PROCESSING) & (Photo.processing_started_at <= cutoff),
                (Photo.processing_status == ProcessingStatus.RECEIVED) & (Photo.uploaded_at <= cutoff),
            )
        ).order_by(Photo.id).limit(5000)
    ).all()
    queued = 0
    for photo in candidates:
        if photo.id in waiting:
            continue  # its job will come: a long queue, or a retry after a transient error
        if photo.processing_status is ProcessingStatus.RECEIVED and photo.id in started:
            continue  # its job has just picked it up
        # A photo "processing" past the job timeout has lost its job, even if RQ still lists it as started.
        if photo.processing_attempts >= MAX_ATTEMPTS:
            _fail(photo, "Processing was interrupted too many times; the photo may be too complex to process.")
            continue
        photo.move_processing_to(ProcessingStatus.RECEIVED)
        db.session.commit()
        queue_processing(photo)
        queued += 1
    db.session.rollback()
    return queued


@every(3600, queue="default")
def sweep_abandoned_uploads() -> int:
    """Delete uploads abandoned for UPLOAD_ABANDON_HOURS and their partial bytes."""
    from ..uploads import sweep_abandoned

    return sweep_abandoned()

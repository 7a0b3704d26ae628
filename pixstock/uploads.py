"""Resumable uploads: the chunk protocol, validation and ingest of originals into photos.

A file goes up as an ``Upload`` (one row per file in an ``UploadBatch``). Its bytes are appended,
chunk by chunk at an explicit offset, to a part file under UPLOAD_DIR; the database row holds the
offset the server has, so a client that lost its connection asks for it and continues from there.
When the last byte arrives the file is validated (content sniffing, Pillow's decompression-bomb
limit, a reduced-scale decode that catches truncation), hashed (SHA-256: a file already in the
event is a duplicate) and stored as the photo's original; then processing is queued.

Nothing is ever half-stored: the original is written under a key derived from the upload's id
before the photo row commits, so a crash in between leaves an open upload that either finishes
on the next request or is swept away with its key (see ``sweep_abandoned``). The protocol is
documented in docs/uploads.md.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import ClientDisconnected

from .extensions import db
from .models import Photo, ProcessingStatus, Upload, UploadBatch, UploadStatus, utcnow
from .services import imaging
from .services.storage import get_storage
from .tasks import progress

# Enough of the file's start to know whether it can be an image at all (see imaging.sniff).
SNIFF_BYTES = imaging.SNIFF_BYTES
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/heic": ".heic", "image/heif": ".heif"}
API_BATCH_LABEL = "API"
COPY_BUFFER = 1024 * 1024


class UploadRefused(Exception):
    """A protocol or validation refusal: an HTTP status, a machine code and a message for people."""

    def __init__(self, status: int, code: str, message: str, upload: Upload | None = None, **extra):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.upload = upload
        self.extra = extra


@dataclass
class FileState:
    """What a client needs to know about one file of a batch (the JSON of an upload)."""

    upload: Upload

    @property
    def status(self) -> str:
        """uploading, processing, ready, failed, duplicate or rejected."""
        upload = self.upload
        if upload.status is UploadStatus.UPLOADING:
            return "uploading"
        if upload.status is not UploadStatus.COMPLETE:
            return upload.status.value
        photo = upload.photo
        if photo is None:  # deleted since
            return "rejected"
        return {
            ProcessingStatus.RECEIVED: "processing",
            ProcessingStatus.PROCESSING: "processing",
            ProcessingStatus.READY: "ready",
            ProcessingStatus.FAILED: "failed",
        }[photo.processing_status]

    @property
    def reason(self) -> str | None:
        upload = self.upload
        if upload.status is UploadStatus.COMPLETE:
            if upload.photo is None:
                return _("The photo was deleted.")
            return upload.photo.failure_reason
        return upload.reason

    def as_dict(self) -> dict:
        upload, photo = self.upload, self.upload.photo
        return {
            "id": upload.id,
            "batch_id": upload.batch_id,
            "filename": upload.filename,
            "fingerprint": upload.fingerprint,
            "size": upload.size,
            "offset": upload.offset,
            "status": self.status,
            "reason": self.reason,
            "photo_id": upload.photo_id if upload.status is UploadStatus.COMPLETE else None,
            "duplicate_of": upload.photo_id if upload.status is UploadStatus.DUPLICATE else None,
            "face_status": photo.face_status.value if photo is not None and upload.status is UploadStatus.COMPLETE else None,
            "thumb_url": self.thumb_url,
        }

    @property
    def thumb_url(self) -> str | None:
        """The small square of the finished photo, once it exists."""
        from .media.routes import photo_path

        photo = self.upload.photo
        if self.upload.status is not UploadStatus.COMPLETE or photo is None:
            return None
        return photo_path(photo, "square_150") if (photo.derivative_keys or {}).get("square_150") else None


def upload_state(upload: Upload) -> dict:
    """The JSON a client sees for one upload."""
    return FileState(upload).as_dict()


# --- batches ------------------------------------------------------------------------------------------


def start_batch(event, user, label: str = "") -> UploadBatch:
    """Open a new batch of uploads by user to event (the caller has checked access)."""
    batch = UploadBatch(event_id=event.id, user_id=user.id, label=(label or "").strip()[:120])
    db.session.add(batch)
    db.session.commit()
    return batch


def api_batch(event, user) -> UploadBatch:
    """The batch single-file API uploads by user to event collect in (made on first use)."""
    batch = db.session.scalar(
        select(UploadBatch)
        .where(UploadBatch.event_id == event.id, UploadBatch.user_id == user.id, UploadBatch.label == API_BATCH_LABEL)
        .order_by(UploadBatch.id.desc())
        .limit(1)
    )
    return batch or start_batch(event, user, API_BATCH_LABEL)


def batch_uploads(batch: UploadBatch) -> list[Upload]:
    """Every upload of the batch, oldest first."""
    return list(
        db.session.scalars(select(Upload).where(Upload.batch_id == batch.id).order_by(Upload.created_at, Upload.id))
    )


def batch_summary(uploads: list[Upload]) -> dict:
    """Counts per file status, plus the total."""
    counts = {status: 0 for status in ("uploading", "processing", "ready", "failed", "duplicate", "rejected")}
    for upload in uploads:
        counts[FileState(upload).status] += 1
    counts["total"] = len(uploads)
    return counts


def batch_state(batch: UploadBatch) -> dict:
    """The JSON of a batch: its uploads and the counts."""
    uploads = batch_uploads(batch)
    return {
        "id": batch.id,
        "event_id": batch.event_id,
        "label": batch.label,
        "created_at": batch.created_at.isoformat(),
        "summary": batch_summary(uploads),
        "uploads": [upload_state(u) for u in uploads],
    }


def retry_failed(batch: UploadBatch) -> list[Photo]:
    """Queue processing again for the batch's photos that failed; return them."""
    from .tasks.images import queue_processing

    photos = list(
        db.session.scalars(
            select(Photo).where(Photo.batch_id == batch.id, Photo.processing_status == ProcessingStatus.FAILED)
        )
    )
    for photo in photos:
        photo.move_processing_to(ProcessingStatus.RECEIVED)
        photo.processing_attempts = 0
    db.session.commit()
    for photo in photos:
        queue_processing(photo)
    return photos


# --- the chunk protocol -------------------------------------------------------------------------------


def part_path(upload_id: str) -> str:
    """Where the bytes of an unfinished upload are kept."""
    return os.path.join(current_app.config["UPLOAD_DIR"], f"{upload_id}.part")


def original_key(upload: Upload, content_type: str) -> str:
    """The storage key of the original an upload becomes: derived from the upload, so a retry overwrites it."""
    return f"events/{upload.event_id}/originals/{upload.id}{EXTENSIONS[content_type]}"


def _clean_filename(filename: str) -> str:
    # Browsers send a bare name, but scripts may send a path; only the last part is the name.
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:255] or "photo"


def open_upload(batch: UploadBatch, user, filename: str, size, fingerprint: str | None) -> tuple[Upload, bool]:
    """Start an upload of one file, or find the one already started for the same file: (upload, created).

    The fingerprint (name, size and modification time, as the client sees them) identifies the same
    file chosen again, so it resumes from the server's offset instead of starting over.
    """
    try:
        size = int(size)
    except (TypeError, ValueError):
        raise UploadRefused(400, "invalid_size", _("Send the file's size in bytes.")) from None
    if size < 0:
        raise UploadRefused(400, "invalid_size", _("Send the file's size in bytes."))
    filename = _clean_filename(filename)
    fingerprint = (fingerprint or "").strip()[:400] or f"{filename}:{size}:{uuid.uuid4().hex}"
    existing = db.session.scalar(select(Upload).where(Upload.batch_id == batch.id, Upload.fingerprint == fingerprint))
    if existing is not None:
        return existing, False
    upload = Upload(
        id=uuid.uuid4().hex, batch_id=batch.id, event_id=batch.event_id, user_id=user.id,
        filename=filename, fingerprint=fingerprint, size=size, offset=0,
    )
    db.session.add(upload)
    try:
        db.session.commit()
    except IntegrityError:  # the same file started twice at once (two tabs): one row wins
        db.session.rollback()
        existing = db.session.scalar(
            select(Upload).where(Upload.batch_id == batch.id, Upload.fingerprint == fingerprint)
        )
        if existing is None:
            raise
        return existing, False
    # Refuse what can be refused from the declared size alone, but keep the row: the page shows why.
    limit = current_app.config["MAX_PHOTO_BYTES"]
    if size > limit:
        _reject(upload, _("The file is too large (%(size)s MB; the limit is %(limit)s MB).",
                          size=_megabytes(size), limit=_megabytes(limit)))
        raise UploadRefused(413, "too_large", upload.reason, upload)
    if size == 0:
        _reject(upload, _("The file is empty."))
        raise UploadRefused(422, "empty", upload.reason, upload)
    return upload, True


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.0f}" if size >= 10_000_000 else f"{size / 1_000_000:.1f}"


def lock_upload(upload_id: str) -> Upload | None:
    """Load an upload and lock its row until the transaction ends (one writer per upload)."""
    return db.session.scalar(select(Upload).where(Upload.id == upload_id).with_for_update())


def receive_chunk(upload_id: str, offset, stream, length: int | None) -> Upload:
    """Append the bytes read from stream at offset; finish the upload when the last byte arrives.

    The client says where its bytes start (the offset it believes the server has); a mismatch is a
    409 carrying the server's offset, so the client can continue from there. The body is read
    before any row is locked, so a slow connection never holds a database lock.
    """
    upload = db.session.get(Upload, upload_id)
    if upload is None:
        raise UploadRefused(404, "not_found", _("There is no such upload."))
    try:
        offset = int(offset)
    except (TypeError, ValueError):
        raise UploadRefused(400, "missing_offset", _("Send the Upload-Offset header."), upload) from None
    if not upload.is_open:
        raise UploadRefused(409, "closed", _("This upload is already finished."), upload)
    if offset != upload.offset:
        raise UploadRefused(409, "offset_mismatch", _("The server has %(offset)s bytes of this file.",
                                                      offset=upload.offset), upload)
    remaining = upload.size - offset
    if length is not None and length > remaining:
        raise UploadRefused(413, "chunk_too_large", _("The chunk goes past the end of the file."), upload)
    # Release the connection while the body arrives over a possibly slow network.
    db.session.rollback()
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as body:
        try:
            received = _copy_limited(stream, body, remaining)
        except ClientDisconnected:
            received = -1
        if received is None:
            raise UploadRefused(413, "chunk_too_large", _("The chunk goes past the end of the file."))
        if received == -1 or (length is not None and received != length):
            # The connection dropped mid-chunk: keep nothing of it, the client resends from the offset.
            raise UploadRefused(400, "incomplete_chunk", _("The chunk arrived incomplete; send it again."))
        body.seek(0)
        upload = lock_upload(upload_id)
        if upload is None:
            raise UploadRefused(404, "not_found", _("There is no such upload."))
        if not upload.is_open:
            db.session.rollback()
            raise UploadRefused(409, "closed", _("This upload is already finished."), upload)
        if offset != upload.offset:  # another request got there first
            db.session.rollback()
            raise UploadRefused(409, "offset_mismatch", _("The server has %(offset)s bytes of this file.",
                                                          offset=upload.offset), upload)
        if received:
            if _part_size(upload.id) < offset:
                # The part file lost bytes the database counted (a wiped upload dir): start over.
                upload.offset = 0
                db.session.commit()
                _remove_part(upload.id)
                raise UploadRefused(409, "offset_mismatch", _("The server lost this file's bytes; send it again."),
                                    upload)
            _write_at(part_path(upload.id), offset, body)
            upload.offset = offset + received
            upload.updated_at = utcnow()
        # Refuse what is not an image as soon as its first bytes are in, not after the last.
        head_end = min(SNIFF_BYTES, upload.size)
        if offset < head_end <= upload.offset:
            with open(part_path(upload.id), "rb") as handle:
                if imaging.sniff(handle.read(SNIFF_BYTES)) is None:
                    _reject(upload, _translate_reason(imaging.NOT_AN_IMAGE))
                    return upload
        db.session.commit()
    if upload.offset == upload.size:
        return finish(upload.id)
    return upload


def _copy_limited(stream, target, limit: int) -> int | None:
    """Copy stream into target; return the byte count, or None when it exceeds limit."""
    total = 0
    while True:
        block = stream.read(min(COPY_BUFFER, limit - total + 1))
        if not block:
            return total
        total += len(block)
        if total > limit:
            return None
        target.write(block)


def _part_size(upload_id: str) -> int:
    try:
        return os.path.getsize(part_path(upload_id))
    except FileNotFoundError:
        return 0


def _write_at(path: str, offset: int, source) -> None:
    """Write source into the part file at offset and cut anything after it (a stale, unconfirmed tail)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+b") as handle:
        handle.seek(offset)
        shutil.copyfileobj(source, handle, COPY_BUFFER)
        handle.truncate()
        handle.flush()
        # The offset is committed after this returns: the bytes it counts must be on disk.
        os.fsync(handle.fileno())


def _reject(upload: Upload, reason: str) -> None:
    """Close the upload as rejected, drop its bytes, and commit."""
    upload.close(UploadStatus.REJECTED, reason)
    db.session.commit()
    _remove_part(upload.id)


def _remove_part(upload_id: str) -> None:
    try:
        os.unlink(part_path(upload_id))
    except FileNotFoundError:
        pass


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(COPY_BUFFER):
            digest.update(block)
    return digest.hexdigest()


def finish(upload_id: str) -> Upload:
    """Turn a fully received upload into a photo, a duplicate or a rejection (one request at a time).

    Safe to call again after a failure: the original's key is derived from the upload, so a second
    attempt overwrites whatever the first one left.
    """
    from .tasks.images import queue_processing

    upload = lock_upload(upload_id)
    if upload is None:
        raise UploadRefused(404, "not_found", _("There is no such upload."))
    if not upload.is_open:
        db.session.rollback()
        return upload
    path = part_path(upload.id)
    if upload.offset != upload.size or _part_size(upload.id) != upload.size:
        upload.offset = 0
        db.session.commit()
        _remove_part(upload.id)
        raise UploadRefused(409, "part_lost", _("The server lost part of this file; upload it again."), upload)
    sha256 = _sha256(path)
    existing_id = db.session.scalar(select(Photo.id).where(Photo.event_id == upload.event_id, Photo.sha256 == sha256))
    if existing_id is not None:
        return _close_duplicate(upload, existing_id)
    try:
        info = imaging.inspect(path, default_tz=current_app.config.get("BABEL_DEFAULT_TIMEZONE") or imaging.DEFAULT_TZ)
    except imaging.ImageRejected as rejected:
        _reject(upload, _translate_reason(rejected.reason))
        return upload
    key = original_key(upload, info.content_type)
    photo = Photo(
        event_id=upload.event_id,
        photographer_id=upload.user_id,
        batch_id=upload.batch_id,
        original_filename=upload.filename,
        filename=key.rsplit("/", 1)[-1],
        file_path=key,
        file_size=upload.size,
        width=info.width,
        height=info.height,
        camera_model=info.camera_model,
        taken_at=info.taken_at,
        metadata_json=info.metadata,
        sha256=sha256,
        content_type=info.content_type,
        derivative_keys={},
        processing_status=ProcessingStatus.RECEIVED,
    )
    photo.uploaded_at = utcnow()
    photo.sort_at = info.taken_at or photo.uploaded_at
    db.session.add(photo)
    try:
        db.session.flush()
    except IntegrityError:
        return _lost_race(upload_id, sha256)
    try:
        get_storage().put_file(key, path, info.content_type)
        upload.close(UploadStatus.COMPLETE, photo_id=photo.id)
        db.session.commit()
    except IntegrityError:
        return _lost_race(upload_id, sha256)
    except Exception as error:
        db.session.rollback()
        current_app.logger.exception("storing the original of upload %s failed", upload_id)
        # The part file stays: an empty PATCH at the final offset finishes the upload later.
        raise UploadRefused(503, "storage_unavailable",
                            _("The file arrived but could not be stored yet; try again in a moment.")) from error
    _remove_part(upload_id)
    queue_processing(photo)
    progress.photo_status(photo)
    return upload


def _lost_race(upload_id: str, sha256: str) -> Upload:
    """The same content became a photo through another upload a moment ago: this one is its duplicate."""
    db.session.rollback()
    upload = lock_upload(upload_id)
    existing_id = db.session.scalar(select(Photo.id).where(Photo.event_id == upload.event_id, Photo.sha256 == sha256))
    if existing_id is None:  # ...whose own transaction then failed: let the client finish this one again
        db.session.rollback()
        raise UploadRefused(503, "busy", _("The file arrived but could not be stored yet; try again in a moment."))
    return _close_duplicate(upload, existing_id)


def _close_duplicate(upload: Upload, existing_id: int) -> Upload:
    upload.close(UploadStatus.DUPLICATE, _("Duplicate of photo %(id)s", id=existing_id), photo_id=existing_id)
    db.session.commit()
    _remove_part(upload.id)
    return upload


def _translate_reason(reason: str) -> str:
    """The imaging module's reasons in the photographer's language (sizes stay as imaging wrote them)."""
    known = {
        imaging.EMPTY: _("The file is empty."),
        imaging.NOT_AN_IMAGE: _("This is not an image pixstock can read (JPEG, PNG, WebP or HEIC)."),
        imaging.CORRUPT: _("The image is truncated or corrupt."),
    }
    return known.get(reason, reason)


# --- whole files (the API and the form without JavaScript) ----------------------------------------

# The plain form takes this many photos per submission; more would make one very long request.
FORM_MAX_FILES = 100
# Room for multipart headers and form fields around the file bytes.
MULTIPART_OVERHEAD = 64 * 1024


def request_limit(files: int = FORM_MAX_FILES) -> int:
    """The largest multipart request body worth reading for that many photos."""
    return files * (current_app.config["MAX_PHOTO_BYTES"] + MULTIPART_OVERHEAD)



def ingest_stream(batch: UploadBatch, user, filename: str, stream, declared_size: int | None = None) -> Upload:
    """Receive one whole file from a stream as an upload of batch and finish it; raises UploadRefused.

    Used by POST /api/v1/events/{id}/photos and the plain multi-file form: the same validation,
    deduplication and storage as the chunked protocol, in one step.
    """
    limit = current_app.config["MAX_PHOTO_BYTES"]
    if declared_size is not None and declared_size > limit:
        raise UploadRefused(413, "too_large", _("The file is too large (%(size)s MB; the limit is %(limit)s MB).",
                                                size=_megabytes(declared_size), limit=_megabytes(limit)))
    upload_dir = current_app.config["UPLOAD_DIR"]
    os.makedirs(upload_dir, exist_ok=True)
    # Receive into a temp file first: an upload row appears only once every byte is here.
    db.session.rollback()
    fd, temp_path = tempfile.mkstemp(prefix="incoming-", suffix=".part", dir=upload_dir)
    try:
        with os.fdopen(fd, "wb") as handle:
            size = _copy_limited(stream, handle, limit)
        if size is None:
            raise UploadRefused(413, "too_large", _("The file is too large (the limit is %(limit)s MB).",
                                                    limit=_megabytes(limit)))
        if size == 0:
            raise UploadRefused(422, "empty", _("The file is empty."))
        upload, _created = open_upload(batch, user, filename, size, None)
        os.replace(temp_path, part_path(upload.id))
    finally:
        if os.path.exists(temp_path):
            os.unlink(temp_path)
    upload = lock_upload(upload.id)
    upload.offset = upload.size
    db.session.commit()
    return finish(upload.id)


# --- cleaning up ------------------------------------------------------------------------------------


def sweep_abandoned(older_than: timedelta | None = None) -> int:
    """Delete uploads nobody has touched for UPLOAD_ABANDON_HOURS, their bytes and any stray original."""
    if older_than is None:
        older_than = timedelta(hours=current_app.config["UPLOAD_ABANDON_HOURS"])
    cutoff = utcnow() - older_than
    storage = get_storage()
    stale = list(
        db.session.scalars(
            select(Upload).where(Upload.status == UploadStatus.UPLOADING, Upload.updated_at < cutoff).limit(1000)
        )
    )
    removed = 0
    for candidate in stale:
        upload = db.session.scalar(
            select(Upload).where(Upload.id == candidate.id).with_for_update(skip_locked=True)
        )
        if upload is None or not upload.is_open or upload.updated_at >= cutoff:
            db.session.rollback()
            continue
        # A crash between storing the original and committing the photo leaves an object under the
        # upload's key; it belongs to no photo, so it goes too.
        for extension in EXTENSIONS.values():
            storage.delete(f"events/{upload.event_id}/originals/{upload.id}{extension}")
        db.session.delete(upload)
        db.session.commit()
        _remove_part(candidate.id)
        removed += 1
    removed += _sweep_orphan_parts(cutoff)
    return removed


def _sweep_orphan_parts(cutoff) -> int:
    """Remove part files whose upload row is gone (a deleted batch, a crash before the row existed)."""
    upload_dir = current_app.config["UPLOAD_DIR"]
    if not os.path.isdir(upload_dir):
        return 0
    removed = 0
    for entry in os.scandir(upload_dir):
        if not entry.name.endswith(".part") or entry.stat().st_mtime > cutoff.timestamp():
            continue
        upload_id = entry.name[: -len(".part")]
        if upload_id.startswith("incoming-") or db.session.get(Upload, upload_id) is None:
            try:
                os.unlink(entry.path)
                removed += 1
            except FileNotFoundError:
                pass
    db.session.rollback()
    return removed

"""Live progress over Socket.IO, from the web process or from a worker through Redis.

Events (documented in docs/uploads.md):

- ``photo_status`` to room ``batch:<id>``: a photo of the batch changed processing or face status.
- ``approval_count`` to room ``admins``: the number of photos waiting for approval changed.
"""
from flask import current_app

from ..extensions import socketio

ADMINS_ROOM = "admins"


def batch_room(batch_id: int) -> str:
    """The room of the people watching one upload batch."""
    return f"batch:{batch_id}"


def emit(event: str, data: dict, room: str) -> None:
    """Send event to every socket in room (works from request handlers and jobs alike)."""
    socketio.emit(event, data, to=room)


def photo_status(photo) -> None:
    """Tell the photo's batch page where the photo stands now."""
    if photo.batch_id is None:
        return
    from sqlalchemy import select

    from ..extensions import db
    from ..media.routes import photo_path
    from ..models import Upload, UploadStatus

    upload_id = db.session.scalar(
        select(Upload.id).where(Upload.photo_id == photo.id, Upload.status == UploadStatus.COMPLETE).limit(1)
    )
    thumb = photo_path(photo, "square_150") if (photo.derivative_keys or {}).get("square_150") else None
    _emit_quietly(
        "photo_status",
        {
            "photo_id": photo.id,
            "batch_id": photo.batch_id,
            "upload_id": upload_id,
            "status": photo.processing_status.value,
            "failure_reason": photo.failure_reason,
            "face_status": photo.face_status.value,
            "thumb_url": thumb,
        },
        batch_room(photo.batch_id),
    )


def approval_count() -> None:
    """Tell the admins how many photos wait for approval (call after any change to that number)."""
    from ..models import Photo

    _emit_quietly("approval_count", {"pending": Photo.pending_approval_count()}, ADMINS_ROOM)


def _emit_quietly(event: str, data: dict, room: str) -> None:
    try:
        emit(event, data, room)
    except Exception:  # a lost live update must never fail the job or request that caused it
        current_app.logger.warning("could not emit %s to %s", event, room, exc_info=True)

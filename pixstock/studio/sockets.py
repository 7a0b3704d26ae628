"""Socket.IO rooms for live progress: a batch page joins its batch, admins join the admins' room.

Events are emitted by pixstock.tasks.progress (from requests and jobs alike); these handlers only
decide who may listen. The handshake carries the session cookie, so current_user is the person.
"""
from flask_login import current_user
from flask_socketio import join_room
from sqlalchemy import select

from .. import uploads
from ..extensions import db, socketio
from ..models import Photo, Role, Upload, UploadBatch
from ..tasks.progress import ADMINS_ROOM, batch_room
from . import bp

# A page asks about at most this many of its files when it (re)connects.
MAX_WATCHED = 5000


def _staff() -> bool:
    return current_user.is_authenticated and current_user.role in (Role.ADMIN, Role.PHOTOGRAPHER)


def join_batch(data):
    """Listen to a batch's photo_status events; the reply carries the current state of the files named in
    `watch`, so nothing that happened between the page load and this join is missed."""
    if not _staff() or not isinstance(data, dict):
        return {"ok": False}
    try:
        batch_id = int(data.get("batch_id"))
    except (TypeError, ValueError):
        return {"ok": False}
    batch = db.session.get(UploadBatch, batch_id) if 0 < batch_id < 2**31 else None
    if batch is None or not (current_user.role is Role.ADMIN or batch.user_id == current_user.id):
        return {"ok": False}
    join_room(batch_room(batch.id))
    watch = [str(w) for w in (data.get("watch") or [])[:MAX_WATCHED] if isinstance(w, str)]
    states = []
    if watch:
        rows = db.session.scalars(select(Upload).where(Upload.batch_id == batch.id, Upload.id.in_(watch)))
        states = [uploads.upload_state(u) for u in rows]
    return {"ok": True, "uploads": states}


def join_admins(_data=None):
    """Admins listen to approval_count; the reply carries the current count."""
    if not (current_user.is_authenticated and current_user.role is Role.ADMIN):
        return {"ok": False}
    join_room(ADMINS_ROOM)
    return {"ok": True, "pending": Photo.pending_approval_count()}



@bp.record
def register_handlers(_state) -> None:
    """Attach the handlers to the Socket.IO server of each app the blueprint is registered on.

    socketio.on() binds to the server that exists at that moment (create_app builds one per app),
    so decorating at import time would serve the first app only.
    """
    socketio.on("join_batch")(join_batch)
    socketio.on("join_admins")(join_admins)

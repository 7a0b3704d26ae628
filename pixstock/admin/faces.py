"""Admin actions on an event's face data: index it again, or delete it now (both audited by the domain functions)."""
from flask import flash, redirect, url_for
from flask_babel import ngettext
from flask_login import current_user

from ..access import get_event, role_required
from ..faces.indexing import ReindexRefused, delete_event_face_data
from ..models import Role
from ..tasks.faces import reindex_event
from . import bp


def _back(event, message: str, category: str = "success"):
    # Plain forms and a redirect: the whole dashboard (photo and face figures) is then current.
    flash(message, category)
    return redirect(url_for("admin.show_event", event_id=event.id), code=303)


@bp.post("/events/<int:event_id>/faces/reindex")
@role_required(Role.ADMIN)
def reindex_faces(event_id: int):
    """Find the faces in every processed photo of the event again (after a model change or a deletion)."""
    event = get_event(event_id, need="manage")
    try:
        queued = reindex_event(event.id, actor=current_user)
    except ReindexRefused as refusal:
        return _back(event, str(refusal), "error")
    return _back(event, ngettext("Indexing the faces of %(num)d photo again.",
                                 "Indexing the faces of %(num)d photos again.", queued))


@bp.post("/events/<int:event_id>/faces/delete")
@role_required(Role.ADMIN)
def delete_faces(event_id: int):
    """Delete every face encoding of the event now; face search stops until it is re-indexed."""
    event = get_event(event_id, need="manage")
    deleted = delete_event_face_data(event.id, actor=current_user)
    return _back(event, ngettext("Deleted %(num)d face encoding.", "Deleted %(num)d face encodings.", deleted))

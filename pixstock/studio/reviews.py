"""What admins decided about a photographer's photos: counts, and every rejection with its reason."""
from flask import abort, render_template, request
from flask_login import current_user
from sqlalchemy import func, select, tuple_

from ..access import get_event, role_required
from ..catalog import Cursor, CursorError
from ..extensions import db
from ..models import ApprovalStatus, Photo, ProcessingStatus, Role
from . import bp

PAGE = 60


@bp.get("/events/<int:event_id>/reviews")
@role_required(Role.PHOTOGRAPHER, Role.ADMIN)
def photo_reviews(event_id: int):
    """A photographer's photos in an event by approval status, and why each rejected one was rejected."""
    event = get_event(event_id, need="upload")
    mine = [Photo.event_id == event.id]
    if not current_user.is_admin:  # admins see everyone's rejections; a photographer only their own
        mine.append(Photo.photographer_id == current_user.id)
    counts = dict(db.session.execute(
        select(Photo.approval_status, func.count(Photo.id))
        .where(*mine, Photo.processing_status == ProcessingStatus.READY).group_by(Photo.approval_status)
    ).all())
    query = select(Photo).where(*mine, Photo.approval_status == ApprovalStatus.REJECTED)
    if request.args.get("before"):
        try:
            before = Cursor.decode(request.args["before"])
        except CursorError as exc:
            abort(400, description=str(exc))
        query = query.where(tuple_(Photo.reviewed_at, Photo.id) < tuple_(before.sort_at, before.id))
    rows = db.session.scalars(query.order_by(Photo.reviewed_at.desc(), Photo.id.desc()).limit(PAGE + 1)).all()
    rejected = rows[:PAGE]
    next_cursor = Cursor(rejected[-1].reviewed_at, rejected[-1].id) if len(rows) > PAGE and rejected[-1].reviewed_at else None
    return render_template(
        "studio/reviews.html", event=event, rejected=rejected, next_cursor=next_cursor,
        approved=counts.get(ApprovalStatus.APPROVED, 0), pending=counts.get(ApprovalStatus.PENDING, 0),
        rejected_count=counts.get(ApprovalStatus.REJECTED, 0),
    )

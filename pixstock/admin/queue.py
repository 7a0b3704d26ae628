"""The approval queue: a grid of processed photos waiting for an admin, reviewed one by one or in bulk."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from ..access import get_event, role_required
from ..approval import (
    Decision,
    QueueFilter,
    ReviewError,
    batches_for,
    pending_count,
    queue_cursor,
    queue_newer,
    queue_page,
    review_all_from,
    review_photos,
)
from ..catalog import Cursor, cursor_arg
from ..extensions import db
from ..models import Event, EventStatus, Role, User
from . import bp

# Offered in the reason box; an admin may type any other.
REASONS = [
    _l("Out of focus"), _l("Eyes closed"), _l("Duplicate"), _l("Too dark or too bright"),
    _l("Not from this event"), _l("Inappropriate"),
]


@bp.context_processor
def queue_helpers():
    """Let the cards write their queue position (the live updates start after the top card's)."""
    return {"queue_cursor": queue_cursor}


def _grid_context(filters: QueueFilter, before: Cursor | None = None) -> dict:
    photos, next_cursor = queue_page(filters, before)
    return {
        "photos": photos, "next_cursor": next_cursor, "filters": filters,
        # The live updates fetch what was processed after the top card, so only the first page has one.
        "top_cursor": queue_cursor(photos[0]).encode() if photos and before is None else "",
        "pending": pending_count(filters), "pending_all": pending_count(),
    }


@bp.get("/queue")
@role_required(Role.ADMIN)
def queue():
    """The queue page; with ?before= (infinite scroll, htmx) only the next cards."""
    filters = QueueFilter.from_args(request.args)
    before = cursor_arg("before")
    if before is not None and request.headers.get("HX-Request"):
        photos, next_cursor = queue_page(filters, before)
        return render_template("admin/_queue_cards.html", photos=photos, next_cursor=next_cursor, filters=filters)
    # Without JavaScript the "older photos" link opens the next page whole.
    context = _grid_context(filters, before)
    events = db.session.scalars(
        select(Event).where(Event.status != EventStatus.CLOSED).order_by(Event.event_date.desc().nulls_first())
    ).all()
    photographers = db.session.scalars(
        select(User).where(User.role == Role.PHOTOGRAPHER).order_by(User.email)
    ).all()
    return render_template(
        "admin/queue.html", events=events, photographers=photographers, batches=batches_for(filters),
        reasons=REASONS, reason=request.args.get("reason") or str(REASONS[0]), **context,
    )


@bp.get("/queue/newer")
@role_required(Role.ADMIN)
def queue_newer_cards():
    """Cards for photos processed since the top of the grid (fetched when a photo becomes ready)."""
    filters = QueueFilter.from_args(request.args)
    than = cursor_arg("after")
    photos = queue_newer(filters, than) if than is not None else queue_page(filters)[0]
    return render_template("admin/_queue_cards.html", photos=photos, next_cursor=None, filters=filters, newer=True)


def _after_review(filters: QueueFilter, message: str | None, error: str | None):
    """Re-render the grid for htmx (the reviewed photos leave it), else redirect to the queue."""
    if request.headers.get("HX-Request"):
        return render_template("admin/_queue_grid.html", message=message, error=error, **_grid_context(filters))
    if error:
        flash(error, "error")
    elif message:
        flash(message, "success")
    return redirect(url_for("admin.queue", **filters.as_args(), reason=request.form.get("reason") or None), code=303)


def _posted_ids(name: str) -> list[int]:
    ids = []
    for raw in request.form.getlist(name):
        if raw.isdigit() and int(raw) < 2**31:
            ids.append(int(raw))
    return ids


@bp.post("/queue/review")
@role_required(Role.ADMIN)
def review():
    """Approve or reject one photo (its own button) or the selected ones (the toolbar's buttons)."""
    filters = QueueFilter.from_args(request.form)
    reason = request.form.get("reason")
    if request.form.get("approve_one") or request.form.get("reject_one"):
        decision = Decision.APPROVE if request.form.get("approve_one") else Decision.REJECT
        ids = _posted_ids("approve_one" if decision is Decision.APPROVE else "reject_one")
    else:
        try:
            decision = Decision(request.form.get("decision", ""))
        except ValueError:
            return _after_review(filters, None, _("Choose approve or reject."))
        ids = _posted_ids("photo_id")
    try:
        changed = review_photos(ids, current_user, decision, reason)
    except ReviewError as exc:
        return _after_review(filters, None, str(exc))
    if decision is Decision.APPROVE:
        message = _("Approved %(n)d photo(s).", n=len(changed))
    else:
        message = _("Rejected %(n)d photo(s).", n=len(changed))
    return _after_review(filters, message, None)


@bp.post("/queue/review-all")
@role_required(Role.ADMIN)
def review_all():
    """Approve or reject everything one photographer has waiting in one event."""
    filters = QueueFilter.from_args(request.form)
    if filters.event_id is None or filters.photographer_id is None:
        return _after_review(filters, None, _("Choose an event and a photographer first."))
    event = get_event(filters.event_id, need="manage")
    photographer = db.session.get(User, filters.photographer_id)
    if photographer is None or photographer.role is not Role.PHOTOGRAPHER:
        abort(404)
    try:
        decision = Decision(request.form.get("decision", ""))
        count = review_all_from(event, photographer, current_user, decision, request.form.get("reason"))
    except ValueError as exc:  # ReviewError is a ValueError; so is an unknown decision
        message = str(exc) if isinstance(exc, ReviewError) else _("Choose approve or reject.")
        return _after_review(filters, None, message)
    message = _("%(n)d photo(s) by %(name)s in %(event)s: %(what)s.", n=count, name=photographer.display_name,
                event=event.name, what=_("approved") if decision is Decision.APPROVE else _("rejected"))
    return _after_review(filters, message, None)

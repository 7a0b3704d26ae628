"""Gallery views: thin handlers over catalog's keyset queries. Each page costs at most three queries."""
from flask import abort, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..access import get_event_by_slug, get_gallery_photo
from ..analytics.tracking import track
from ..catalog import Cursor, CursorError, GalleryFilter, gallery_page, neighbours, public_url
from ..extensions import db
from ..models import EventPhotographer, TrackKind, User
from . import bp

HOURS = list(range(25))


def _after() -> Cursor | None:
    raw = request.args.get("after") or None
    if raw is None:
        return None
    try:
        return Cursor.decode(raw)
    except CursorError as exc:
        abort(400, description=str(exc))


def _fragment_request() -> bool:
    # A history restore after a cache miss asks with HX-Request too, but needs the whole page.
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


@bp.get("/e/<slug>")
def show_event(slug: str):
    """An event's gallery: approved photos in time order; htmx asks for the next cards or a re-filtered grid."""
    event = get_event_by_slug(slug)
    if event.is_closed_to_customers:
        return render_template("gallery/closed.html", event=event)
    filters = GalleryFilter.from_args(request.args)
    after = _after()
    photos, next_cursor = gallery_page(event, filters, after)
    context = {"event": event, "photos": photos, "next_cursor": next_cursor, "filters": filters}
    if _fragment_request():
        template = "gallery/_photo_cards.html" if after is not None else "gallery/_photos.html"
        return render_template(template, **context)
    if after is None:  # a visit, not the next page of one
        track(TrackKind.GALLERY_VIEW, event.id)
    photographers = db.session.scalars(
        select(User).join(EventPhotographer, EventPhotographer.user_id == User.id)
        .where(EventPhotographer.event_id == event.id).options(joinedload(User.profile)).order_by(User.email)
    ).all()
    return render_template("gallery/event.html", photographers=photographers, hours=HOURS, after=after,
                           **context)


@bp.get("/e/<slug>/p/<int:photo_id>")
def show_photo(slug: str, photo_id: int):
    """One photo: the watermarked preview, previous and next, add to cart, a link to share."""
    photo = get_gallery_photo(slug, photo_id)
    event = photo.event
    if event.is_closed_to_customers:
        return render_template("gallery/closed.html", event=event)
    track(TrackKind.PHOTO_VIEW, event.id, photo.id)
    filters = GalleryFilter.from_args(request.args)
    previous_id, next_id = neighbours(photo, filters)
    return render_template(
        "gallery/photo.html", event=event, photo=photo, filters=filters, previous_id=previous_id, next_id=next_id,
        share_url=public_url("gallery.show_photo", slug=event.slug, photo_id=photo.id),
    )

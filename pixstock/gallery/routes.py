"""Gallery views: thin handlers over catalog's keyset queries. Each page costs at most three queries, and
a page every visitor sees alike (see gallery.cache) none most of the time."""
from functools import partial

from flask import render_template, request
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..access import get_event_by_slug, get_gallery_photo
from ..analytics.tracking import track
from ..catalog import Cursor, GalleryFilter, cursor_arg, gallery_page, neighbours, public_url
from ..extensions import db
from ..models import Event, EventPhotographer, TrackKind, User
from . import bp, cache

HOURS = list(range(25))


def _fragment_request() -> bool:
    # A history restore after a cache miss asks with HX-Request too, but needs the whole page.
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


def photo_cards(event: Event, filters: GalleryFilter, after: Cursor | None) -> tuple[Markup, bool]:
    """One page of cards as HTML and whether it shows any photo."""
    photos, next_cursor = gallery_page(event, filters, after, cards_only=True)
    html = render_template("gallery/_photo_cards.html", event=event, photos=photos, next_cursor=next_cursor,
                           filters=filters)
    return Markup(html), bool(photos)


@bp.get("/e/<slug>")
def show_event(slug: str):
    """An event's gallery: approved photos in time order; htmx asks for the next cards or a re-filtered grid."""
    return cache.serve(slug, partial(get_event_by_slug, slug), _render_event)


def _render_event(event: Event):
    if event.is_closed_to_customers:
        return render_template("gallery/closed.html", event=event)
    filters = GalleryFilter.from_args(request.args)
    after = cursor_arg("after")
    cards, has_photos = photo_cards(event, filters, after)
    if _fragment_request():
        if after is not None:  # infinite scroll: just the next cards
            return cards
        return render_template("gallery/_photos.html", event=event, filters=filters, cards=cards,
                               has_photos=has_photos)
    if after is None:  # a visit, not the next page of one
        track(TrackKind.GALLERY_VIEW, event.id)
    return render_template("gallery/event.html", event=event, filters=filters, cards=cards, has_photos=has_photos,
                           photographers=photographer_choices(event), hours=HOURS, after=after)


def photographer_choices(event: Event) -> list[tuple[int, str]]:
    """(id, name) of the event's photographers for the filter, kept per event version (assignments bump it)."""
    key = ("photographers", event.id, event.updated_at)
    choices = cache.get(key)
    if choices is None:
        users = db.session.scalars(
            select(User).join(EventPhotographer, EventPhotographer.user_id == User.id)
            .where(EventPhotographer.event_id == event.id).options(joinedload(User.profile)).order_by(User.email)
        ).all()
        choices = [(user.id, user.display_name) for user in users]
        cache.put(key, choices)
    return choices


@bp.get("/e/<slug>/p/<int:photo_id>")
def show_photo(slug: str, photo_id: int):
    """One photo: the watermarked preview, previous and next, add to cart, a link to share."""
    return cache.serve(slug, partial(get_gallery_photo, slug, photo_id), _render_photo, event_of=lambda p: p.event)


def _render_photo(photo):
    event = photo.event
    if event.is_closed_to_customers:
        return render_template("gallery/closed.html", event=event)
    filters = GalleryFilter.from_args(request.args)
    previous_id, next_id = neighbours(photo, filters)
    track(TrackKind.PHOTO_VIEW, event.id, photo.id)
    return render_template(
        "gallery/photo.html", event=event, photo=photo, filters=filters, previous_id=previous_id, next_id=next_id,
        share_url=public_url("gallery.show_photo", slug=event.slug, photo_id=photo.id),
    )

"""Gallery views: thin handlers over catalog's keyset queries. Each page costs at most three queries."""
from flask import render_template, request
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..access import get_event_by_slug, get_gallery_photo
from ..analytics.tracking import track
from ..catalog import Cursor, GalleryFilter, cursor_arg, gallery_page, neighbours, public_url
from ..extensions import db
from ..models import Event, EventPhotographer, TrackKind, User
from ..shop.cart import current_cart
from . import bp, cache

HOURS = list(range(25))


def _fragment_request() -> bool:
    # A history restore after a cache miss asks with HX-Request too, but needs the whole page.
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


def photo_cards(event: Event, filters: GalleryFilter, after: Cursor | None) -> tuple[Markup, bool]:
    """One page of cards as HTML (see gallery.cache: shared while this visitor's cart is empty) and whether
    it shows any photo."""
    selling = event.can_sell
    shared = not (selling and current_cart().count)  # a card marks the photos in this visitor's cart
    key = (event.id, event.updated_at, request.full_path, str(get_locale()), selling)
    cached = cache.get(key) if shared else None
    if cached is not None:
        html, has_photos = cached
    else:
        photos, next_cursor = gallery_page(event, filters, after, cards_only=True)
        context = {"event": event, "photos": photos, "next_cursor": next_cursor, "filters": filters}
        if shared:
            context["csrf_token"] = lambda: cache.CSRF_PLACEHOLDER
        html, has_photos = render_template("gallery/_photo_cards.html", **context), bool(photos)
        if shared:
            cache.put(key, html, has_photos)
    if cache.CSRF_PLACEHOLDER in html:
        html = html.replace(cache.CSRF_PLACEHOLDER, generate_csrf())
    return Markup(html), has_photos


@bp.get("/e/<slug>")
def show_event(slug: str):
    """An event's gallery: approved photos in time order; htmx asks for the next cards or a re-filtered grid."""
    event = get_event_by_slug(slug)
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
    """(id, name) of the event's photographers for the filter; cached like the cards (assignments bump the
    event's version)."""
    key = ("photographers", event.id, event.updated_at)
    cached = cache.get(key)
    if cached is not None:
        return cached[0]
    users = db.session.scalars(
        select(User).join(EventPhotographer, EventPhotographer.user_id == User.id)
        .where(EventPhotographer.event_id == event.id).options(joinedload(User.profile)).order_by(User.email)
    ).all()
    choices = [(user.id, user.display_name) for user in users]
    cache.put(key, choices, bool(choices))
    return choices


@bp.get("/e/<slug>/p/<int:photo_id>")
def show_photo(slug: str, photo_id: int):
    """One photo: the watermarked preview, previous and next, add to cart, a link to share."""
    photo = get_gallery_photo(slug, photo_id)
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

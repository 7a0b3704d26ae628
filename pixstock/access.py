"""Loading objects and authorising access in one step (flaskr's get_post pattern).

Every view loads events, photos and orders through these helpers, so the rules about who
may see or change what live in one place: 404 when the object does not exist or must stay
hidden from this user, 403 when they may see it but not do this.
"""
from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from .extensions import db
from .models import DownloadGrant, Event, Order, Photo, Role


def role_required(*roles: Role):
    """Require a signed-in user with one of roles (403 otherwise)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def _is_admin(user) -> bool:
    return bool(user and getattr(user, "is_authenticated", False) and user.role is Role.ADMIN)


def _is_photographer(user) -> bool:
    return bool(user and getattr(user, "is_authenticated", False) and user.role is Role.PHOTOGRAPHER)


_MAX_ID = 2**31 - 1  # PostgreSQL integer keys: a larger id in a URL is simply not found


def _get(model, ident):
    """db.session.get, but an id no row can have (out of range, not an int) is None, never a 500."""
    if not isinstance(ident, int) or not 0 < ident <= _MAX_ID:
        return None
    return db.session.get(model, ident)


def can_upload_to(user, event: Event) -> bool:
    """Admins upload anywhere; photographers only to events they are assigned to."""
    return _is_admin(user) or (_is_photographer(user) and event.has_photographer(user))


def get_event(event_id: int, user=None, need: str = "view") -> Event:
    """Load an event and check user may `need` it: view, upload or manage."""
    user = current_user if user is None else user
    event = _get(Event, event_id)
    if event is None:
        abort(404)
    staff = _is_event_staff(user, event)
    if need == "view":
        if not (event.is_public or staff):
            abort(404)
    elif need == "upload":
        # Photographers are staff: one not assigned here is told so (403); customers learn nothing.
        if not (event.is_public or _is_photographer(user) or staff):
            abort(404)
        if not can_upload_to(user, event):
            abort(403)
    elif need == "manage":
        if not _is_admin(user):
            abort(404 if not (event.is_public or staff) else 403)
    else:
        raise ValueError(need)
    return event


def get_photo(photo_id: int, user=None, need: str = "view") -> Photo:
    """Load a photo and check user may `need` it: view, own (its photographer or an admin) or manage."""
    user = current_user if user is None else user
    photo = _get(Photo, photo_id)
    if photo is None:
        abort(404)
    owner = _is_admin(user) or (_is_photographer(user) and photo.photographer_id == user.id)
    visible = owner or (photo.is_visible_to_customers and photo.event.is_public)
    if not visible:
        abort(404)
    if need == "view":
        return photo
    if need == "own" and not owner:
        abort(403)
    if need == "manage" and not _is_admin(user):
        abort(403)
    return photo


def get_order(order_id: int, user=None, token: str | None = None, browser: bool = True) -> Order:
    """Load an order for someone entitled to it: its owner, an admin, its token, or the browser that placed it.

    browser=False (the API) ignores the session. Anyone else gets 404, so order ids reveal nothing.
    """
    from .shop.links import remembered_orders  # the shop owns the session key

    user = current_user if user is None else user
    order = _get(Order, order_id)
    if order is None:
        abort(404)
    owner = bool(getattr(user, "is_authenticated", False)) and order.user_id is not None and order.user_id == user.id
    placed_here = browser and order.id in remembered_orders()
    if not (owner or _is_admin(user) or order.check_token(token) or placed_here):
        abort(404)
    return order


def get_grant(token: str) -> DownloadGrant:
    """Load the download grant a signed download token names (404 for a bad token); usability is the caller's."""
    from .shop.links import load_grant_id

    grant_id = load_grant_id(token)
    grant = _get(DownloadGrant, grant_id)
    if grant is None:
        abort(404)
    return grant


def _is_event_staff(user, event: Event) -> bool:
    return _is_admin(user) or (_is_photographer(user) and event.has_photographer(user))


def get_event_by_slug(slug: str, user=None) -> Event:
    """Load an event by its public address for the gallery, bundles included.

    Customers reach events on sale, and closed or expired ones (whose page says so); an event
    still being prepared is a 404 except to its staff, who preview it.
    """
    from sqlalchemy import select
    from sqlalchemy.orm import joinedload

    user = current_user if user is None else user
    # Joined, not selectin: the bundles come in the same query (galleries stay within three).
    query = select(Event).where(Event.slug == slug).options(joinedload(Event.bundles))
    event = db.session.scalars(query).unique().first()
    if event is None:
        abort(404)
    if not (event.is_public or event.is_closed_to_customers or _is_event_staff(user, event)):
        abort(404)
    return event


def get_gallery_photo(slug: str, photo_id: int, user=None) -> Photo:
    """Load a photo of the event at slug as customers see it: approved and processed, else 404."""
    from sqlalchemy import select
    from sqlalchemy.orm import contains_eager

    user = current_user if user is None else user
    if not 0 < photo_id <= _MAX_ID:
        abort(404)
    photo = db.session.scalar(
        select(Photo).join(Photo.event).options(contains_eager(Photo.event))
        .where(Photo.id == photo_id, Event.slug == slug)
    )
    if photo is None or not photo.is_visible_to_customers:
        abort(404)
    event = photo.event
    if not (event.is_public or event.is_closed_to_customers or _is_event_staff(user, event)):
        abort(404)
    return photo


def get_batch(batch_id: int, user=None, need: str = "view"):
    """Load an upload batch for its photographer or an admin (404 for anyone else); need="upload" also
    requires that they may still upload to its event (403)."""
    from .models import UploadBatch

    user = current_user if user is None else user
    batch = _get(UploadBatch, batch_id)
    if batch is None:
        abort(404)
    if not (_is_admin(user) or (_is_photographer(user) and batch.user_id == user.id)):
        abort(404)
    if need == "upload" and not can_upload_to(user, batch.event):
        abort(403)
    return batch


def get_upload(upload_id: str, user=None, need: str = "view"):
    """Load a resumable upload for whoever may see or continue its batch (see get_batch)."""
    from .models import Upload

    user = current_user if user is None else user
    upload = db.session.get(Upload, upload_id) if upload_id and len(upload_id) <= 32 else None
    if upload is None:
        abort(404)
    get_batch(upload.batch_id, user, need)
    return upload


def get_photographer(user_id: int, user=None):
    """Load a photographer's account for their earnings: the photographer themselves or an admin, else 404."""
    from .models import User

    user = current_user if user is None else user
    photographer = _get(User, user_id)
    if photographer is None or photographer.role is not Role.PHOTOGRAPHER:
        abort(404)
    if not (_is_admin(user) or (_is_photographer(user) and user.id == photographer.id)):
        abort(404)
    return photographer

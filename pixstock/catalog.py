"""What customers see: an event's approved photos in time order, paged by keyset, and their neighbours.

Pages follow the index ix_photos_gallery (event_id, approval_status, sort_at, id): each page asks for
rows after the last (sort_at, id) seen, so page 800 costs what page 1 costs and a photo sharing its
timestamp with a thousand others is neither skipped nor repeated. Never OFFSET.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import abort, current_app, request
from sqlalchemy import literal, select, tuple_, union_all
from sqlalchemy.orm import load_only

from .extensions import db
from .models import ApprovalStatus, Event, Photo, ProcessingStatus

PAGE_SIZE = 48
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class CursorError(ValueError):
    """A cursor that this server did not make."""


@dataclass(frozen=True)
class Cursor:
    """A position in an event's time order: the (sort_at, id) of the last photo seen."""

    sort_at: datetime
    id: int

    @classmethod
    def after(cls, photo) -> Cursor:
        """The cursor pointing just past photo."""
        return cls(photo.sort_at, photo.id)

    def encode(self) -> str:
        """An opaque, URL-safe string: microseconds since the epoch and the id."""
        micros = (self.sort_at - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}_{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse a cursor made by encode(), or raise CursorError."""
        try:
            micros, _, ident = (text or "").partition("_")
            sort_at = _EPOCH + timedelta(microseconds=int(micros))
            photo_id = int(ident)
        except (ValueError, OverflowError) as exc:
            raise CursorError("This page cursor is not valid; start from the first page.") from exc
        if photo_id < 0:
            raise CursorError("This page cursor is not valid; start from the first page.")
        return cls(sort_at, photo_id)


def cursor_arg(name: str) -> Cursor | None:
    """The keyset cursor in the request's query argument `name` (None when absent); a forged one is a 400."""
    raw = request.args.get(name) or None
    if raw is None:
        return None
    try:
        return Cursor.decode(raw)
    except CursorError as exc:
        abort(400, description=str(exc))


def _int_arg(args, name: str, low: int, high: int) -> int | None:
    try:
        value = int(args.get(name, ""))
    except (TypeError, ValueError):
        return None
    return value if low <= value <= high else None


@dataclass(frozen=True)
class GalleryFilter:
    """What a customer narrowed the gallery to: one photographer, a time of day (local hours)."""

    photographer_id: int | None = None
    hour_from: int | None = None
    hour_to: int | None = None

    @classmethod
    def from_args(cls, args) -> GalleryFilter:
        """Read the filter from query arguments, ignoring values that make no sense."""
        hour_from, hour_to = _int_arg(args, "from", 0, 23), _int_arg(args, "to", 1, 24)
        if hour_from is not None and hour_to is not None and hour_to <= hour_from:
            hour_to = None
        return cls(_int_arg(args, "photographer", 1, 2**31 - 1), hour_from, hour_to)

    def as_args(self) -> dict:
        """The query arguments that reproduce this filter (for links and cursors)."""
        args = {"photographer": self.photographer_id, "from": self.hour_from, "to": self.hour_to}
        return {k: v for k, v in args.items() if v is not None}

    @property
    def active(self) -> bool:
        return bool(self.as_args())

    def time_range(self, event: Event) -> tuple[datetime | None, datetime | None]:
        """The hours as absolute instants on the event's day in pixstock's timezone (index-friendly)."""
        if event.event_date is None or (self.hour_from is None and self.hour_to is None):
            return None, None
        zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Bangkok")
        day: date = event.event_date
        start = datetime.combine(day, time(self.hour_from or 0), zone) if self.hour_from is not None else None
        end = None
        if self.hour_to is not None:
            end = datetime.combine(day, time(0), zone) + timedelta(hours=self.hour_to)
        return start, end

    def clauses(self, event: Event) -> list:
        """SQL conditions for this filter."""
        clauses = []
        if self.photographer_id is not None:
            clauses.append(Photo.photographer_id == self.photographer_id)
        start, end = self.time_range(event)
        if start is not None:
            clauses.append(Photo.sort_at >= start)
        if end is not None:
            clauses.append(Photo.sort_at < end)
        return clauses


NO_FILTER = GalleryFilter()


def visible_photos_clauses(event_id: int) -> list:
    """The conditions every customer-facing photo query starts from: approved and processed, of this event."""
    return [
        Photo.event_id == event_id,
        Photo.approval_status == ApprovalStatus.APPROVED,
        Photo.processing_status == ProcessingStatus.READY,
    ]


# What a gallery card needs; the rest (EXIF metadata above all) stays in the database. Reading another
# attribute of such a photo costs a query per photo, which the three-query tests would catch.
CARD_COLUMNS = (Photo.id, Photo.event_id, Photo.photographer_id, Photo.sort_at, Photo.width, Photo.height,
                Photo.derivative_keys, Photo.approval_status, Photo.processing_status)


def gallery_page(event: Event, filters: GalleryFilter = NO_FILTER, after: Cursor | None = None,
                 limit: int = PAGE_SIZE, cards_only: bool = False) -> tuple[list[Photo], Cursor | None]:
    """One page of the event's visible photos in time order after a cursor, and the cursor of the next page.

    cards_only loads just the columns a gallery card shows: ~20 % less CPU than whole rows here, more once
    real EXIF metadata fills metadata_json.
    """
    query = select(Photo).where(*visible_photos_clauses(event.id), *filters.clauses(event))
    if cards_only:
        query = query.options(load_only(*CARD_COLUMNS))
    if after is not None:
        query = query.where(tuple_(Photo.sort_at, Photo.id) > tuple_(after.sort_at, after.id))
    # One extra row tells whether another page exists without a COUNT.
    rows = db.session.scalars(query.order_by(Photo.sort_at, Photo.id).limit(limit + 1)).all()
    photos = rows[:limit]
    next_cursor = Cursor.after(photos[-1]) if len(rows) > limit else None
    return photos, next_cursor


def neighbours(photo: Photo, filters: GalleryFilter = NO_FILTER) -> tuple[int | None, int | None]:
    """The ids of the visible photos just before and just after photo in time order (one query)."""
    base = [*visible_photos_clauses(photo.event_id), *filters.clauses(photo.event)]
    here = tuple_(photo.sort_at, photo.id)
    key = tuple_(Photo.sort_at, Photo.id)
    before = (
        select(Photo.id.label("id"), literal(-1).label("direction"))
        .where(*base, key < here)
        .order_by(Photo.sort_at.desc(), Photo.id.desc())
        .limit(1)
        .subquery()
    )
    after = (
        select(Photo.id.label("id"), literal(1).label("direction"))
        .where(*base, key > here)
        .order_by(Photo.sort_at, Photo.id)
        .limit(1)
        .subquery()
    )
    found = {direction: ident for ident, direction in db.session.execute(union_all(select(before), select(after)))}
    return found.get(-1), found.get(1)



def public_url(endpoint: str, **values) -> str:
    """An absolute address customers can use (BASE_URL when configured: QR codes and shared links)."""
    from flask import url_for

    base = current_app.config.get("BASE_URL")
    if base:
        return base.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, **values, _external=True)


def event_url(event: Event) -> str:
    """The absolute address of an event's public gallery."""
    return public_url("gallery.show_event", slug=event.slug)

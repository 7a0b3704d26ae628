"""Recording what visitors do (gallery and photo views, selfie searches, cart additions) without slowing pages.

``track()`` appends one short line to a Redis list on the job system's connection (real Redis, or
the in-process fakeredis) and returns: no database write. Each process holds its lines for up to
TRACK_PUSH_SECONDS (half a second) and pushes them in one round trip, which was a third of the cost of
a gallery page served from the shared cache; a process that dies loses at most that half second. A periodic job,
``flush_tracked``, moves the buffer into ``TrackedEvent`` rows in batches and rebuilds the daily
rollups the reports read (``EventDailyStat``, ``PhotoDailyView``) for the event-days it touched.

Privacy: a visitor is a keyed hash of IP address and browser, with a random key made each day,
kept in Redis and dropped after two days; so a visitor can be counted once per day but never
recognised or traced, and nothing stored points back at a person. No cookies, no third parties.
A selfie search is recorded as a count; the face never reaches this module.
"""
from __future__ import annotations

import hashlib
import json
import logging
import atexit
import secrets
import threading
import time
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone

from flask import current_app, has_request_context, request
from flask_login import current_user
from sqlalchemy import delete, func, insert, select

from ..extensions import db
from ..models import EventDailyStat, PhotoDailyView, Role, TrackedEvent, TrackKind
from ..tasks.queue import jobs
from ..tasks.schedule import every
from .days import day_bounds, local_day, local_today

log = logging.getLogger(__name__)

BUFFER_KEY = "pixstock:analytics:buffer"
FLUSHING_KEY = "pixstock:analytics:flushing"
LOCK_KEY = "pixstock:analytics:flush-lock"
SALT_KEY = "pixstock:analytics:salt:"
SALT_SECONDS = 2 * 24 * 3600
BATCH_SIZE = 5000
# How long a process holds tracked lines before one RPUSH sends them (TRACK_PUSH_SECONDS), and how many at most.
PUSH_SECONDS = 0.5
PUSH_MOST_LINES = 500
# Crawlers and link previews are not visitors.
BOT_MARKERS = ("bot", "crawl", "spider", "slurp", "preview", "facebookexternalhit", "headless")


# --- Recording -------------------------------------------------------------------------------------


def track(kind: TrackKind | str, event_id: int | None, photo_id: int | None = None) -> None:
    """Count one visitor action on an event (and photo); never raises, never touches the database."""
    try:
        kind = TrackKind(kind)
        if has_request_context():
            from ..gallery.cache import note_tracked  # (a shared page repeats it for each visitor it serves)

            note_tracked(kind, event_id, photo_id)
        if has_request_context() and not _counts_as_visitor():
            return
        record = [kind.value, int(event_id) if event_id else None, int(photo_id) if photo_id else None,
                  visitor_hash(), round(time.time(), 3)]
        line = json.dumps(record, separators=(",", ":"))
        outbox = _outbox()
        if outbox is None:
            jobs().connection.rpush(BUFFER_KEY, line)
        else:
            outbox.add(line)
    except Exception:  # a lost count must never cost a customer their page
        log.warning("could not record %s for event %s", kind, event_id, exc_info=True)


class Outbox:
    """This process's tracked lines on their way to Redis: pushed together when `seconds` have passed since
    the first one waiting (by a timer thread), or at once when `most` are waiting."""

    def __init__(self, connection, seconds: float, most: int = PUSH_MOST_LINES):
        self.connection, self.seconds, self.most = connection, seconds, most
        self._lock = threading.Lock()
        self._lines: list[str] = []
        self._timer: threading.Timer | None = None

    def add(self, line: str) -> None:
        """Hold line for the next push."""
        with self._lock:
            self._lines.append(line)
            if len(self._lines) < self.most:
                if self._timer is None:
                    self._timer = threading.Timer(self.seconds, self.push)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self.push()

    def push(self) -> None:
        """Send every waiting line to Redis now (one RPUSH)."""
        with self._lock:
            lines, self._lines = self._lines, []
            timer, self._timer = self._timer, None
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()
        if lines:
            try:
                self.connection.rpush(BUFFER_KEY, *lines)
            except Exception:
                log.warning("lost %d tracked actions", len(lines), exc_info=True)


def _outbox() -> Outbox | None:
    # One per app and process; None when lines go to Redis one by one (TRACK_PUSH_SECONDS = 0, as in tests).
    seconds = float(current_app.config.get("TRACK_PUSH_SECONDS", PUSH_SECONDS))
    if seconds <= 0:
        return None
    outbox = current_app.extensions.get("pixstock_track_outbox")
    if outbox is None:
        outbox = current_app.extensions.setdefault("pixstock_track_outbox", Outbox(jobs().connection, seconds))
        atexit.register(outbox.push)  # a server stopping sends what it holds
    return outbox


def _counts_as_visitor() -> bool:
    # Staff checking their own galleries, crawlers and speculative prefetches would inflate the figures.
    if getattr(current_user, "is_authenticated", False) and current_user.role in (Role.ADMIN, Role.PHOTOGRAPHER):
        return False
    purpose = request.headers.get("Sec-Purpose", "") + request.headers.get("Purpose", "")
    if "prefetch" in purpose:
        return False
    agent = (request.user_agent.string or "").lower()
    return not any(marker in agent for marker in BOT_MARKERS)


def visitor_hash() -> str | None:
    """Today's anonymous id of the requesting browser (32 hex characters), or None outside a request."""
    if not has_request_context():
        return None
    salt = _daily_salt(local_today())
    material = f"{request.remote_addr or ''}\n{request.user_agent.string or ''}".encode()
    return hashlib.blake2b(material, key=salt, digest_size=16).hexdigest()


def _daily_salt(day: date) -> bytes:
    # One random key per day shared by every process through Redis, cached per app; once Redis
    # drops it the day's hashes can no longer be linked to anything.
    cache = current_app.extensions.setdefault("pixstock_analytics_salt", {})
    if day not in cache:
        connection = jobs().connection
        key = SALT_KEY + day.isoformat()
        connection.set(key, secrets.token_hex(32), nx=True, ex=SALT_SECONDS)
        value = connection.get(key)
        cache.clear()
        cache[day] = bytes.fromhex(value.decode() if isinstance(value, bytes) else value)
    return cache[day]


# --- Retention ---------------------------------------------------------------------------------------


def raw_kept_from() -> date | None:
    """The first local day whose raw tracked events are kept (ANALYTICS_RAW_DAYS back; None: all are kept)."""
    days = int(current_app.config.get("ANALYTICS_RAW_DAYS") or 0)
    return local_today() - timedelta(days=days) if days > 0 else None


@every(6 * 3600, queue="default")
def purge_raw_tracking(batch_size: int = BATCH_SIZE) -> int:
    """Delete the raw tracked events of days before raw_kept_from(), in batches; return how many went.

    The reports read the daily rollups, which stay: only the per-visit rows (anonymous, but numerous)
    go, so the table stops growing with every race.
    """
    first_kept = raw_kept_from()
    if first_kept is None:
        return 0
    cutoff = day_bounds(first_kept, first_kept)[0]
    deleted = 0
    while True:
        ids = db.session.scalars(select(TrackedEvent.id).where(TrackedEvent.created_at < cutoff).limit(batch_size)).all()
        if not ids:
            return deleted
        db.session.execute(delete(TrackedEvent).where(TrackedEvent.id.in_(ids)))
        db.session.commit()
        deleted += len(ids)


# --- Flushing ---------------------------------------------------------------------------------------


@every(60, queue="default")
def flush_tracked(batch_size: int = BATCH_SIZE) -> int:
    """Move buffered tracking into TrackedEvent rows and refresh the rollups; return how many were stored.

    The buffer is renamed aside first, so tracking carries on into a fresh list while this runs.
    Each batch is deleted from Redis only after its transaction commits: a crash can repeat at
    most one batch, never lose one. A lock keeps two workers from flushing at once.
    """
    connection = jobs().connection
    if not connection.set(LOCK_KEY, "1", nx=True, ex=600):
        return 0
    stored = 0
    try:
        if not connection.exists(FLUSHING_KEY) and connection.exists(BUFFER_KEY):
            connection.rename(BUFFER_KEY, FLUSHING_KEY)
        while True:
            lines = connection.lrange(FLUSHING_KEY, 0, batch_size - 1)
            if not lines:
                break
            stored += _store(lines)
            connection.ltrim(FLUSHING_KEY, len(lines), -1)
    finally:
        connection.delete(LOCK_KEY)
    return stored


def _store(lines: list) -> int:
    rows = []
    touched: set[tuple[int, date]] = set()
    for line in lines:
        try:
            kind, event_id, photo_id, visitor, stamp = json.loads(line)
            kind = TrackKind(kind)
            created_at = datetime.fromtimestamp(float(stamp), timezone.utc)
        except (ValueError, TypeError):
            log.warning("dropping a malformed tracking record: %r", line[:200])
            continue
        rows.append({"kind": kind, "event_id": event_id, "photo_id": photo_id, "visitor": visitor,
                     "created_at": created_at})
        if event_id:
            touched.add((event_id, local_day(created_at)))
    first_kept = raw_kept_from()
    if first_kept is not None:
        # A line older than the retention (a buffer left unflushed for months) would recount a day whose raw
        # events are gone: its rollup would shrink to the late lines alone.
        cutoff = day_bounds(first_kept, first_kept)[0]
        kept = [r for r in rows if r["created_at"] >= cutoff]
        if len(kept) < len(rows):
            log.warning("dropping %d tracked events older than the raw retention", len(rows) - len(kept))
        rows = kept
        touched = {(event_id, day) for event_id, day in touched if day >= first_kept}
    rows = _existing_targets(rows)
    if rows:
        db.session.execute(insert(TrackedEvent), rows)
        touched = {(event_id, day) for event_id, day in touched if any(r["event_id"] == event_id for r in rows)}
        refresh_rollups(touched)
    db.session.commit()
    return len(rows)


def _existing_targets(rows: list[dict]) -> list[dict]:
    # An event or photo deleted between the click and the flush would break the batch's foreign keys.
    from ..models import Event, Photo

    event_ids = {r["event_id"] for r in rows if r["event_id"]}
    photo_ids = {r["photo_id"] for r in rows if r["photo_id"]}
    events = set(db.session.scalars(select(Event.id).where(Event.id.in_(event_ids)))) if event_ids else set()
    photos = set(db.session.scalars(select(Photo.id).where(Photo.id.in_(photo_ids)))) if photo_ids else set()
    return [
        r for r in rows
        if (not r["event_id"] or r["event_id"] in events) and (not r["photo_id"] or r["photo_id"] in photos)
    ]


def refresh_rollups(event_days) -> None:
    """Recount the daily rollups of each (event id, local day) from tracked_events (in the caller's transaction)."""
    by_day: dict[date, set[int]] = defaultdict(set)
    for event_id, day in event_days:
        by_day[day].add(event_id)
    for day, event_ids in sorted(by_day.items()):
        start, end = day_bounds(day, day)
        in_day = (TrackedEvent.event_id.in_(event_ids), TrackedEvent.created_at >= start, TrackedEvent.created_at < end)
        db.session.execute(delete(EventDailyStat).where(EventDailyStat.event_id.in_(event_ids),
                                                        EventDailyStat.day == day))
        db.session.execute(delete(PhotoDailyView).where(PhotoDailyView.event_id.in_(event_ids),
                                                        PhotoDailyView.day == day))
        # kind IN (every kind): lets PostgreSQL walk the (event, kind, created_at) index by ranges.
        stats = db.session.execute(
            select(TrackedEvent.event_id, TrackedEvent.kind, func.count(),
                   func.count(TrackedEvent.visitor.distinct()))
            .where(*in_day, TrackedEvent.kind.in_(list(TrackKind)))
            .group_by(TrackedEvent.event_id, TrackedEvent.kind)
        ).all()
        if stats:
            db.session.execute(insert(EventDailyStat), [
                {"event_id": e, "day": day, "kind": k, "hits": hits, "visitors": visitors}
                for e, k, hits, visitors in stats
            ])
        views = db.session.execute(
            select(TrackedEvent.photo_id, TrackedEvent.event_id, func.count())
            .where(*in_day, TrackedEvent.kind == TrackKind.PHOTO_VIEW, TrackedEvent.photo_id.is_not(None))
            .group_by(TrackedEvent.photo_id, TrackedEvent.event_id)
        ).all()
        if views:
            db.session.execute(insert(PhotoDailyView), [
                {"photo_id": p, "day": day, "event_id": e, "views": n} for p, e, n in views
            ])


def rebuild_rollups(first: date | None = None, last: date | None = None) -> int:
    """Recount every rollup between two local days (all of them by default) and commit; return days rebuilt.

    Days whose raw events the retention has deleted keep their rollups: there is nothing left to recount.
    """
    bounds = db.session.execute(select(func.min(TrackedEvent.created_at), func.max(TrackedEvent.created_at))).one()
    if bounds[0] is None:
        return 0
    first = max(first or local_day(bounds[0]), raw_kept_from() or date.min)
    last = last or local_day(bounds[1])
    day, count = first, 0
    while day <= last:
        start, end = day_bounds(day, day)
        event_ids = set(db.session.scalars(
            select(TrackedEvent.event_id).distinct()
            .where(TrackedEvent.created_at >= start, TrackedEvent.created_at < end, TrackedEvent.event_id.is_not(None))
        ))
        stale = set(db.session.scalars(select(EventDailyStat.event_id).where(EventDailyStat.day == day)))
        if event_ids | stale:
            refresh_rollups({(event_id, day) for event_id in event_ids | stale})
            db.session.commit()
            count += 1
        day += timedelta(days=1)
    return count

"""Gallery pages kept for a short while, so a crowd opening the same page renders it once.

When a QR code at the finish line sends thousands of phones to one event, they all ask for the same
first pages, and nearly all of them see exactly the same HTML: they are not signed in, their cart is
empty, nothing is flashed at them. For those visitors `serve()` answers from this process's copy of
the page, rendered once, keyed on everything the page depends on:

- the event's version, its `updated_at`, which every change a customer could see bumps: approvals
  and rejections (pixstock.approval), prices, photographers, status, cover, face data;
- the host, the full path (cursor, filters), the language and the htmx headers the views read;
- and a TTL, a backstop for what does not touch the event (a photo reprocessed, a date passing).

Reading the version costs a query, most of what serving a cached page costs; so each process remembers the
version it last read for a slug for one second (VERSION_SECONDS) and a page served within that second
costs no query at all. A change made in this process forgets the remembered versions when it commits
(the listeners at the end), so it shows on the very next request here; another process sees it
within a second. Pages for everyone else (staff previews, a visitor with a cart) are rendered per
request, from the same views. When a page is missing (a new version, an expired copy) and a crowd asks
for it at once, one request renders it and the others wait for its copy (Flights).

Per visitor, a shared page differs only in its CSRF token: while a shared page renders, the
`csrf_token()` of templates writes a placeholder, and each response carries its own token instead.
A view that generates a real token some other way, flashes or sets a cookie is not stored. The
analytics a view records (`track()`) are noted while it renders and recorded again on every hit.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, g, has_app_context, make_response, request, session
from flask_babel import get_locale
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from ..models import Event

TTL_SECONDS = 30
VERSION_SECONDS = 1.0
FLIGHT_WAIT_SECONDS = 5.0
MAX_ENTRIES = 1024
CSRF_PLACEHOLDER = "pixstockCsrfPlaceholder0d1e5b"
EXTENSION = "pixstock_gallery_cache"


@dataclass(frozen=True)
class Page:
    """A rendered response everyone may get: its body (with the CSRF placeholder), type, and the views it tracked."""

    body: str
    mimetype: str
    tracked: tuple


class Store:
    """A thread-safe LRU dict whose entries expire after ttl seconds."""

    def __init__(self, ttl: float, size: int = MAX_ENTRIES):
        self.ttl, self.size = ttl, size
        self._lock = threading.Lock()
        self._entries: OrderedDict = OrderedDict()

    def get(self, key):
        """The value kept for key, or None when absent or expired."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] < now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key, value) -> None:
        """Keep value for key, dropping the least recently used beyond size."""
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()


class Versions:
    """The version each event (by slug) had when this process last read it, re-read by one request at a time.

    Once a remembered version is VERSION_SECONDS old, the next request re-reads it while the others keep
    using it: a crowd never queues behind twenty identical queries every second.
    """

    def __init__(self, seconds: float = VERSION_SECONDS):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._known: dict[str, tuple[float, tuple]] = {}
        self._reading: set[str] = set()

    def current(self, slug: str) -> tuple | None:
        """The remembered version of slug's event, or None: unknown, or due and this caller is to re-read it."""
        with self._lock:
            entry = self._known.get(slug)
            if entry is None:
                return None
            read_at, version = entry
            if time.monotonic() - read_at < self.seconds or slug in self._reading:
                return version
            self._reading.add(slug)
            return None

    def remember(self, slug: str, version: tuple) -> None:
        """Note the version just read for slug."""
        with self._lock:
            self._known[slug] = (time.monotonic(), version)
            self._reading.discard(slug)

    def forget(self, slug: str | None = None) -> None:
        """Forget slug's version (every event's when None): the next requests read it before serving."""
        with self._lock:
            if slug is None:
                self._known.clear()
                self._reading.clear()
            else:
                self._known.pop(slug, None)
                self._reading.discard(slug)


class Flights:
    """One render of a page at a time: when a new version or an expired page meets a crowd, the first request
    renders it and the others wait for that page instead of rendering it too (CPU-bound renders in one process
    only queue behind each other: ten at once would each take ten times as long)."""

    def __init__(self, wait_seconds: float = FLIGHT_WAIT_SECONDS):
        self.wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._flying: dict[tuple, threading.Event] = {}

    def lead_or_wait(self, key: tuple, lookup: Callable) -> tuple[bool, object]:
        """(True, None) when nobody is rendering key: the caller renders it, then calls land(key). Otherwise
        (False, what lookup(key) finds once that render is over): None if it could not be shared or took
        too long, and the caller renders for itself."""
        with self._lock:
            flight = self._flying.get(key)
            if flight is None:
                self._flying[key] = threading.Event()
                return True, None
        flight.wait(self.wait_seconds)
        return False, lookup(key)

    def land(self, key: tuple) -> None:
        """The render of key is over (stored or not): let the waiting requests look."""
        with self._lock:
            flight = self._flying.pop(key, None)
        if flight is not None:
            flight.set()


class GalleryCache:
    """One app's shared pages and data (photographer choices), and the event versions it last read."""

    def __init__(self):
        self.pages = Store(TTL_SECONDS)
        self.versions = Versions()
        self.flights = Flights()


def init_app(app) -> None:
    """Give app its gallery cache (one per app, so tests and apps never share one) and templates the
    csrf_token() that knows about shared pages."""
    app.extensions[EXTENSION] = GalleryCache()
    # Flask-WTF offers csrf_token() as a Jinja global and as a context variable: both become ours.
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(lambda: {"csrf_token": csrf_token})


def _cache() -> GalleryCache:
    return current_app.extensions[EXTENSION]


def get(key):
    """A value kept with put(), e.g. the photographer filter of an event version; None when absent."""
    return _cache().pages.get(key)


def put(key, value) -> None:
    """Keep value for TTL_SECONDS under key (include the event's version in it)."""
    _cache().pages.put(key, value)


def forget_versions() -> None:
    """Make the next request for any event read its version from the database (after a change commits)."""
    _cache().versions.forget()


def csrf_token() -> str:
    """Templates: this visitor's CSRF token, or the placeholder while rendering a page everyone may get."""
    return CSRF_PLACEHOLDER if g.get("shared_render") else generate_csrf()


def sees_shared_pages() -> bool:
    """Whether this request's visitor gets exactly what any anonymous visitor with an empty cart gets."""
    from ..shop.cart import current_cart

    return (
        request.method == "GET" and not current_user.is_authenticated and "_flashes" not in session
        and not current_cart().count
    )


def serve(slug: str, load: Callable, render: Callable, event_of: Callable = lambda obj: obj):
    """Answer a public gallery request: from the shared copy when this visitor sees what everyone sees.

    load() loads (and authorises, 404s) what the page shows, event_of(it) is its event, render(it)
    returns the view's response; the page is stored only if it came out the same for everyone.
    """
    from ..analytics.tracking import track

    if not sees_shared_pages():
        return render(load())
    cache = _cache()
    tail = (request.host_url, request.full_path, str(get_locale()), bool(request.headers.get("HX-Request")),
            bool(request.headers.get("HX-History-Restore-Request")))
    version = cache.versions.current(slug)
    page = cache.pages.get(("page", version, *tail)) if version else None
    if page is None:
        try:
            loaded = load()
        except Exception:  # gone, unpublished: nobody may keep serving what was remembered
            cache.versions.forget(slug)
            raise
        event = event_of(loaded)
        version = (event.id, event.updated_at)
        cache.versions.remember(slug, version)
        key = ("page", version, *tail)
        page = cache.pages.get(key)
        leading = False
        if page is None:
            leading, page = cache.flights.lead_or_wait(key, cache.pages.get)
        if page is None:
            try:
                return _render_shared(key, render, loaded)
            finally:
                if leading:
                    cache.flights.land(key)
    for kind, event_id, photo_id in page.tracked:
        track(kind, event_id, photo_id)
    return _personal(current_app.response_class(page.body, mimetype=page.mimetype))


def _render_shared(key: tuple, render: Callable, loaded):
    g.shared_render, g.shared_tracked = True, []
    try:
        response = make_response(render(loaded))
    finally:
        g.shared_render = False
    tracked = tuple(g.pop("shared_tracked"))
    same_for_everyone = (
        response.status_code == 200 and not response.direct_passthrough and response.mimetype == "text/html"
        and "csrf_token" not in g  # a real token reached the page some other way than the placeholder
        and "_flashes" not in session and "Set-Cookie" not in response.headers
    )
    if same_for_everyone:
        _cache().pages.put(key, Page(response.get_data(as_text=True), response.mimetype, tracked))
    return _personal(response)


def _personal(response):
    """Put this visitor's CSRF token where the shared copy has the placeholder."""
    if response.mimetype == "text/html" and not response.direct_passthrough:
        body = response.get_data(as_text=True)
        if CSRF_PLACEHOLDER in body:
            response.set_data(body.replace(CSRF_PLACEHOLDER, generate_csrf()))
    return response


def note_tracked(kind, event_id, photo_id) -> None:
    """Remember a track() call made while a shared page renders, to repeat it for each visitor served the copy."""
    if g.get("shared_render"):
        g.shared_tracked.append((kind, event_id, photo_id))


# --- Forgetting versions when an event changes in this process -------------------------------------


@sa_event.listens_for(Session, "after_flush")
def _note_changed_events(session, _flush_context) -> None:
    if any(isinstance(obj, Event) for objs in (session.dirty, session.new, session.deleted) for obj in objs):
        session.info["gallery_versions_stale"] = True


@sa_event.listens_for(Session, "do_orm_execute")
def _note_bulk_event_changes(state) -> None:
    # Approvals bump updated_at with one UPDATE for many events, past the unit of work.
    if (state.is_update or state.is_delete) and any(m.class_ is Event for m in state.all_mappers):
        state.session.info["gallery_versions_stale"] = True


@sa_event.listens_for(Session, "after_commit")
def _forget_versions_on_commit(session) -> None:
    if session.info.pop("gallery_versions_stale", False) and has_app_context() \
            and EXTENSION in current_app.extensions:
        forget_versions()


@sa_event.listens_for(Session, "after_rollback")
def _keep_versions_on_rollback(session) -> None:
    session.info.pop("gallery_versions_stale", None)

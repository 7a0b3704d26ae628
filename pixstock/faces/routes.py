"""Selfie search on an event's gallery: the form (with its consent notice) and the search itself.

The search answers a fragment for htmx (the results, and the face picker out of band) and the
whole page otherwise, so it works without JavaScript. It is rate limited per client together with
the API's face search, so neither can be used to trawl events for a stranger.
"""
from flask import abort, current_app, render_template, request

from ..access import get_event_by_slug
from ..analytics.tracking import track
from ..extensions import limiter
from ..models import TrackKind
from ..wrappers import in_memory_uploads
from . import bp
from .indexing import face_data_deleted_on, face_search_available, refuse_face_search
from .search import MAX_REQUEST_BYTES, SelfieError, parse_choices, read_selfies, search


def search_rate_limit() -> str:
    """The per-client face search limit (FACE_SEARCH_RATE_LIMIT), shared by the web page and the API."""
    return current_app.config["FACE_SEARCH_RATE_LIMIT"]


@bp.app_template_global("face_search_available")
def face_search_available_global(event) -> bool:
    """Templates: whether to offer the selfie search on event's page."""
    return face_search_available(event)


@bp.app_template_global("face_data_deleted_on")
def face_data_deleted_on_global(event):
    """Templates: the day the retention job will delete event's face data, or None."""
    return face_data_deleted_on(event)


def _searchable_event(slug: str):
    event = get_event_by_slug(slug)
    if not face_search_available(event):
        refuse_face_search(event)
        abort(404)
    return event


def _fragment_request() -> bool:
    # A history restore after a cache miss asks with HX-Request too, but needs the whole page.
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


def _respond(template_context: dict, status: int = 200):
    fragment = _fragment_request()
    template = "faces/_search_response.html" if fragment else "faces/search.html"
    response = current_app.make_response((render_template(template, fragment=fragment, **template_context), status))
    response.vary.add("HX-Request")
    response.headers["Cache-Control"] = "no-store"  # results describe one person: never cache them
    return response


@bp.get("/e/<slug>/find-me")
def show_search(slug: str):
    """The selfie search on a page of its own (the link on QR codes and in the gallery without JavaScript)."""
    return _respond({"event": _searchable_event(slug)})


@bp.post("/e/<slug>/find-me")
@in_memory_uploads(MAX_REQUEST_BYTES)
@limiter.shared_limit(search_rate_limit, scope="face-search")
def search_photos(slug: str):
    """Search the event's photos for the face in up to three selfies; the selfies are gone when this returns."""
    event = _searchable_event(slug)
    uploads = [file.read() for file in request.files.getlist("selfie")]
    choices = parse_choices(request.form.getlist("chosen") + request.form.getlist("face"))
    try:
        selfies = read_selfies(uploads, choices)
    except SelfieError as error:
        return _respond({"event": event, "error": error}, 422)
    result = search(event, selfies)
    track(TrackKind.SELFIE_SEARCH, event.id)
    return _respond({"event": event, "result": result})

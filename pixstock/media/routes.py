"""Serving photo files through access checks, with caching that never serves a stale derivative.

Derivative keys are named after their content (see tasks/images.py), so a file under a key never
changes: it is sent with a year-long immutable Cache-Control and a strong ETag derived from the key.
URLs built with ``photo_url`` carry that version (``?v=``), so they change whenever the file does.
"""
import hashlib

from flask import Response, abort, current_app, has_request_context, redirect, request, send_file, url_for

from ..access import get_photo
from ..services.storage import ObjectNotFound, get_storage
from . import bp

DERIVATIVES = ("square_150", "square_300", "medium", "preview")
NAMES = DERIVATIVES + ("original",)
YEAR = 365 * 24 * 3600


def version(key: str) -> str:
    """A short, strong validator for the object under key (keys change when content changes)."""
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def photo_url(photo, name: str, external: bool = False) -> str:
    """The URL of one of the photo's files, versioned so browsers may cache it forever."""
    key = photo.file_path if name == "original" else (photo.derivative_keys or {}).get(name)
    values = {"photo_id": photo.id, "name": name}
    if key and name != "original":
        values["v"] = version(key)[:12]
    if has_request_context():
        return url_for("media.photo_file", _external=external, **values)
    # From a job there is no request to build against: a path relative to the site root.
    adapter = current_app.url_map.bind("localhost", script_name=current_app.config.get("APPLICATION_ROOT") or "/")
    return adapter.build("media.photo_file", values, force_external=False)


def photo_path(photo, name: str) -> str:
    """photo_url without the host (for Socket.IO messages and pages)."""
    return photo_url(photo, name, external=False)


@bp.app_template_global("photo_url")
def photo_url_global(photo, name: str) -> str:
    """Templates: {{ photo_url(photo, "square_300") }}."""
    return photo_url(photo, name)


@bp.get("/photos/<int:photo_id>/<name>")
def photo_file(photo_id: int, name: str):
    """One file of a photo: a derivative for anyone who may see the photo, the original for its owners."""
    if name not in NAMES or photo_id >= 2**31:  # beyond PostgreSQL's integer: no such photo
        abort(404)
    photo = get_photo(photo_id, need="own" if name == "original" else "view")
    if name == "original":
        return _send_original(photo)
    key = (photo.derivative_keys or {}).get(name)
    if not key:
        abort(404)  # not processed yet
    etag = version(key)
    public = photo.is_visible_to_customers and photo.event.is_public
    if etag in request.if_none_match:
        response = Response(status=304)
    else:
        response = _send_object(key, "image/jpeg")
    response.set_etag(etag)
    response.cache_control.no_cache = None  # send_file's default
    response.cache_control.max_age = YEAR
    response.cache_control.immutable = True
    if public:
        response.cache_control.public = True
    else:
        # Only the photographer and admins see it; shared caches must not keep it.
        response.cache_control.private = True
    # Whether you may see it depends on your session: caches keyed on URL alone must not mix people.
    response.vary.add("Cookie")
    return response


def _send_object(key: str, mimetype: str) -> Response:
    storage = get_storage()
    local = storage.local_path(key)
    if local is not None:
        try:
            return send_file(local, mimetype=mimetype, conditional=False, etag=False)
        except FileNotFoundError:
            abort(404)
    try:
        chunks = storage.iter_chunks(key)
    except ObjectNotFound:
        abort(404)
    return Response(chunks, mimetype=mimetype, direct_passthrough=True)


def _send_original(photo):
    storage = get_storage()
    url = storage.presigned_url(photo.file_path, filename=photo.original_filename)
    if url:
        response = redirect(url)
        response.cache_control.no_store = True  # the URL expires soon
        return response
    local = storage.local_path(photo.file_path)
    try:
        response = send_file(
            local, mimetype=photo.content_type, as_attachment=True, download_name=photo.original_filename,
            conditional=True, etag=version(photo.file_path),
        )
    except FileNotFoundError:
        abort(404)
    response.cache_control.private = True  # with send_file's no-cache: revalidate every time
    return response

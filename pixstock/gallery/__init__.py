"""Customer galleries: an event's approved photos, infinite scroll, and the photo view."""
from flask import Blueprint

bp = Blueprint("gallery", __name__)

from . import cache, routes  # noqa: E402,F401

bp.record_once(lambda state: cache.init_app(state.app))

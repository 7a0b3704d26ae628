"""Customer galleries: an event's approved photos, infinite scroll, and the photo view."""
from flask import Blueprint

bp = Blueprint("gallery", __name__)

from . import routes  # noqa: E402,F401

"""Face search: customers find their photos in an event with a selfie; event photos' faces are indexed by jobs."""
from flask import Blueprint

bp = Blueprint("faces", __name__)

from . import routes  # noqa: E402,F401

"""Admin area: events, photographers, the approval queue."""
from flask import Blueprint

bp = Blueprint("admin", __name__)

from . import events, faces, photographers, queue, routes  # noqa: E402,F401

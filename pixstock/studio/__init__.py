"""The photographers' studio: their events, upload batches, and live upload progress."""
from flask import Blueprint

bp = Blueprint("studio", __name__)

from . import reviews, routes, sockets  # noqa: E402,F401

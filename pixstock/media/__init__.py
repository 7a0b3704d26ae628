"""Photo files: derivatives for whoever may see the photo, originals for its photographer and admins."""
from flask import Blueprint

bp = Blueprint("media", __name__)

from . import routes  # noqa: E402,F401

"""The JSON API under /api/v1: bearer tokens, JSON errors only, an OpenAPI document."""
from flask import Blueprint

from ..extensions import csrf

bp = Blueprint("api", __name__)
# The API authenticates with bearer tokens only (never the session cookie), so CSRF does not apply.
csrf.exempt(bp)

from . import auth, events, faces, openapi, orders, photos, reports, tokens  # noqa: E402,F401

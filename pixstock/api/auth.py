"""Bearer-token authentication for the API; the session cookie is deliberately ignored."""
from functools import wraps

from flask import abort, g, request
from werkzeug.exceptions import HTTPException

from ..extensions import db
from ..models import ApiToken, Role
from . import bp


class ApiError(HTTPException):
    """An API error with a machine-readable code, rendered as JSON by the error handlers."""

    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(description=message)
        self.code = status
        self.error_code = code
        self.extra = extra


@bp.before_request
def load_token_user():
    """Set g.api_user from `Authorization: Bearer <token>`; a bad token is 401, none is anonymous."""
    g.api_user = None
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "invalid_token", "Use 'Authorization: Bearer <token>'.")
    user = ApiToken.authenticate(token.strip())
    if user is None:
        raise ApiError(401, "invalid_token", "The token is unknown, revoked, or its account is inactive.")
    db.session.commit()  # last_used_at
    g.api_user = user
    return None


def api_user():
    """The user the request's bearer token belongs to, or None."""
    return g.get("api_user")


def token_required(*roles: Role):
    """Require a valid bearer token (401) whose user has one of roles, if given (403)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = api_user()
            if user is None:
                raise ApiError(401, "authentication_required", "This endpoint needs 'Authorization: Bearer <token>'.")
            if roles and user.role not in roles:
                raise ApiError(403, "forbidden", "Your account's role may not do this.")
            return view(*args, **kwargs)

        return wrapped

    return decorator


def json_body() -> dict:
    """The request's JSON object, or a 400 explaining what is wrong."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "Send a JSON object with 'Content-Type: application/json'.")
    return data


__all__ = ["ApiError", "abort", "api_user", "json_body", "token_required"]

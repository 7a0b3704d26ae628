"""Tokens and the current user."""
from flask import current_app, jsonify

from ..extensions import db, limiter
from ..models import ApiToken, User
from . import bp
from .auth import ApiError, api_user, json_body, token_required
from .openapi import document, schema


def user_json(user: User) -> dict:
    """The API representation of a user."""
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role.value,
        "active": user.active,
        "locale": user.locale,
        "created_at": user.created_at.isoformat(),
    }


@bp.post("/tokens")
@limiter.limit("10 per minute")
def create_token():
    """Exchange email and password for a new personal API token."""
    data = json_body()
    email, password = data.get("email"), data.get("password")
    if not isinstance(email, str) or not isinstance(password, str) or not email or not password:
        raise ApiError(422, "invalid_request", "Send 'email' and 'password' as strings.")
    user = User.by_email(email)
    if user is not None and user.is_locked():
        raise ApiError(429, "account_locked", "Too many failed attempts; try again later.")
    if user is None or not user.check_password(password):
        if user is not None:
            user.record_failed_login(current_app.config["LOGIN_MAX_FAILURES"], current_app.config["LOGIN_LOCK_MINUTES"])
            db.session.commit()
        raise ApiError(401, "invalid_credentials", "Wrong email or password.")
    if not user.active:
        raise ApiError(403, "account_inactive", "This account is deactivated.")
    user.record_login()
    name = data.get("name") if isinstance(data.get("name"), str) else "API (POST /tokens)"
    row, plain = ApiToken.issue(user, name[:100])
    db.session.commit()
    return jsonify({"token": plain, "token_id": row.id, "user": user_json(user)}), 201


@bp.get("/me")
@token_required()
def me():
    """The account the bearer token belongs to."""
    return jsonify(user_json(api_user()))


schema("User", {
    "type": "object",
    "properties": {
        "id": {"type": "integer"}, "email": {"type": "string"},
        "role": {"type": "string", "enum": ["admin", "photographer", "customer"]},
        "active": {"type": "boolean"}, "locale": {"type": "string", "nullable": True},
        "created_at": {"type": "string", "format": "date-time"},
    },
})
document("/tokens", "post", {
    "summary": "Create a personal API token",
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["email", "password"],
        "properties": {"email": {"type": "string"}, "password": {"type": "string"}, "name": {"type": "string"}},
    }}}},
    "responses": {
        "201": {"description": "The token, shown once", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"token": {"type": "string"}, "token_id": {"type": "integer"},
                                             "user": {"$ref": "#/components/schemas/User"}}}}}},
        "401": {"$ref": "#/components/responses/Error"},
        "422": {"$ref": "#/components/responses/Error"},
    },
})
document("/me", "get", {
    "summary": "The current user",
    "security": [{"bearer": []}],
    "responses": {
        "200": {"description": "The user", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/User"}}}},
        "401": {"$ref": "#/components/responses/Error"},
    },
})

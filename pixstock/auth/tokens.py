"""Signed, expiring links for password resets and photographer invitations."""
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..extensions import db
from ..models import User


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"pixstock-{purpose}")


def _fingerprint(user: User) -> str:
    # Part of the current hash: once the password changes, every earlier link stops working.
    return (user.password_hash or "unset")[-16:]


def make_token(user: User, purpose: str) -> str:
    """A signed token for user that only works for purpose (reset or invite)."""
    return _serializer(purpose).dumps({"uid": user.id, "fp": _fingerprint(user)})


def load_token(token: str, purpose: str, max_age_seconds: int) -> User | None:
    """The user a valid, unexpired, unused token belongs to, or None."""
    try:
        data = _serializer(purpose).loads(token, max_age=max_age_seconds)
    except (SignatureExpired, BadSignature):
        return None
    user = db.session.get(User, data.get("uid"))
    if user is None or _fingerprint(user) != data.get("fp"):
        return None
    return user

"""Accounts: registration, sign-in, password reset, invitations, API tokens, language."""
from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import routes  # noqa: E402,F401


from ..extensions import db, login_manager  # noqa: E402
from ..models import User  # noqa: E402


@login_manager.user_loader
def load_user(user_id: str):
    """Flask-Login's loader: the user for the id kept in the session."""
    try:
        return db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None

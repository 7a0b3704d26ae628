"""Studio views."""
from flask import render_template
from flask_login import current_user
from sqlalchemy import select

from ..access import role_required
from ..extensions import db
from ..models import Event, EventPhotographer, Role
from . import bp


@bp.get("/")
@role_required(Role.PHOTOGRAPHER, Role.ADMIN)
def index():
    """The events this photographer may upload to (all events for admins)."""
    query = select(Event).order_by(Event.event_date.desc(), Event.id.desc())
    if not current_user.is_admin:
        query = query.join(EventPhotographer).where(EventPhotographer.user_id == current_user.id)
    return render_template("studio/index.html", events=db.session.scalars(query).all())

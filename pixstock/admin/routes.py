"""The admin home."""
from flask import render_template
from sqlalchemy import func, select

from ..access import role_required
from ..approval import pending_count
from ..extensions import db
from ..models import Event, EventStatus, Role
from . import bp


@bp.get("/")
@role_required(Role.ADMIN)
def index():
    """The admin home: the queue's size and the events that are running."""
    by_status = dict(db.session.execute(select(Event.status, func.count(Event.id)).group_by(Event.status)).all())
    running = db.session.scalars(
        select(Event).where(Event.status != EventStatus.CLOSED).order_by(Event.event_date.desc().nulls_first()).limit(20)
    ).all()
    return render_template("admin/index.html", pending=pending_count(), by_status=by_status, running=running)

"""Home, privacy and health."""
from flask import jsonify, render_template
from sqlalchemy import select, text

from ..extensions import db
from ..models import Event, EventStatus
from . import bp


@bp.get("/")
def index():
    """The home page: events on sale."""
    events = db.session.scalars(
        select(Event).where(Event.status == EventStatus.ON_SALE).order_by(Event.event_date.desc(), Event.id.desc())
    ).all()
    return render_template("main/index.html", events=[e for e in events if e.is_public])


@bp.get("/privacy")
def privacy():
    """What pixstock does with photos and face data."""
    return render_template("main/privacy.html")


@bp.get("/healthz")
def healthz():
    """Liveness and database check for load balancers."""
    db.session.execute(text("SELECT 1"))
    return jsonify({"status": "ok"})

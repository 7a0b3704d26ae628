"""Home, privacy and health."""
from datetime import date

from flask import jsonify, render_template, request
from sqlalchemy import text

from ..extensions import db
from ..models import Event
from . import bp

HOME_LIMIT = 60


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


@bp.get("/")
def index():
    """The home page: events on sale, with active search by name or place and a date range."""
    search = " ".join(request.args.get("q", "").split())[:100]
    date_from, date_to = _date_arg("from"), _date_arg("to")
    events = db.session.scalars(Event.on_sale(search, date_from, date_to).limit(HOME_LIMIT + 1)).all()
    context = {"events": events[:HOME_LIMIT], "more": len(events) > HOME_LIMIT, "search": search,
               "date_from": date_from, "date_to": date_to}
    if request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request"):
        return render_template("main/_event_list.html", **context)
    return render_template("main/index.html", **context)


@bp.get("/privacy")
def privacy():
    """What pixstock does with photos and face data."""
    return render_template("main/privacy.html")


@bp.get("/healthz")
def healthz():
    """Liveness and database check for load balancers."""
    db.session.execute(text("SELECT 1"))
    return jsonify({"status": "ok"})

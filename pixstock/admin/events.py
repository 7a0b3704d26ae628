"""Admin views for events: create and edit, lifecycle, sales, pricing, cover, QR code, dashboard."""
import io

import qrcode
import qrcode.image.svg
from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from ..access import get_event, get_photo, role_required
from ..catalog import Cursor, CursorError, event_url, gallery_page
from ..extensions import db
from ..faces.indexing import face_summary
from ..models import AuditLog, Event, EventStatus, Photo, Role, TransitionError, User
from ..models.events import PricingError
from . import bp
from .dashboard import event_dashboard
from .forms import EventForm, PricingForm, to_satang


def _is_htmx() -> bool:
    return bool(request.headers.get("HX-Request"))


@bp.get("/events")
@role_required(Role.ADMIN)
def list_events():
    """Every event, newest first, with its status and photo count."""
    counts = dict(db.session.execute(select(Photo.event_id, func.count(Photo.id)).group_by(Photo.event_id)).all())
    events = db.session.scalars(select(Event).order_by(Event.event_date.desc().nulls_first(), Event.id.desc())).all()
    return render_template("admin/events.html", events=events, counts=counts)


def _fill_event(event: Event, form: EventForm) -> bool:
    """Copy the form onto event; False (with the field's error set) when the address is refused."""
    event.name = form.name.data.strip()
    event.description = form.description.data or ""
    event.event_date = form.event_date.data
    event.location = form.location.data or ""
    event.expiry_date = form.expiry_date.data
    event.watermark_text = form.watermark_text.data.strip()
    event.currency = form.currency.data
    slug = (form.slug.data or "").strip()
    if event.slug and slug in ("", event.slug):
        return True
    try:
        event.set_slug(slug or Event.unique_slug(event.name))
    except ValueError as exc:
        form.slug.errors = [*form.slug.errors, str(exc)]
        return False
    return True


@bp.route("/events/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def new_event():
    """Create an event (a draft): its name, date, place, address and watermark."""
    form = EventForm()
    if form.validate_on_submit():
        event = Event(status=EventStatus.DRAFT, slug="", price_single=0)
        if _fill_event(event, form):
            db.session.add(event)
            db.session.flush()
            AuditLog.record(current_user, "event.create", event, name=event.name, slug=event.slug)
            db.session.commit()
            flash(_("Event created. Set its prices and assign photographers next."), "success")
            return redirect(url_for("admin.show_event", event_id=event.id))
        db.session.rollback()
    return render_template("admin/event_form.html", form=form, event=None), 422 if form.is_submitted() else 200


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def edit_event(event_id: int):
    """Edit an event's details."""
    event = get_event(event_id, need="manage")
    form = EventForm(obj=event)
    if form.validate_on_submit():
        before = {"name": event.name, "slug": event.slug}
        if _fill_event(event, form):
            AuditLog.record(current_user, "event.update", event, before=before,
                            fields=sorted(k for k in form.data if k not in ("csrf_token", "submit")))
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("admin.show_event", event_id=event.id))
        db.session.rollback()
        event = get_event(event_id, need="manage")
    return render_template("admin/event_form.html", form=form, event=event), 422 if form.is_submitted() else 200


def _assignable(event: Event) -> list[User]:
    assigned = {a.user_id for a in event.assignments}
    rows = db.session.scalars(
        select(User).where(User.role == Role.PHOTOGRAPHER, User.active.is_(True)).order_by(User.email)
    ).all()
    return [u for u in rows if u.id not in assigned]


@bp.get("/events/<int:event_id>")
@role_required(Role.ADMIN)
def show_event(event_id: int):
    """An event's dashboard: lifecycle, sales, photos by status, photographers, faces."""
    event = get_event(event_id, need="manage")
    return render_template(
        "admin/event.html", event=event, stats=event_dashboard(event), assignable=_assignable(event),
        public_url=event_url(event), faces=face_summary(event),
    )


def _status_response(event: Event, error: str | None = None):
    """The lifecycle panel for htmx, else back to the dashboard with a message."""
    if _is_htmx():
        # htmx swaps only 2xx answers: a refusal is shown inside the panel it concerns.
        return render_template("admin/_event_status.html", event=event, error=error)
    if error:
        flash(error, "error")
    return redirect(url_for("admin.show_event", event_id=event.id), code=303)


@bp.post("/events/<int:event_id>/status")
@role_required(Role.ADMIN)
def change_status(event_id: int):
    """Move an event one step along its lifecycle; a refusal says why."""
    event = get_event(event_id, need="manage")
    try:
        new = EventStatus(request.form.get("status", ""))
    except ValueError:
        return _status_response(event, _("Choose a status to move to."))
    old = event.status
    try:
        event.transition_to(new)
    except TransitionError as exc:
        return _status_response(event, str(exc))
    AuditLog.record(current_user, "event.status", event, old=old.value, new=new.value)
    db.session.commit()
    return _status_response(event)


@bp.post("/events/<int:event_id>/sales")
@role_required(Role.ADMIN)
def set_sales(event_id: int):
    """Open or close an event's sales."""
    event = get_event(event_id, need="manage")
    enabled = request.form.get("enabled") == "1"
    try:
        event.set_sales(enabled)
    except (TransitionError, PricingError) as exc:
        return _status_response(event, str(exc))
    AuditLog.record(current_user, "event.sales", event, enabled=enabled)
    db.session.commit()
    return _status_response(event)


@bp.route("/events/<int:event_id>/pricing", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def edit_pricing(event_id: int):
    """Set the single-photo price, bundle tiers and the "all photos of me" package."""
    event = get_event(event_id, need="manage")
    form = PricingForm()
    if not form.is_submitted():
        form.price_single.data = event.price_single / 100
        form.price_all_of_me.data = None if event.price_all_of_me is None else event.price_all_of_me / 100
        while len(form.bundles.entries):
            form.bundles.pop_entry()
        for tier in event.bundles:
            form.bundles.append_entry({"photo_count": tier.photo_count, "price": tier.price / 100})
        for _blank in range(2):
            form.bundles.append_entry()
    elif form.validate():
        try:
            event.set_pricing(to_satang(form.price_single.data), form.bundle_tiers(), to_satang(form.price_all_of_me.data))
        except PricingError as exc:
            form.price_single.errors = [*form.price_single.errors, str(exc)]
        else:
            AuditLog.record(current_user, "event.pricing", event, **event.pricing)
            db.session.commit()
            flash(_("Prices saved."), "success")
            return redirect(url_for("admin.show_event", event_id=event.id), code=303)
        db.session.rollback()
    return render_template("admin/pricing.html", form=form, event=event), 422 if form.is_submitted() else 200


@bp.route("/events/<int:event_id>/cover", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def choose_cover(event_id: int):
    """Pick the event's cover from its approved photos."""
    event = get_event(event_id, need="manage")
    error = None
    if request.method == "POST":
        raw = request.form.get("photo_id", "")
        try:
            if raw and not (raw.isdigit() and int(raw) < 2**31):
                raise ValueError(_("Choose one of the photos."))
            event.set_cover(get_photo(int(raw), need="manage") if raw else None)
        except ValueError as exc:
            error = str(exc)
        else:
            AuditLog.record(current_user, "event.cover", event, photo_id=event.cover_photo_id)
            db.session.commit()
            flash(_("Cover saved."), "success")
            return redirect(url_for("admin.show_event", event_id=event.id), code=303)
    try:
        after = Cursor.decode(request.args["after"]) if request.args.get("after") else None
    except CursorError as exc:
        after, error = None, str(exc)
    photos, next_cursor = gallery_page(event, after=after, limit=60)
    status = 422 if error and request.method == "POST" else 200
    return render_template("admin/cover.html", event=event, photos=photos, next_cursor=next_cursor, error=error), status


def qr_svg(url: str) -> str:
    """An SVG QR code of url, drawn as one path so it prints crisply at any size."""
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode()


@bp.get("/events/<int:event_id>/qr")
@role_required(Role.ADMIN)
def event_qr(event_id: int):
    """A printable page with the QR code of the event's public gallery."""
    event = get_event(event_id, need="manage")
    url = event_url(event)
    return render_template("admin/qr.html", event=event, url=url, svg=qr_svg(url))


@bp.get("/events/<int:event_id>/qr.svg")
@role_required(Role.ADMIN)
def event_qr_svg(event_id: int):
    """The QR code alone, as an SVG file to hand to a printer."""
    event = get_event(event_id, need="manage")
    response = Response(qr_svg(event_url(event)), mimetype="image/svg+xml")
    response.headers["Content-Disposition"] = f'attachment; filename="qr-event-{event.id}.svg"'
    return response


def _photographers_response(event: Event, error: str | None = None):
    if _is_htmx():
        return render_template("admin/_event_photographers.html", event=event, assignable=_assignable(event),
                               error=error)
    if error:
        flash(error, "error")
    return redirect(url_for("admin.show_event", event_id=event.id) + "#photographers", code=303)


@bp.post("/events/<int:event_id>/photographers")
@role_required(Role.ADMIN)
def assign_photographer(event_id: int):
    """Assign a photographer to upload to the event."""
    event = get_event(event_id, need="manage")
    raw = request.form.get("user_id", "")
    user = db.session.get(User, int(raw)) if raw.isdigit() and int(raw) < 2**31 else None
    if user is None:
        return _photographers_response(event, _("Choose a photographer."))
    try:
        added = event.assign(user)
    except ValueError as exc:
        return _photographers_response(event, str(exc))
    if added:
        AuditLog.record(current_user, "event.assign", event, photographer_id=user.id, email=user.email)
        db.session.commit()
    return _photographers_response(event)


@bp.post("/events/<int:event_id>/photographers/<int:user_id>/remove")
@role_required(Role.ADMIN)
def remove_photographer(event_id: int, user_id: int):
    """Remove a photographer from the event; the photos they uploaded stay."""
    event = get_event(event_id, need="manage")
    user = db.session.get(User, user_id)
    if user is not None and event.unassign(user):
        AuditLog.record(current_user, "event.unassign", event, photographer_id=user.id, email=user.email)
        db.session.commit()
    return _photographers_response(event)


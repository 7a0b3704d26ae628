"""Admin views for photographers: invite, deactivate, commission rates, the events they work."""
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..access import role_required
from ..auth.services import invite_photographer
from ..extensions import db
from ..models import AuditLog, Event, EventPhotographer, PhotographerProfile, PhotographerStatus, Role, User
from . import bp
from .forms import CommissionForm, InvitePhotographerForm


def _photographer(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or user.role is not Role.PHOTOGRAPHER:
        from flask import abort

        abort(404)
    return user


def _events_by_photographer() -> dict[int, list[Event]]:
    events: dict[int, list[Event]] = {}
    rows = db.session.execute(
        select(EventPhotographer.user_id, Event).join(Event, Event.id == EventPhotographer.event_id)
        .order_by(Event.event_date.desc().nulls_first(), Event.id.desc())
    )
    for user_id, event in rows:
        events.setdefault(user_id, []).append(event)
    return events


def _render_list(form: InvitePhotographerForm, status: int = 200):
    rows = db.session.scalars(
        select(User).where(User.role == Role.PHOTOGRAPHER).options(joinedload(User.profile)).order_by(User.email)
    ).all()
    return render_template(
        "admin/photographers.html", photographers=rows, form=form, events=_events_by_photographer()
    ), status


@bp.get("/photographers")
@role_required(Role.ADMIN)
def photographers():
    """Every photographer with their status, commission rate and events."""
    return _render_list(InvitePhotographerForm())


@bp.post("/photographers/invite")
@role_required(Role.ADMIN)
def invite():
    """Invite a photographer by email: they get a link to set a password."""
    form = InvitePhotographerForm()
    if form.validate_on_submit():
        try:
            user = invite_photographer(
                form.email.data, int(form.commission_percent.data * 100), form.display_name.data, form.phone.data
            )
        except ValueError as exc:
            form.email.errors.append(str(exc))
        else:
            AuditLog.record(current_user, "photographer.invite", user, email=user.email)
            db.session.commit()
            flash(_("Invitation sent to %(email)s.", email=user.email), "success")
            return redirect(url_for("admin.photographers"))
    return _render_list(form, 422)


def set_photographer_active(user: User, active: bool) -> None:
    """Deactivate a photographer (no sign-in, no tokens, no uploads) or bring them back."""
    user.active = active
    profile = user.profile or PhotographerProfile(user=user)
    if not active:
        profile.status = PhotographerStatus.INACTIVE
    else:
        profile.status = PhotographerStatus.ACTIVE if user.password_hash else PhotographerStatus.INVITED


def _row_response(user: User, error: str | None = None):
    """The photographer's table row for htmx, else back to the list."""
    if request.headers.get("HX-Request"):
        events = _events_by_photographer()
        return render_template("admin/_photographer_row.html", user=user, events=events, error=error)
    if error:
        flash(error, "error")
    return redirect(url_for("admin.photographers") + f"#photographer-{user.id}", code=303)


@bp.post("/photographers/<int:user_id>/active")
@role_required(Role.ADMIN)
def set_active(user_id: int):
    """Deactivate or reactivate a photographer."""
    user = _photographer(user_id)
    active = request.form.get("active") == "1"
    if user.active != active:
        set_photographer_active(user, active)
        AuditLog.record(current_user, "photographer.activate" if active else "photographer.deactivate", user)
        db.session.commit()
    return _row_response(user)


@bp.post("/photographers/<int:user_id>/commission")
@role_required(Role.ADMIN)
def set_commission(user_id: int):
    """Set a photographer's commission rate (a percentage of each sale of their photos)."""
    user = _photographer(user_id)
    form = CommissionForm()
    if not form.validate():
        errors = [e for field in form for e in field.errors]
        return _row_response(user, "; ".join(str(e) for e in errors) or _("Enter a percentage."))
    profile = user.profile or PhotographerProfile(user=user)
    old = profile.commission_bps
    profile.commission_bps = int(form.commission_percent.data * 100)
    AuditLog.record(current_user, "photographer.commission", user, old_bps=old, new_bps=profile.commission_bps)
    db.session.commit()
    return _row_response(user)

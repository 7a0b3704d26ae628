"""Admin views."""
from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ..access import role_required
from ..auth.services import invite_photographer
from ..extensions import db
from ..models import AuditLog, Role, User
from . import bp
from .forms import InvitePhotographerForm


@bp.get("/")
@role_required(Role.ADMIN)
def index():
    """The admin home."""
    return render_template("admin/index.html")


@bp.get("/photographers")
@role_required(Role.ADMIN)
def photographers():
    """Every photographer with their status and commission rate."""
    rows = db.session.scalars(select(User).where(User.role == Role.PHOTOGRAPHER).order_by(User.email)).all()
    return render_template("admin/photographers.html", photographers=rows, form=InvitePhotographerForm())


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
    rows = db.session.scalars(select(User).where(User.role == Role.PHOTOGRAPHER).order_by(User.email)).all()
    return render_template("admin/photographers.html", photographers=rows, form=form), 422

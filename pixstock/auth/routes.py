"""Account views: thin handlers over auth.services and the User model."""
from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ..extensions import db, limiter
from ..models import ApiToken, PhotographerStatus, Role, User
from . import bp
from .forms import LoginForm, RegisterForm, ResetRequestForm, SetPasswordForm, TokenForm
from .services import create_user, send_password_reset
from .tokens import load_token


def _safe_next(target: str | None) -> str | None:
    # Only same-site relative paths, so a crafted link cannot bounce a user elsewhere.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def home_for(user) -> str:
    """Where a user lands after signing in."""
    if user.role is Role.ADMIN:
        return url_for("admin.index")
    if user.role is Role.PHOTOGRAPHER:
        return url_for("studio.index")
    return url_for("main.index")


def _after_login(user: User, remember: bool = False) -> None:
    user.record_login()
    db.session.commit()
    login_user(user, remember=remember)
    # Keep the language chosen before signing in, unless the account already has one.
    if not user.locale and session.get("locale"):
        user.locale = session["locale"]
        db.session.commit()


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login():
    """Sign in with email and password; accounts lock for a while after repeated failures."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        user = User.by_email(form.email.data)
        if user is not None and user.is_locked():
            flash(_("Too many failed attempts. Try again in a few minutes or reset your password."), "error")
        elif user is None or not user.check_password(form.password.data):
            if user is not None:
                user.record_failed_login(current_app.config["LOGIN_MAX_FAILURES"], current_app.config["LOGIN_LOCK_MINUTES"])
                db.session.commit()
            flash(_("Wrong email or password."), "error")
        elif not user.active:
            flash(_("This account is deactivated."), "error")
        else:
            _after_login(user, form.remember.data)
            return redirect(_safe_next(request.args.get("next")) or home_for(user))
    return render_template("auth/login.html", form=form), 422 if form.errors else 200


@bp.route("/logout", methods=["POST"])
def logout():
    """Sign out (POST with CSRF, so a link on another site cannot sign you out)."""
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("main.index"))


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def register():
    """Create a customer account."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = RegisterForm()
    if form.validate_on_submit():
        user = create_user(form.email.data, form.password.data, Role.CUSTOMER, locale=session.get("locale"))
        db.session.commit()
        _after_login(user)
        flash(_("Welcome to pixstock!"), "success")
        return redirect(url_for("main.index"))
    return render_template("auth/register.html", form=form), 422 if form.errors else 200


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit("5 per minute", methods=["POST"])
def reset_request():
    """Ask for a password-reset link (the answer never reveals whether the email exists)."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        user = User.by_email(form.email.data)
        if user is not None and user.active and user.password_hash:
            send_password_reset(user)
        flash(_("If an account exists for that email, a reset link is on its way."), "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/reset_request.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Choose a new password from an emailed link that expires and works once."""
    user = load_token(token, "reset", current_app.config["PASSWORD_RESET_HOURS"] * 3600)
    if user is None:
        flash(_("This reset link is invalid or has expired. Ask for a new one."), "error")
        return redirect(url_for("auth.reset_request"))
    form = SetPasswordForm()
    if form.validate_on_submit():
        user.set_password(form.password.data)
        db.session.commit()
        flash(_("Your password is changed. Sign in with it now."), "success")
        return redirect(url_for("auth.login"))
    return render_template("auth/set_password.html", form=form, title=_("Choose a new password"))


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept_invite(token: str):
    """A photographer sets their password from the invitation link."""
    user = load_token(token, "invite", current_app.config["INVITE_DAYS"] * 86400)
    if user is None or user.role is not Role.PHOTOGRAPHER:
        flash(_("This invitation is invalid, expired or already used. Ask the admin for a new one."), "error")
        return redirect(url_for("auth.login"))
    form = SetPasswordForm()
    if form.validate_on_submit():
        user.set_password(form.password.data)
        if user.profile and user.profile.status is PhotographerStatus.INVITED:
            user.profile.status = PhotographerStatus.ACTIVE
        db.session.commit()
        _after_login(user)
        flash(_("Welcome! Your photographer account is ready."), "success")
        return redirect(url_for("studio.index"))
    return render_template("auth/set_password.html", form=form, title=_("Set your password"))


@bp.route("/account", methods=["GET"])
@login_required
def account():
    """The account page: language and personal API tokens."""
    return render_template("auth/account.html", form=TokenForm(), new_token=None)


@bp.route("/account/tokens", methods=["POST"])
@login_required
def create_token():
    """Create a personal API token and show it once."""
    form = TokenForm()
    if not form.validate_on_submit():
        return render_template("auth/account.html", form=form, new_token=None), 422
    _row, plain = ApiToken.issue(current_user, form.name.data)
    db.session.commit()
    return render_template("auth/account.html", form=TokenForm(formdata=None), new_token=plain)


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    """Revoke one of your own tokens."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != current_user.id:
        abort(404)
    token.revoke()
    db.session.commit()
    flash(_("Token revoked."), "info")
    return redirect(url_for("auth.account"))


@bp.route("/language", methods=["POST"])
def set_language():
    """Switch the interface language; remembered on the account, or in the session."""
    locale = request.form.get("locale", "")
    if locale not in current_app.config["LANGUAGES"]:
        abort(400)
    session["locale"] = locale
    if current_user.is_authenticated:
        current_user.locale = locale
        db.session.commit()
    return redirect(_safe_next(request.form.get("next")) or url_for("main.index"))

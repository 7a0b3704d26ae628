"""Account operations used by the views, the API and the CLI."""
from flask import current_app, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import PhotographerProfile, PhotographerStatus, Role, User
from ..tasks.mail import send_email
from .tokens import make_token


def create_user(email: str, password: str | None, role: Role = Role.CUSTOMER, locale: str | None = None) -> User:
    """Add a user with a hashed password (photographers also get a profile)."""
    user = User(email=User.normalize_email(email), role=role, locale=locale)
    if password:
        user.set_password(password)
    if role is Role.PHOTOGRAPHER:
        user.profile = PhotographerProfile(
            status=PhotographerStatus.ACTIVE if password else PhotographerStatus.INVITED
        )
    db.session.add(user)
    return user


def send_password_reset(user: User) -> None:
    """Email user a signed link to choose a new password."""
    link = url_for("auth.reset_password", token=make_token(user, "reset"), _external=True)
    hours = current_app.config["PASSWORD_RESET_HOURS"]
    with_locale = user.locale or "en"
    send_email(user.email, _l("Reset your pixstock password"), "reset_password", with_locale, user=user, link=link, hours=hours)


def invite_photographer(email: str, commission_bps: int, display_name: str = "", phone: str = "") -> User:
    """Create (or re-invite) a photographer account and email them a link to set a password."""
    user = User.by_email(email)
    if user is None:
        user = create_user(email, None, Role.PHOTOGRAPHER)
    elif user.role is not Role.PHOTOGRAPHER:
        raise ValueError(_("%(email)s already has an account that is not a photographer's.", email=user.email))
    profile = user.profile or PhotographerProfile(user=user)
    profile.commission_bps = commission_bps
    profile.display_name = display_name or profile.display_name
    profile.phone = phone or profile.phone
    db.session.flush()
    link = url_for("auth.accept_invite", token=make_token(user, "invite"), _external=True)
    send_email(user.email, _l("You are invited to upload to pixstock"), "invite", user.locale, user=user, link=link,
               days=current_app.config["INVITE_DAYS"])
    return user

"""Accounts: registration, sign-in, lockout, reset by email, invitations, roles, CSRF, language."""
import re

import pytest

from pixstock.extensions import db
from pixstock.models import PhotographerStatus, Role, User
from pixstock.services.mail import read_outbox

from .factories import PASSWORD, make_user


def _outbox(app):
    return read_outbox(app.config["MAIL_OUTBOX_DIR"])


def _link(message) -> str:
    body = message.get_body(("plain",)).get_content()
    return re.search(r"http://localhost(/\S+)", body).group(1)


def test_register_logs_in_and_hashes_password(client):
    response = client.post("/auth/register", data={"email": "Runner@Example.com", "password": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302
    user = User.by_email("runner@example.com")
    assert user.email == "runner@example.com" and user.role is Role.CUSTOMER
    assert user.password_hash.startswith("scrypt:") and PASSWORD not in user.password_hash
    page = client.get("/").get_data(as_text=True)
    assert "Sign out" in page and "Account" in page


@pytest.mark.parametrize(
    "data, message",
    [
        ({"email": "not-an-email", "password": PASSWORD, "password2": PASSWORD}, "Invalid email"),
        ({"email": "a@example.com", "password": "short", "password2": "short"}, "at least 10"),
        ({"email": "a@example.com", "password": PASSWORD, "password2": PASSWORD + "x"}, "passwords differ"),
    ],
)
def test_register_validates(client, data, message):
    response = client.post("/auth/register", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert User.by_email("a@example.com") is None


def test_register_duplicate_email(client):
    make_user(email="taken@example.com")
    response = client.post("/auth/register", data={"email": "TAKEN@example.com", "password": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)


def test_login_and_logout(client, auth):
    user = make_user(Role.PHOTOGRAPHER)
    response = auth.login(user.email)
    assert response.status_code == 302 and response.headers["Location"].endswith("/studio/")
    assert client.get("/studio/").status_code == 200
    assert auth.logout().status_code == 302
    assert client.get("/studio/").status_code == 302


def test_logout_needs_post(client, auth):
    auth.login(make_user().email)
    assert client.get("/auth/logout").status_code == 405


def test_login_wrong_password_and_lockout(app, client, auth):
    user = make_user()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        page = auth.login(user.email, "wrong password!").get_data(as_text=True)
        assert "Wrong email or password" in page
    db.session.refresh(user)
    assert user.is_locked()
    # Even the right password is refused while locked.
    page = auth.login(user.email).get_data(as_text=True)
    assert "Too many failed attempts" in page
    assert client.get("/auth/account").status_code == 302


def test_login_rate_limited_per_client(client):
    for _ in range(20):
        client.post("/auth/login", data={"email": "nobody@example.com", "password": "x"})
    assert client.post("/auth/login", data={"email": "nobody@example.com", "password": "x"}).status_code == 429


def test_login_refuses_deactivated_account(client, auth):
    user = make_user(active=False)
    assert "deactivated" in auth.login(user.email).get_data(as_text=True)


def test_login_ignores_offsite_next(client, auth):
    user = make_user()
    response = client.post("/auth/login?next=//evil.example.com/", data={"email": user.email, "password": PASSWORD})
    assert "evil" not in response.headers["Location"]


def test_password_reset_by_emailed_link(app, client, drain):
    user = make_user(email="forgot@example.com")
    client.post("/auth/reset", data={"email": "forgot@example.com"})
    client.post("/auth/reset", data={"email": "nobody@example.com"})  # same answer, no mail
    drain()
    messages = _outbox(app)
    assert len(messages) == 1 and messages[0]["To"] == "forgot@example.com"
    link = _link(messages[0])
    new_password = "a brand new password"
    response = client.post(link, data={"password": new_password, "password2": new_password})
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.check_password(new_password)
    # The link works once: the password changed, so the token's fingerprint no longer matches.
    again = client.post(link, data={"password": "another password 1", "password2": "another password 1"})
    assert again.status_code == 302 and "/auth/reset" in again.headers["Location"]
    db.session.refresh(user)
    assert user.check_password(new_password)


def test_password_reset_link_expires(app, client, drain, monkeypatch):
    make_user(email="late@example.com")
    client.post("/auth/reset", data={"email": "late@example.com"})
    drain()
    link = _link(_outbox(app)[0])
    app.config["PASSWORD_RESET_HOURS"] = 0
    import time

    time.sleep(1.1)
    response = client.get(link)
    assert response.status_code == 302 and "/auth/reset" in response.headers["Location"]


def test_tampered_reset_link_refused(client):
    make_user()
    response = client.get("/auth/reset/not-a-real-token")
    assert response.status_code == 302


def test_admin_invites_photographer_who_sets_password(app, client, auth, drain):
    admin = make_user(Role.ADMIN)
    auth.login(admin.email)
    response = client.post(
        "/admin/photographers/invite",
        data={"email": "shooter@example.com", "display_name": "Somchai", "phone": "+66 81 234 5678", "commission_percent": "62.5"},
    )
    assert response.status_code == 302
    invited = User.by_email("shooter@example.com")
    assert invited.role is Role.PHOTOGRAPHER and invited.password_hash is None
    assert invited.profile.commission_bps == 6250 and invited.profile.status is PhotographerStatus.INVITED
    auth.logout()
    drain()
    link = _link(_outbox(app)[-1])
    response = client.post(link, data={"password": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith("/studio/")
    db.session.refresh(invited)
    assert invited.check_password(PASSWORD) and invited.profile.status is PhotographerStatus.ACTIVE


def test_invite_refuses_existing_customer(client, auth):
    auth.login(make_user(Role.ADMIN).email)
    customer = make_user(Role.CUSTOMER)
    response = client.post("/admin/photographers/invite", data={"email": customer.email, "commission_percent": "50"})
    assert response.status_code == 422
    assert "not a photographer" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/auth/account", "/admin/", "/admin/photographers", "/studio/"])
def test_login_required(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


@pytest.mark.parametrize(
    "role, path, status",
    [
        (Role.CUSTOMER, "/admin/", 403),
        (Role.CUSTOMER, "/studio/", 403),
        (Role.PHOTOGRAPHER, "/admin/photographers", 403),
        (Role.PHOTOGRAPHER, "/studio/", 200),
        (Role.ADMIN, "/admin/photographers", 200),
        (Role.ADMIN, "/studio/", 200),
    ],
)
def test_roles(client, auth, role, path, status):
    auth.login(make_user(role).email)
    assert client.get(path).status_code == status


def test_csrf_missing_is_rejected(client):
    user = make_user()
    response = client.post("/auth/login", data={"email": user.email, "password": PASSWORD}, csrf=False)
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)


def test_csrf_missing_on_htmx_request_gets_fragment(client):
    response = client.post("/auth/language", data={"locale": "th"}, headers={"HX-Request": "true"}, csrf=False)
    assert response.status_code == 400
    assert "<html" not in response.get_data(as_text=True)


def test_language_switch_remembered_in_session_and_account(client, auth):
    client.post("/auth/language", data={"locale": "th", "next": "/"})
    assert 'lang="th"' in client.get("/").get_data(as_text=True)
    user = make_user()
    auth.login(user.email)
    db.session.refresh(user)
    assert user.locale == "th"
    client.post("/auth/language", data={"locale": "en"})
    db.session.refresh(user)
    assert user.locale == "en"


def test_language_switch_rejects_unknown_locale(client):
    assert client.post("/auth/language", data={"locale": "xx"}).status_code == 400


def test_session_cookie_flags(app, client):
    user = make_user()
    response = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_error_pages(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404 and "<html" in page.get_data(as_text=True)
    fragment = client.get("/no-such-page", headers={"HX-Request": "true"})
    assert fragment.status_code == 404 and "<html" not in fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers.get("Vary", "")


def test_unexpected_error_is_a_500_page(app, client):
    @app.get("/boom-test")
    def boom():
        raise RuntimeError("boom")

    response = client.get("/boom-test")
    assert response.status_code == 500 and "Something went wrong" in response.get_data(as_text=True)

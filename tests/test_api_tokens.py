"""The JSON API's foundation: tokens, /me, JSON errors, the OpenAPI document."""
import pytest

from pixstock.extensions import db
from pixstock.models import ApiToken, Role

from .factories import PASSWORD, make_user


def _token(client, email, password=PASSWORD):
    return client.post("/api/v1/tokens", json={"email": email, "password": password})


def test_token_flow(client):
    user = make_user(Role.PHOTOGRAPHER)
    response = _token(client, user.email.upper())
    assert response.status_code == 201
    token = response.get_json()["token"]
    assert token.startswith("pxs_")
    # Stored hashed only.
    row = db.session.get(ApiToken, response.get_json()["token_id"])
    assert row.token_hash != token and token not in row.token_hash
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.get_json()["email"] == user.email and me.get_json()["role"] == "photographer"


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"email": "x@example.com", "password": "nope nope nope"}, 401, "invalid_credentials"),
        ({"email": "x@example.com"}, 422, "invalid_request"),
        ({"email": 5, "password": []}, 422, "invalid_request"),
    ],
)
def test_token_errors(client, body, status, code):
    response = client.post("/api/v1/tokens", json=body)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_token_needs_json(client):
    response = client.post("/api/v1/tokens", data="email=a", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"


def test_token_wrong_password_counts_towards_lockout(app, client):
    user = make_user()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert _token(client, user.email, "wrong password").status_code == 401
    assert _token(client, user.email).status_code == 429


def test_me_without_token(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "authentication_required"


@pytest.mark.parametrize("header", ["Bearer pxs_not-a-real-token", "Bearer ", "Basic abc", "Token pxs_x"])
def test_me_with_bad_token(client, header):
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401 and response.is_json


def test_revoked_token_stops_working(client, auth):
    user = make_user()
    _row, plain = ApiToken.issue(user, "phone")
    db.session.commit()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 200
    # Revoke through the account page, as the owner would.
    auth.login(user.email)
    page = client.get("/auth/account").get_data(as_text=True)
    assert "phone" in page and plain not in page
    assert client.post(f"/auth/account/tokens/{_row.id}/revoke").status_code == 302
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 401


def test_token_of_deactivated_user_refused(client):
    user = make_user()
    _row, plain = ApiToken.issue(user)
    user.active = False
    db.session.commit()
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"}).status_code == 401


def test_cannot_revoke_someone_elses_token(client, auth):
    owner = make_user()
    row, _plain = ApiToken.issue(owner)
    db.session.commit()
    auth.login(make_user().email)
    assert client.post(f"/auth/account/tokens/{row.id}/revoke").status_code == 404
    db.session.refresh(row)
    assert row.revoked_at is None


def test_account_page_creates_token_shown_once(client, auth):
    user = make_user()
    auth.login(user.email)
    page = client.post("/auth/account/tokens", data={"name": "camera"}).get_data(as_text=True)
    assert "will not be shown again" in page
    plain = page.split('<code class="token">')[1].split("<")[0]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {plain}"}).get_json()["id"] == user.id
    assert plain not in client.get("/auth/account").get_data(as_text=True)


def test_session_cookie_does_not_authenticate_the_api(client, auth):
    auth.login(make_user().email)
    assert client.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize("method, path, status", [("GET", "/api/v1/nothing-here", 404), ("DELETE", "/api/v1/me", 405)])
def test_api_errors_are_json(client, method, path, status):
    response = client.open(path, method=method, headers={"Authorization": "Bearer " + "x"} if False else {})
    assert response.status_code == status
    assert response.is_json and set(response.get_json()["error"]) >= {"code", "message"}


def test_api_500_is_json(app, client):
    from pixstock.api import bp  # noqa: F401

    @app.get("/api/v1/boom-test")
    def boom():
        raise RuntimeError("boom")

    response = client.get("/api/v1/boom-test")
    assert response.status_code == 500 and response.get_json()["error"]["code"] == "internal_error"


def test_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "post" in spec["paths"]["/tokens"] and "get" in spec["paths"]["/me"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    from openapi_spec_validator import validate

    validate(spec)

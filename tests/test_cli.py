"""The pixstock CLI: users, tokens, demo."""
from sqlalchemy import select

from pixstock.extensions import db
from pixstock.models import ApiToken, Event, EventStatus, Role, User


def test_create_user(runner):
    result = runner.invoke(args=["pixstock", "create-user", "--role", "admin", "--email", "Boss@Example.com", "--password", "long enough pw"])
    assert result.exit_code == 0, result.output
    user = User.by_email("boss@example.com")
    assert user.role is Role.ADMIN and user.check_password("long enough pw")


def test_create_user_refuses_duplicates_and_short_passwords(runner):
    runner.invoke(args=["pixstock", "create-user", "--role", "customer", "--email", "a@example.com", "--password", "long enough pw"])
    again = runner.invoke(args=["pixstock", "create-user", "--role", "customer", "--email", "a@example.com", "--password", "long enough pw"])
    assert again.exit_code != 0 and "already" in again.output
    short = runner.invoke(args=["pixstock", "create-user", "--role", "customer", "--email", "b@example.com", "--password", "short"])
    assert short.exit_code != 0


def test_create_token_prints_a_working_token(runner, client):
    runner.invoke(args=["pixstock", "create-user", "--role", "photographer", "--email", "p@example.com", "--password", "long enough pw"])
    result = runner.invoke(args=["pixstock", "create-token", "--email", "p@example.com"])
    token = result.output.strip()
    assert result.exit_code == 0 and token.startswith(ApiToken.PREFIX)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).get_json()["email"] == "p@example.com"


def test_demo_seeds_accounts_and_an_event(app, runner, client, auth):
    result = runner.invoke(args=["pixstock", "demo", "--photos", "0"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[-1] for line in result.output.splitlines() if "password:" in line}
    assert set(lines) == {"admin", "photographer", "customer"}
    assert auth.login("admin@pixstock.example.com", lines["admin"]).headers["Location"].endswith("/admin/")
    event = db.session.scalar(select(Event))
    assert event.status is EventStatus.ON_SALE and event.price_single > 0 and event.bundles
    # --if-empty leaves an existing database alone.
    again = runner.invoke(args=["pixstock", "demo", "--if-empty", "--photos", "0"])
    assert again.exit_code == 0
    assert db.session.scalar(select(User).where(User.email == "admin@pixstock.example.com")).check_password(lines["admin"])

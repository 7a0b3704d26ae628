"""Configuration: embedded defaults, separate data dirs, production refusals."""
import pytest

from pixstock import create_app
from pixstock.config import ConfigError, finalize, load_config


def test_defaults_need_nothing_installed(tmp_path):
    config = load_config({"PIXSTOCK_DATA_DIR": str(tmp_path)})
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'pixstock.db'}"
    assert config["REDIS_URL"] is None
    assert config["STORAGE_BACKEND"] == "local"
    assert config["STORAGE_DIR"] == str(tmp_path / "media")
    assert config["MAIL_OUTBOX_DIR"] == str(tmp_path / "outbox")
    assert config["STRIPE_SECRET_KEY"] is None


def test_secret_key_generated_once_per_data_dir(tmp_path):
    first = finalize(load_config({"PIXSTOCK_DATA_DIR": str(tmp_path / "a")}))["SECRET_KEY"]
    again = finalize(load_config({"PIXSTOCK_DATA_DIR": str(tmp_path / "a")}))["SECRET_KEY"]
    other = finalize(load_config({"PIXSTOCK_DATA_DIR": str(tmp_path / "b")}))["SECRET_KEY"]
    assert first == again and len(first) >= 40
    assert other != first
    assert (tmp_path / "a" / "secret_key").stat().st_mode & 0o077 == 0


def test_two_data_dirs_do_not_share_data(tmp_path, monkeypatch):
    """Two copies of the app with different data dirs keep separate databases, media and outboxes."""
    from flask_migrate import upgrade

    from pixstock.extensions import db
    from pixstock.models import User

    apps = []
    for name in ("one", "two"):
        monkeypatch.setenv("PIXSTOCK_DATA_DIR", str(tmp_path / name))
        monkeypatch.delenv("DATABASE_URL", raising=False)
        app = create_app({"TESTING": True})
        with app.app_context():
            upgrade()
        apps.append(app)
    with apps[0].app_context():
        db.session.add(User(email="only-in-one@example.com"))
        db.session.commit()
    with apps[1].app_context():
        assert User.by_email("only-in-one@example.com") is None
        db.engine.dispose()
    with apps[0].app_context():
        assert User.by_email("only-in-one@example.com") is not None
        db.engine.dispose()
    assert apps[0].config["SECRET_KEY"] != apps[1].config["SECRET_KEY"]


def test_postgres_url_forms_are_normalised():
    config = load_config({"DATABASE_URL": "postgres://u@h/db"})
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


SAFE_PRODUCTION = {
    "PIXSTOCK_ENV": "production",
    "SECRET_KEY": "x" * 50,
    "DATABASE_URL": "postgresql+psycopg://u@db/pixstock",
    "REDIS_URL": "redis://cache:6379/0",
    "STRIPE_SECRET_KEY": "sk_live_x",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "MAIL_SERVER": "smtp.example.com",
}


@pytest.mark.parametrize(
    "missing, message",
    [
        ("SECRET_KEY", "SECRET_KEY is not set"),
        ("DATABASE_URL", "SQLite"),
        ("REDIS_URL", "REDIS_URL is not set"),
        ("STRIPE_SECRET_KEY", "test payment provider"),
        ("STRIPE_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET is not set"),
        ("MAIL_SERVER", "MAIL_SERVER is not set"),
    ],
)
def test_production_refuses_unsafe_defaults(tmp_path, missing, message):
    env = dict(SAFE_PRODUCTION, PIXSTOCK_DATA_DIR=str(tmp_path))
    del env[missing]
    with pytest.raises(ConfigError, match=message):
        finalize(load_config(env))


def test_production_accepts_a_complete_configuration(tmp_path):
    config = finalize(load_config(dict(SAFE_PRODUCTION, PIXSTOCK_DATA_DIR=str(tmp_path))))
    assert config["SESSION_COOKIE_SECURE"] is True
    assert not (tmp_path / "secret_key").exists()


def test_create_app_refuses_in_production(monkeypatch, tmp_path):
    monkeypatch.setenv("PIXSTOCK_ENV", "production")
    monkeypatch.setenv("PIXSTOCK_DATA_DIR", str(tmp_path))
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "STRIPE_SECRET_KEY", "MAIL_SERVER"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as info:
        create_app()
    text = str(info.value)
    for expected in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "STRIPE_SECRET_KEY", "MAIL_SERVER"):
        assert expected in text


def test_proxy_count_trusts_forwarded_client_address(make_app):
    from flask import request

    for count, expected in ((0, "127.0.0.1"), (1, "203.0.113.9")):
        app = make_app(PROXY_COUNT=count)
        app.add_url_rule("/whoami-test", "whoami_test", lambda: request.remote_addr)
        response = app.test_client().get("/whoami-test", headers={"X-Forwarded-For": "203.0.113.9"})
        assert response.get_data(as_text=True) == expected

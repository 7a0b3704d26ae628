"""Fixtures in the flaskr style, on the real services.

Each test session gets its own PostgreSQL database, built by the migrations; each test gets a
fresh app (its own data dir, storage, outbox and in-process queues) and leaves the database
empty again (TRUNCATE ... RESTART IDENTITY), so tests are isolated even when they run the app
in a thread (browser tests) or jobs in another process (RQ workers).
"""
import contextvars
import os
import re
import threading
import uuid

import psycopg
import pytest
import redis as redis_lib
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import text
from werkzeug.serving import make_server

from pixstock import create_app
from pixstock.extensions import db, limiter

from . import factories

BASE_PG = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEST_REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
SHARED_FACES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "faces"))
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Pub/sub is server-wide: each test process publishes Socket.IO events on its own channel (see config).
SOCKETIO_CHANNEL = f"pixstock-test-{uuid.uuid4().hex[:8]}"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]


def _admin_connection():
    try:
        return psycopg.connect(BASE_PG, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # never skip: the suite must run on PostgreSQL
        pytest.exit(f"PostgreSQL is not reachable at {BASE_PG}: {exc}. Start it (see README) and re-run.", 3)


@pytest.fixture(scope="session")
def database_url():
    """A PostgreSQL database of our own for this test session (and xdist worker), migrated from empty."""
    name = f"pixstock_test_{uuid.uuid4().hex[:10]}"
    with _admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = BASE_PG.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + "/" + name
    app = create_app(_test_config(url, "/tmp/pixstock-migrate-" + name))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    yield url
    with _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _test_config(database_url: str, data_dir: str, **extra) -> dict:
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "DATA_DIR": data_dir,
        "STORAGE_DIR": os.path.join(data_dir, "media"),
        "UPLOAD_DIR": os.path.join(data_dir, "uploads"),
        "MAIL_OUTBOX_DIR": os.path.join(data_dir, "outbox"),
        "SECRET_KEY": "test-" + uuid.uuid4().hex,
        "REDIS_URL": None,
        "SOCKETIO_CHANNEL": SOCKETIO_CHANNEL,
        "RATELIMIT_STORAGE_URI": "memory://",
        # Tracked views reach the Redis buffer at once, so a test can read them after its request.
        "TRACK_PUSH_SECONDS": 0,
        # Tests drain the in-process queues themselves, so they stay deterministic.
        "JOBS_WORKER_THREAD": False,
        "SERVER_NAME": None,
    }
    config.update(extra)
    return config


class CSRFClient(FlaskClient):
    """A test client that adds the CSRF token to form posts, as a browser would; csrf=False omits it.

    Each request runs in its own app context (as in production), not the one the `app` fixture
    pushed for the test's own queries: so `g`, the cached locale and user, and the database session
    start fresh every request. Objects a test holds are in the test's session: refresh them after
    a request changes them (`db.session.refresh(obj)`).
    """

    _token_re = re.compile(r'"X-CSRFToken": "([^"]+)"')

    def csrf_token(self) -> str:
        """Fetch a page and read the token from its hx-headers."""
        page = self.get("/auth/login" if not self._logged_in() else "/auth/account")
        match = self._token_re.search(page.get_data(as_text=True))
        assert match, "no CSRF token on the page"
        return match.group(1)

    def _logged_in(self) -> bool:
        with self.session_transaction() as sess:
            return "_user_id" in sess

    def open(self, *args, csrf: bool = True, **kwargs):
        method = (kwargs.get("method") or "GET").upper()
        if csrf and method in {"POST", "PUT", "PATCH", "DELETE"} and "json" not in kwargs:
            headers = dict(kwargs.pop("headers", None) or {})
            if "X-CSRFToken" not in headers and "Authorization" not in headers:
                data = kwargs.get("data")
                if not (isinstance(data, dict) and "csrf_token" in data):
                    headers["X-CSRFToken"] = self.csrf_token()
            kwargs["headers"] = headers
        return contextvars.copy_context().run(self._open_in_fresh_context, *args, **kwargs)

    def _open_in_fresh_context(self, *args, **kwargs):
        _cv_app.set(None)  # only inside this copied context: the request pushes its own app context
        return super().open(*args, **kwargs)


def _truncate_all():
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    db.session.remove()
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def make_app(database_url, tmp_path_factory):
    """Build extra apps on the test database (e.g. with REDIS_URL or S3 settings)."""
    apps = []

    def _make(**extra):
        data_dir = str(tmp_path_factory.mktemp("data"))
        app = create_app(_test_config(database_url, data_dir, **extra))
        app.test_client_class = CSRFClient
        apps.append(app)
        return app

    yield _make
    for app in apps:
        with app.app_context():
            _truncate_all()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    """The application under test, with an app context pushed for the test's own queries."""
    application = make_app()
    limiter.reset()
    with application.app_context():
        yield application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    def __init__(self, client):
        self._client = client

    def login(self, email: str, password: str = factories.PASSWORD):
        """Sign in through the real login form."""
        return self._client.post("/auth/login", data={"email": email, "password": password})

    def logout(self):
        return self._client.post("/auth/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def drain(app):
    """Run every queued job now (in-process RQ over fakeredis)."""
    return app.extensions["pixstock_jobs"].drain


@pytest.fixture
def redis_url():
    """A real Redis database of our own (flushed before and after); the suite fails if Redis is down."""
    client = redis_lib.Redis.from_url(TEST_REDIS + "/0")
    try:
        client.ping()
    except redis_lib.ConnectionError as exc:
        pytest.exit(f"Redis is not reachable at {TEST_REDIS}: {exc}. Start it (see README) and re-run.", 3)
    # One database per xdist worker so parallel workers never flush each other's queues.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = 1 + (int(worker[2:]) if worker[2:].isdigit() else 0) % 15
    url = f"{TEST_REDIS}/{index}"
    conn = redis_lib.Redis.from_url(url)
    conn.flushdb()
    yield url
    conn.flushdb()


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server on a free port of 127.0.0.1: a real HTTP S3 API (tests use a fresh bucket each)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def shared_faces():
    """The labelled face photos in ../shared/faces (never copied into the repo)."""
    if not os.path.isdir(SHARED_FACES):
        pytest.skip(f"the labelled face photos are not at {SHARED_FACES}; they are not part of the repository")
    return SHARED_FACES


# --- Browser tests (Playwright + Debian's Chromium) ---------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Drive Debian's Chromium: Playwright cannot download its own browser here."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_server(make_app):
    """The app served over HTTP in a thread, with the in-process job worker running."""
    application = make_app(JOBS_WORKER_THREAD=True)
    server = LiveServer(application).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """Context options without base_url: `context` below points it at the test's live server."""
    return {k: v for k, v in browser_context_args.items() if k != "base_url"}


@pytest.fixture
def context(new_context, request):
    """A browser context whose relative URLs go to the live server when the test uses one."""
    if "live_server" in request.fixturenames:
        return new_context(base_url=request.getfixturevalue("live_server").url)
    return new_context()

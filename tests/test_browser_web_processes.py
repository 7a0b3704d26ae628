"""The Procfile's web line as production runs it: several gunicorn processes on one port, Redis as Socket.IO's
message queue, and pages on WebSocket-only Socket.IO. Every page hears what any process announces, whichever
process its socket landed on (long-polling would lose requests to the other process: no sticky sessions)."""
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from playwright.sync_api import expect

from pixstock.tasks.progress import approval_count

from .factories import PASSWORD, make_event, make_photos, make_user

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[1]


def _procfile_web() -> str:
    return re.search(r"^web:\s*(.+)$", (ROOT / "Procfile").read_text(), re.MULTILINE).group(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def web_processes(make_app, database_url, redis_url, tmp_path):
    """The Procfile's web command (default process count) on a free port; yields (url, gunicorn's pid)."""
    app = make_app(REDIS_URL=redis_url)
    port = _free_port()
    env = {
        **os.environ, "PORT": str(port), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "PIXSTOCK_DATA_DIR": str(tmp_path), "SECRET_KEY": "web-processes-test",
        "SOCKETIO_CHANNEL": app.config["SOCKETIO_CHANNEL"], "RATELIMIT_ENABLED": "0",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("WEB_CONCURRENCY", None)
    server = subprocess.Popen(["bash", "-c", "exec " + _procfile_web()], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if urllib.request.urlopen(url + "/healthz", timeout=2).status == 200:
                    break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.3)
        yield app, url, server.pid
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()


def test_pages_on_every_web_process_hear_live_events(web_processes, new_context):
    app, url, pid = web_processes
    workers = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(workers) >= 2, "the Procfile's web line should run several processes"
    with app.app_context():
        make_user("admin", email="boss@example.com")
        ann = make_user("photographer")
        event = make_event("on_sale", photographers=[ann])
        make_photos(event, ann, 1, approval="pending", processed_at=datetime.now(timezone.utc) - timedelta(minutes=5))

    context = new_context(base_url=url)
    first = context.new_page()
    first.goto("/auth/login")
    first.get_by_label("Email").fill("boss@example.com")
    first.get_by_label("Password").fill(PASSWORD)
    first.get_by_role("button", name="Sign in").click()
    first.wait_for_url(re.compile(r".*/(admin/?|)$"))
    # Several pages, several sockets: spread over the processes as the kernel hands out connections.
    pages = [first] + [context.new_page() for _ in range(3)]
    for page in pages:
        page.goto("/admin/queue")
        # The server's reply to joining the admins' room sets the badge.
        page.wait_for_function("window.io && document.getElementById('pending-count').textContent.trim() === '1'")
    transports = [page.evaluate("performance.getEntriesByType('resource').filter(e => e.name.includes('/socket.io/'))"
                                ".map(e => e.name).join(' ')") for page in pages]
    assert not any("transport=polling" in t for t in transports), transports

    # A job in another process (here: the test's) finds a new photo waiting and announces it through Redis.
    with app.app_context():
        from pixstock.extensions import db

        event, ann = db.session.merge(event), db.session.merge(ann)
        make_photos(event, ann, 1, approval="pending", processed_at=datetime.now(timezone.utc))
        approval_count()
    for page in pages:
        expect(page.locator("#pending-count")).to_have_text("2", timeout=10_000)
        expect(page.locator("#queue-cards .queue-card")).to_have_count(2, timeout=10_000)

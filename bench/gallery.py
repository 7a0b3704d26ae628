"""Gallery speed: one event with 50,000 approved photos, 20 concurrent clients, the server as the Procfile runs it.

    .venv/bin/python bench/gallery.py [--photos 50000] [--clients 20] [--seconds 10] [--workers N]

Creates a throwaway PostgreSQL database (dropped at the end; TEST_DATABASE_URL or postgres@127.0.0.1/test
names the server), builds the schema with the migrations, seeds the photo rows in one INSERT ... SELECT
(no image files: the HTML page needs none), and starts the Procfile's `web:` command (gunicorn, gthread,
WEB_CONCURRENCY processes, default 2) with REDIS_URL set, as in production, on an empty Redis database
(--redis, flushed at the end). It then measures with wrk, one after the other and for the same time each:

- the event's first gallery page (the whole HTML page a phone opens from the QR code), as a crowd of new
  visitors gets it: no cookie, so each response carries a new session and CSRF token, and each visit is
  tracked; the page itself comes from the gallery's shared cache (pixstock/gallery/cache.py),
- the same page with every request a cache miss (a query argument the gallery ignores makes each URL
  unique), so the three queries and the rendering of 48 cards are paid every time,
- a gallery page deep in the event (page ~800, the htmx fragment: keyset pagination costs the same anywhere),
- the first page's exact HTML saved to a file and served by the same server (send_from_directory, as
  Flask's static route does): the ceiling for this server, client and machine.

wrk (Debian's package; `make bench` installs it) keeps 20 connections alive from its own process and shares
the machine's cores with the server, as on the 2-core VM the figures in bench/README.md come from. Figures,
never pass/fail. Last line: `gallery_rps=X static_rps=Y p99_ms=Z` (Z is the first gallery page's p99).
"""
import argparse
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE_PG = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
STATIC_PATH = "/bench/gallery-static.html"


def make_app():
    """The app as wsgi.py builds it for the Procfile, plus one route serving the saved gallery HTML as a static
    file (gunicorn's factory)."""
    from flask import send_from_directory

    from wsgi import app
    directory = os.environ["BENCH_STATIC_DIR"]
    app.add_url_rule(STATIC_PATH, "bench_static", lambda: send_from_directory(directory, "gallery.html"))
    return app


def seed(database_url: str, photos: int) -> tuple[str, str]:
    """Migrate the empty database and add one on-sale event with `photos` approved photos; return (slug, deep cursor)."""
    from datetime import date, timedelta

    from flask_migrate import upgrade
    from sqlalchemy import text

    from pixstock import create_app
    from pixstock.catalog import Cursor
    from pixstock.extensions import db
    from pixstock.models import BundleTier, Event, EventPhotographer, EventStatus, Photo, Role, User

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "DATA_DIR": tempfile.mkdtemp(),
                      "SECRET_KEY": "bench", "JOBS_WORKER_THREAD": False})
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        photographers = [User(email=f"photographer{n}@bench.local", role=Role.PHOTOGRAPHER) for n in range(6)]
        db.session.add_all(photographers)
        event = Event(
            name="Bangkok City Marathon (bench)", slug="bench-marathon", event_date=date.today(),
            location="Lumphini Park", status=EventStatus.ON_SALE, sales_enabled=True,
            expiry_date=date.today() + timedelta(days=30), watermark_text="pixstock", price_single=12000,
            price_all_of_me=59000, bundles=[BundleTier(photo_count=5, price=45000), BundleTier(photo_count=10, price=79000)],
        )
        db.session.add(event)
        db.session.flush()
        db.session.add_all(EventPhotographer(event_id=event.id, user_id=p.id) for p in photographers)
        db.session.commit()
        started = time.perf_counter()
        # Six photographers, photos a fraction of a second apart from 06:00 local, bursts sharing a timestamp.
        db.session.execute(text("""
            INSERT INTO photos (event_id, photographer_id, original_filename, filename, file_path, file_size,
                width, height, uploaded_at, approval_status, face_status, metadata_json, sha256, content_type,
                derivative_keys, sort_at, taken_at, processing_status, processing_attempts, face_count, processed_at)
            SELECT :event, :first_user + (g % 6), 'IMG_' || g || '.jpg', 'IMG_' || g || '.jpg',
                'events/' || :event || '/photos/' || g || '/original.jpg', 9000000, 6000, 4000, now(),
                'approved', 'done', '{}', md5(g::text), 'image/jpeg',
                json_build_object('square_150', 'k/' || g || '/s150.jpg', 'square_300', 'k/' || g || '/s300.jpg',
                                  'medium', 'k/' || g || '/m.jpg', 'preview', 'k/' || g || '/p.jpg'),
                CAST(:start AS timestamptz) + ((g / 3) * interval '400 milliseconds'),
                CAST(:start AS timestamptz) + ((g / 3) * interval '400 milliseconds'),
                'ready', 1, 0, now()
            FROM generate_series(1, :n) AS g
        """), {"event": event.id, "first_user": photographers[0].id, "n": photos,
               "start": f"{date.today().isoformat()} 06:00:00+07"})
        db.session.commit()
        db.session.execute(text("ANALYZE photos"))
        db.session.commit()
        print(f"seeded {photos:,} approved photos in {time.perf_counter() - started:.1f} s")
        deep = db.session.scalars(
            db.select(Photo).where(Photo.event_id == event.id).order_by(Photo.sort_at, Photo.id)
            .offset(int(photos * 0.8)).limit(1)  # once, to find a deep cursor; the app never uses OFFSET
        ).one()
        slug, cursor = event.slug, Cursor.after(deep).encode()
        db.engine.dispose()
    return slug, cursor


WRK_SCRIPT = """
counter = 0
unique = os.getenv("BENCH_UNIQUE") == "1"
request = function()
  if unique then
    counter = counter + 1
    return wrk.format(nil, wrk.path .. "?bench=" .. counter .. "-" .. math.random(1e9))
  end
  return wrk.format(nil, wrk.path)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %.3f %.3f %.3f %.3f\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout + e.status, latency:percentile(50) / 1000,
    latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
"""


def load(url: str, clients: int, seconds: float, headers: dict | None = None, unique: bool = False) -> dict:
    """wrk with `clients` kept-alive connections requesting url back to back; rps, p50 and p99 (ms), errors.

    unique: a query argument the server ignores makes every URL new (no cache can answer it).
    """
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    command = ["wrk", "-t2", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout", "30s", "-s", script.name]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    env = {**os.environ, "BENCH_UNIQUE": "1" if unique else "0"}
    try:
        output = subprocess.run(command + [url], capture_output=True, text=True, env=env, check=True).stdout
    finally:
        os.unlink(script.name)
    requests, duration_us, errors, p50, p90, p99, worst = output.rsplit("BENCH ", 1)[1].split()
    if int(requests) == 0:
        raise SystemExit(f"no successful request to {url}:\n{output}")
    return {"rps": int(requests) / (int(duration_us) / 1e6), "p50_ms": float(p50), "p90_ms": float(p90),
            "p99_ms": float(p99), "max_ms": float(worst), "requests": int(requests), "errors": int(errors)}


def procfile_web(workers: int | None, threads: int | None) -> str:
    """The Procfile's web command serving this bench's app, with the process and thread counts given."""
    command = re.search(r"^web:\s*(.+)$", (ROOT / "Procfile").read_text(), re.MULTILINE).group(1)
    command = command.replace("wsgi:app", "'bench.gallery:make_app()'")
    if threads:
        command = re.sub(r"--threads \S+", f"--threads {threads}", command)
    if workers:
        command = re.sub(r"--workers \S+", f"--workers {workers}", command)
    return command


def wait_for(url: str, timeout: float = 30) -> None:
    parts = urlsplit(url)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, help="web processes (default: the Procfile's)")
    parser.add_argument("--threads", type=int, help="threads per web process (default: the Procfile's)")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
                        help="an empty Redis database for the server (flushed at the end)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench/gallery.py needs wrk: apt-get install wrk (`make bench` does)")

    import psycopg
    import redis

    store = redis.Redis.from_url(args.redis)
    if store.dbsize():
        raise SystemExit(f"{args.redis} is not empty: give --redis (or BENCH_REDIS_URL) an empty database")
    name = f"pixstock_bench_{uuid.uuid4().hex[:10]}"
    admin_url = BASE_PG
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database_url = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + "/" + name
    work = Path(tempfile.mkdtemp(prefix="pixstock-bench-"))
    server = None
    try:
        slug, deep_cursor = seed(database_url, args.photos)
        port = args.port or _free_port()
        env = {
            **os.environ, "DATABASE_URL": database_url, "PIXSTOCK_DATA_DIR": str(work), "SECRET_KEY": "bench-" + name,
            "BENCH_STATIC_DIR": str(work), "PYTHONPATH": str(ROOT), "RATELIMIT_ENABLED": "0", "PORT": str(port),
            "REDIS_URL": args.redis, "SOCKETIO_CHANNEL": "pixstock-bench-" + name,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        command = procfile_web(args.workers, args.threads)
        server = subprocess.Popen(["bash", "-c", "exec " + command.replace("0.0.0.0", "127.0.0.1")], cwd=ROOT, env=env)
        base = f"http://127.0.0.1:{port}"
        wait_for(base)
        connection = http.client.HTTPConnection("127.0.0.1", port)
        connection.request("GET", f"/e/{slug}")
        page = connection.getresponse().read()
        (work / "gallery.html").write_bytes(page)
        cards = page.count(b'class="photo-card"')
        workers = len(Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split())
        print(f"server: {command}")
        print(f"  ({workers} processes); load: wrk, {args.clients} connections; {os.cpu_count()} cores; "
              f"{args.seconds:g} s per run")
        print(f"gallery page: {len(page):,} bytes, {cards} photos")

        runs = {}
        for label, path, headers, unique in [
            ("warm-up", f"/e/{slug}", None, False),
            ("gallery first page", f"/e/{slug}", None, False),
            ("gallery first page, never cached", f"/e/{slug}", None, True),
            ("gallery page ~800 (htmx fragment)", f"/e/{slug}?after={deep_cursor}", {"HX-Request": "true"}, False),
            ("same HTML as a static file", STATIC_PATH, None, False),
        ]:
            seconds = 3 if label == "warm-up" else args.seconds
            time.sleep(2)  # the previous run's last requests finish before this one starts
            result = load(base + path, args.clients, seconds, headers, unique)
            runs[label] = result
            if label != "warm-up":
                print(f"{label:34} {result['rps']:7.1f} req/s   p50 {result['p50_ms']:6.1f}   "
                      f"p90 {result['p90_ms']:6.1f}   p99 {result['p99_ms']:6.1f}   max {result['max_ms']:6.1f} ms   "
                      f"{result['requests']:6d} requests, {result['errors']} errors")
        gallery, static = runs["gallery first page"], runs["same HTML as a static file"]
        print(f"gallery / static = {gallery['rps'] / static['rps']:.2f}")
        print(f"gallery_rps={gallery['rps']:.0f} static_rps={static['rps']:.0f} p99_ms={gallery['p99_ms']:.1f}")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        store.flushdb()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()

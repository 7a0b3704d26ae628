"""Gallery speed: one event with 50,000 approved photos, 20 concurrent clients, a real threaded server.

    .venv/bin/python bench/gallery.py [--photos 50000] [--clients 20] [--seconds 10] [--threads 32]

Creates a throwaway PostgreSQL database (dropped at the end; TEST_DATABASE_URL or postgres@127.0.0.1/test
names the server), builds the schema with the migrations, seeds the photo rows in one INSERT ... SELECT
(no image files: the HTML page needs none), and starts gunicorn with the Procfile's settings (gthread, one
worker) in a subprocess. It then measures, one after the other and for the same time each:

- the event's first gallery page (the whole HTML page a phone opens from the QR code), as a crowd gets it:
  the rendered cards come from the gallery's shared cache (pixstock/gallery/cache.py),
- the same page with every request a cache miss (a query argument the gallery ignores makes each URL
  unique), so the three queries and the rendering of 48 cards are paid every time,
- a gallery page deep in the event (page ~800, the htmx fragment: keyset pagination costs the same anywhere),
- the first page's exact HTML saved to a file and served by the same server (send_from_directory, as
  Flask's static route does): the ceiling for this server, client and machine.

The clients are threads of this process keeping their connections alive; they share the machine's cores
with the server, as on the 2-core VM the figures in bench/README.md come from. Figures, never pass/fail.
Last line: `gallery_rps=X static_rps=Y p99_ms=Z` (Z is the first gallery page's p99).
"""
import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE_PG = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
STATIC_PATH = "/bench/gallery-static.html"


def make_app():
    """The pixstock app plus one route serving the saved gallery HTML as a static file (gunicorn's factory)."""
    from flask import send_from_directory

    from pixstock import create_app

    app = create_app()
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


def load(host: str, port: int, path, clients: int, seconds: float, headers: dict | None = None) -> dict:
    """`clients` threads requesting path (a string, or a function of a counter) back to back over kept-alive
    connections; rps and latencies."""
    stop_at = time.perf_counter() + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    sizes = set()
    start_line = threading.Barrier(clients + 1)
    counter = iter(range(10**9))

    def client(n: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        start_line.wait()
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            try:
                connection.request("GET", path(next(counter)) if callable(path) else path, headers=headers or {})
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                errors[n] += 1
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=30)
                continue
            latencies[n].append(time.perf_counter() - began)
            if response.status != 200:
                errors[n] += 1
            sizes.add(len(body))
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    start_line.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = sorted(x for per in latencies for x in per)
    if not every:
        raise SystemExit(f"no successful request to {path}")
    return {
        "rps": len(every) / elapsed,
        "p50_ms": statistics.median(every) * 1000,
        "p99_ms": every[min(len(every) - 1, int(len(every) * 0.99))] * 1000,
        "requests": len(every),
        "errors": sum(errors),
        "bytes": max(sizes),
    }


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
    parser.add_argument("--threads", type=int, default=32, help="gunicorn threads (the Procfile uses 32)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    import psycopg

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
            "BENCH_STATIC_DIR": str(work), "PYTHONPATH": str(ROOT), "RATELIMIT_ENABLED": "0",
        }
        env.pop("REDIS_URL", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1",
             "--threads", str(args.threads), "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
             "bench.gallery:make_app()"],
            cwd=ROOT, env=env,
        )
        wait_for(f"http://127.0.0.1:{port}")
        connection = http.client.HTTPConnection("127.0.0.1", port)
        connection.request("GET", f"/e/{slug}")
        page = connection.getresponse().read()
        (work / "gallery.html").write_bytes(page)
        cards = page.count(b'class="photo-card"')
        print(f"server: gunicorn gthread, 1 worker, {args.threads} threads; clients: {args.clients} threads; "
              f"{os.cpu_count()} cores; {args.seconds:g} s per run")
        print(f"gallery page: {len(page):,} bytes, {cards} photos")

        runs = {}
        for label, path, headers in [
            ("warm-up", f"/e/{slug}", None),
            ("gallery first page", f"/e/{slug}", None),
            ("gallery first page, never cached", lambda n: f"/e/{slug}?bench={n}", None),
            ("gallery page ~800 (htmx fragment)", f"/e/{slug}?after={deep_cursor}", {"HX-Request": "true"}),
            ("same HTML as a static file", STATIC_PATH, None),
        ]:
            seconds = 2 if label == "warm-up" else args.seconds
            result = load("127.0.0.1", port, path, args.clients, seconds, headers)
            runs[label] = result
            if label != "warm-up":
                print(f"{label:34} {result['rps']:7.1f} req/s   p50 {result['p50_ms']:6.1f} ms   "
                      f"p99 {result['p99_ms']:6.1f} ms   {result['requests']:6d} requests, {result['errors']} errors, "
                      f"{result['bytes']:,} bytes")
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
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()

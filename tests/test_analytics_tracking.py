"""Tracking: buffered in the job system's Redis, flushed in batches to rows and daily rollups; the funnel."""
import json
from datetime import date, timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from pixstock.analytics import reports, tracking
from pixstock.analytics.reports import Period
from pixstock.analytics.tracking import BUFFER_KEY, flush_tracked, track
from pixstock.extensions import db
from pixstock.models import EventDailyStat, PhotoDailyView, TrackedEvent, TrackKind
from pixstock.tasks import schedule
from pixstock.tasks.queue import jobs

from . import factories
from .analytics_helpers import sell, utc

BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"


def visitor(app, n: int, agent: str = BROWSER):
    """A test client that looks like the n-th phone on the course (its own address)."""
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=f"203.0.113.{n}", HTTP_USER_AGENT=agent)
    return client


@pytest.fixture
def race(app):
    photographer = factories.make_user("photographer")
    event = factories.make_event(name="Phuket Run", photographers=[photographer])
    photos = factories.make_photos(event, photographer, 3, files=False)
    return type("Race", (), {"event": event, "photos": photos, "photographer": photographer})


def buffered():
    return [json.loads(line) for line in jobs().connection.lrange(BUFFER_KEY, 0, -1)]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_tracking_writes_nothing_to_the_database_until_the_flush(app, race):
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    sa_event.listen(db.engine, "before_cursor_execute", listener)
    try:
        page = visitor(app, 1).get(f"/e/{race.event.slug}")
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", listener)
    assert page.status_code == 200
    assert not [s for s in statements if "tracked_events" in s], "the page itself must not write tracking rows"
    (record,) = buffered()
    assert record[:3] == ["gallery_view", race.event.id, None]
    assert count(TrackedEvent) == 0
    assert flush_tracked() == 1
    row = db.session.scalar(select(TrackedEvent))
    assert (row.kind, row.event_id, row.photo_id, len(row.visitor)) == (TrackKind.GALLERY_VIEW, race.event.id, None, 32)
    assert buffered() == []


def test_funnel_counts_visitors_searchers_carts_and_paid_orders(app, race):
    slug, photos = race.event.slug, race.photos
    phones = [visitor(app, n) for n in range(1, 6)]
    for phone in phones:                       # 5 visitors reach the gallery...
        assert phone.get(f"/e/{slug}").status_code == 200
    phones[0].get(f"/e/{slug}")                # ...one of them twice: still 5 visitors, 6 visits
    for phone in phones[:3]:                   # 3 open a photo (the first opens two)
        assert phone.get(f"/e/{slug}/p/{photos[0].id}").status_code == 200
    phones[0].get(f"/e/{slug}/p/{photos[1].id}")
    for n in (1, 2):                           # 2 search with a selfie (the endpoint calls track)
        with app.test_request_context(environ_base={"REMOTE_ADDR": f"203.0.113.{n}", "HTTP_USER_AGENT": BROWSER}):
            track(TrackKind.SELFIE_SEARCH, race.event.id)
    for phone in phones[:2]:                   # 2 add a photo to their cart
        assert phone.post(f"/cart/photos/{photos[0].id}").status_code in (302, 303)
    sell([(photos[0], 10000)], utc(2025, 3, 2, 5))  # and one pays (an order on another day: counted in its period)
    assert flush_tracked() == 6 + 4 + 2 + 2

    today = tracking.local_today()
    (funnel,) = reports.funnels(Period(today, today))
    assert (funnel.visitors, funnel.searchers, funnel.searches, funnel.carters) == (5, 2, 2, 2)
    assert funnel.photo_views == 4 and funnel.orders == 0
    stat = db.session.get(EventDailyStat, (race.event.id, today, TrackKind.GALLERY_VIEW))
    assert (stat.hits, stat.visitors) == (6, 5)
    everything = reports.funnels(Period(date(2025, 3, 1), today), event_id=race.event.id)[0]
    assert everything.orders == 1 and everything.conversion == pytest.approx(20.0)
    ranks = reports.most_viewed_photos(Period(today, today), "THB")
    assert [(r.photo.id, r.views) for r in ranks] == [(photos[0].id, 3), (photos[1].id, 1)]


def test_staff_crawlers_and_prefetches_are_not_visitors(app, auth, client, race):
    visitor(app, 1, agent="Mozilla/5.0 (compatible; Googlebot/2.1)").get(f"/e/{race.event.slug}")
    prefetch = visitor(app, 2)
    prefetch.get(f"/e/{race.event.slug}", headers={"Sec-Purpose": "prefetch"})
    auth.login(race.photographer.email)
    assert client.get(f"/e/{race.event.slug}").status_code == 200
    assert buffered() == []
    visitor(app, 3).get(f"/e/{race.event.slug}")
    assert len(buffered()) == 1


def test_visitor_hash_holds_no_address_and_changes_every_day(app, monkeypatch):
    environ = {"REMOTE_ADDR": "198.51.100.7", "HTTP_USER_AGENT": BROWSER}
    with app.test_request_context(environ_base=environ):
        today = tracking.visitor_hash()
        assert today == tracking.visitor_hash() and "198.51.100.7" not in today and len(today) == 32
        tomorrow = tracking.local_today() + timedelta(days=1)
        monkeypatch.setattr(tracking, "local_today", lambda: tomorrow)
        assert tracking.visitor_hash() != today
    with app.test_request_context(environ_base=dict(environ, REMOTE_ADDR="198.51.100.8")):
        assert tracking.visitor_hash() != today
    # The day's key lives in Redis with an expiry, so old hashes cannot be recomputed later.
    connection = jobs().connection
    keys = connection.keys(tracking.SALT_KEY + "*")
    assert len(keys) == 2 and all(0 < connection.ttl(key) <= tracking.SALT_SECONDS for key in keys)


def test_flush_goes_in_batches_and_drops_what_cannot_be_stored(app, race):
    with app.test_request_context(environ_base={"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": BROWSER}):
        for photo in race.photos * 2 + race.photos[:1]:
            track(TrackKind.PHOTO_VIEW, race.event.id, photo.id)
        track(TrackKind.GALLERY_VIEW, 2**30)                     # an event deleted meanwhile
    jobs().connection.rpush(BUFFER_KEY, "not json")
    assert flush_tracked(batch_size=3) == 7
    assert count(TrackedEvent) == 7
    views = dict(db.session.execute(select(PhotoDailyView.photo_id, PhotoDailyView.views)).all())
    assert views == {race.photos[0].id: 3, race.photos[1].id: 2, race.photos[2].id: 2}
    assert flush_tracked() == 0 and jobs().connection.llen(tracking.FLUSHING_KEY) == 0


def test_a_second_flush_waits_for_the_first(app, race):
    with app.test_request_context():
        track(TrackKind.GALLERY_VIEW, race.event.id)
    jobs().connection.set(tracking.LOCK_KEY, "1")
    assert flush_tracked() == 0 and count(TrackedEvent) == 0
    jobs().connection.delete(tracking.LOCK_KEY)
    assert flush_tracked() == 1


def test_rebuilding_the_rollups_gives_what_the_flushes_gave(app, race):
    for n in range(1, 4):
        visitor(app, n).get(f"/e/{race.event.slug}/p/{race.photos[n - 1].id}")
        visitor(app, n).get(f"/e/{race.event.slug}")
    flush_tracked()
    before = db.session.execute(select(EventDailyStat.kind, EventDailyStat.hits, EventDailyStat.visitors)
                                .order_by(EventDailyStat.kind)).all()
    db.session.execute(EventDailyStat.__table__.delete())
    db.session.execute(PhotoDailyView.__table__.delete())
    db.session.commit()
    assert tracking.rebuild_rollups() == 1
    after = db.session.execute(select(EventDailyStat.kind, EventDailyStat.hits, EventDailyStat.visitors)
                               .order_by(EventDailyStat.kind)).all()
    assert after == before and len(after) == 2
    assert count(PhotoDailyView) == 3


def test_raw_tracked_views_go_after_the_retention_and_their_rollups_stay(app, race):
    from datetime import datetime, timezone

    from sqlalchemy import insert

    from pixstock.analytics.days import local_day, local_today

    now = datetime.now(timezone.utc)
    old, recent = now - timedelta(days=120), now - timedelta(days=2)
    db.session.execute(insert(TrackedEvent), [
        {"kind": TrackKind.GALLERY_VIEW, "event_id": race.event.id, "photo_id": None, "visitor": f"v{n}",
         "created_at": when} for n, when in enumerate([old, old, old, recent])
    ])
    tracking.refresh_rollups({(race.event.id, local_day(old)), (race.event.id, local_day(recent))})
    db.session.commit()

    def hits() -> dict:
        return dict(db.session.execute(select(EventDailyStat.day, EventDailyStat.hits)).all())

    before = hits()
    assert before == {local_day(old): 3, local_day(recent): 1}
    assert tracking.raw_kept_from() == local_today() - timedelta(days=90)
    assert tracking.purge_raw_tracking(batch_size=2) == 3
    assert list(db.session.scalars(select(TrackedEvent.created_at))) == [recent]
    assert hits() == before  # the reports' rollups are untouched
    assert tracking.rebuild_rollups() == 1 and hits() == before  # nothing left to recount those days from
    assert tracking.rebuild_rollups(first=local_day(old)) == 1 and hits() == before
    # A line from before the retention, flushed late, cannot shrink its day to itself.
    stamp = old.timestamp()
    jobs().connection.rpush(BUFFER_KEY, json.dumps(["gallery_view", race.event.id, None, "late", stamp]))
    assert flush_tracked() == 0 and hits() == before
    app.config["ANALYTICS_RAW_DAYS"] = 0
    assert tracking.raw_kept_from() is None and tracking.purge_raw_tracking() == 0


def test_tracking_survives_a_broken_connection(app, race, monkeypatch):
    class Broken:
        def rpush(self, *args):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(jobs(), "connection", Broken())
    assert visitor(app, 1).get(f"/e/{race.event.slug}").status_code == 200


def test_flush_is_a_periodic_job():
    schedule.load_periodic_modules()
    assert (flush_tracked, "default", 60) in schedule.periodic_jobs()


def test_a_process_pushes_its_tracked_views_together(make_app, redis_url):
    """With TRACK_PUSH_SECONDS, lines wait in the process and reach Redis in one push once that time has passed."""
    import time

    app = make_app(REDIS_URL=redis_url, TRACK_PUSH_SECONDS=0.3)
    with app.app_context():
        photographer = factories.make_user("photographer")
        event = factories.make_event(photographers=[photographer])
        photos = factories.make_photos(event, photographer, 2, files=False)
        for n in range(3):
            assert visitor(app, n).get(f"/e/{event.slug}").status_code == 200
        assert visitor(app, 9).get(f"/e/{event.slug}/p/{photos[1].id}").status_code == 200
        assert jobs().connection.llen(BUFFER_KEY) == 0  # still in this process
        deadline = time.monotonic() + 5
        while jobs().connection.llen(BUFFER_KEY) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [(r[0], r[1], r[2]) for r in buffered()] == [("gallery_view", event.id, None)] * 3 + [
            ("photo_view", event.id, photos[1].id)]
        assert len({r[3] for r in buffered()}) == 4  # four visitors
        assert flush_tracked() == 4


def test_an_outbox_pushes_at_once_when_full_and_survives_redis_going_away(app):
    import fakeredis

    connection = fakeredis.FakeRedis()
    outbox = tracking.Outbox(connection, seconds=60, most=3)
    outbox.add("a")
    outbox.add("b")
    assert connection.llen(BUFFER_KEY) == 0
    outbox.add("c")  # the third: pushed without waiting a minute
    assert connection.lrange(BUFFER_KEY, 0, -1) == [b"a", b"b", b"c"]
    outbox.add("d")
    outbox.push()
    assert connection.llen(BUFFER_KEY) == 4
    import redis

    gone = tracking.Outbox(redis.Redis(port=1, socket_connect_timeout=0.2), seconds=60, most=1)
    gone.add("lost")  # logged, never raised


def test_tracking_through_real_redis(make_app, redis_url):
    app = make_app(REDIS_URL=redis_url)
    with app.app_context():
        photographer = factories.make_user("photographer")
        event = factories.make_event(photographers=[photographer])
        client = visitor(app, 4)
        assert client.get(f"/e/{event.slug}").status_code == 200
        assert jobs().connection.llen(BUFFER_KEY) == 1
        assert flush_tracked() == 1
        assert db.session.scalar(select(func.count(TrackedEvent.id))) == 1

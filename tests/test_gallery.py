"""Customer galleries: the home page's search, an event's photos in time order with keyset infinite scroll,
filters, the photo view, closed events, at most three queries per page, and no original ever in reach."""
import re
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select, text

from pixstock.catalog import PAGE_SIZE, Cursor, gallery_page
from pixstock.extensions import db
from pixstock.models import Photo

from .factories import make_event, make_photo, make_photos, make_user

HX = {"HX-Request": "true"}
CARD = re.compile(r'<li class="photo-card" id="p-(\d+)"')
MORE = re.compile(r'hx-get="([^"]+after=[^"]+)"')


@contextmanager
def queries():
    """Collect every SQL statement the app sends while the block runs."""
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", record)


def _cards(html: str) -> list[int]:
    return [int(i) for i in CARD.findall(html)]


def _unescape(url: str) -> str:
    return url.replace("&amp;", "&")


@pytest.fixture
def photographer(app):
    return make_user("photographer", email="ann@example.com")


# --- Home page -------------------------------------------------------------------------------------


def test_home_lists_events_on_sale_only(client, app):
    on_sale = make_event("on_sale", name="Bangkok Marathon", location="Lumphini Park")
    make_event("draft", name="Draft Fun Run")
    make_event("processing", name="Processing Trail")
    make_event("closed", name="Closed Concert")
    make_event("on_sale", name="Expired Swim", expiry_date=date.today() - timedelta(days=1))
    html = client.get("/").get_data(as_text=True)
    assert "Bangkok Marathon" in html and f'href="/e/{on_sale.slug}"' in html
    for hidden in ("Draft Fun Run", "Processing Trail", "Closed Concert", "Expired Swim"):
        assert hidden not in html


@pytest.mark.parametrize("query, expected", [
    ("q=marathon", {"Bangkok Marathon"}),
    ("q=LUMPHINI", {"Bangkok Marathon"}),
    ("q=เชียงใหม่", {"วิ่งเชียงใหม่"}),
    ("q=park", {"Bangkok Marathon", "Park Run"}),
    ("q=100%25", set()),                   # a literal % matches nothing, not everything
    ("q=_", set()),
    ("from=2025-03-01&to=2025-03-31", {"Bangkok Marathon", "วิ่งเชียงใหม่"}),
    ("from=2025-04-01", {"Park Run"}),
    ("q=run&to=2025-03-31", {"วิ่งเชียงใหม่"}),
    ("from=not-a-date", {"Bangkok Marathon", "Park Run", "วิ่งเชียงใหม่"}),
])
def test_home_search_and_date_filter(client, app, query, expected):
    make_event("on_sale", name="Bangkok Marathon", location="Lumphini Park", event_date=date(2025, 3, 2),
               expiry_date=None)
    make_event("on_sale", name="Park Run", location="Chatuchak", event_date=date(2025, 4, 5), expiry_date=None)
    make_event("on_sale", name="วิ่งเชียงใหม่", location="เชียงใหม่ run", event_date=date(2025, 3, 20),
               expiry_date=None)
    html = client.get("/?" + query, headers=HX).get_data(as_text=True)
    found = set(re.findall(r"<h2>([^<]+)</h2>", html))
    assert found == expected


def test_home_active_search_returns_the_list_alone(client, app):
    make_event("on_sale", name="Bangkok Marathon")
    full = client.get("/?q=bang")
    fragment = client.get("/?q=bang", headers=HX)
    assert "<html" in full.get_data(as_text=True) and 'hx-trigger="input changed delay:200ms, search"' in full.get_data(as_text=True)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and body.lstrip().startswith('<ul class="event-list">') and "Bangkok Marathon" in body
    assert "HX-Request" in full.headers["Vary"] and "HX-Request" in fragment.headers["Vary"]
    assert "No event on sale matches your search." in client.get("/?q=zzz", headers=HX).get_data(as_text=True)


def test_home_is_one_query(client, app, photographer):
    for n in range(5):
        event = make_event("on_sale")
        cover = make_photo(event, photographer, files=False, derivative_keys={"medium": f"k/{n}.jpg"})
        event.cover_photo_id = cover.id
    db.session.commit()
    with queries() as statements:
        html = client.get("/").get_data(as_text=True)
    assert html.count("/medium") == 5
    assert len(statements) <= 1, statements


# --- The event page --------------------------------------------------------------------------------


def test_event_page_pages_photos_in_time_order(client, photographer):
    event = make_event("on_sale", photographers=[photographer])
    start = datetime(2025, 3, 2, 0, 0, tzinfo=timezone.utc)
    # Made out of order on purpose: the gallery orders by time, not by id.
    late = make_photos(event, photographer, 60, start=start + timedelta(hours=2), files=False)
    early = make_photos(event, photographer, 60, start=start, files=False)
    expected = [p.id for p in early + late]
    response = client.get(f"/e/{event.slug}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert _cards(html) == expected[:PAGE_SIZE]
    seen = _cards(html)
    while (more := MORE.search(html)) is not None:
        html = client.get(_unescape(more.group(1)), headers=HX).get_data(as_text=True)
        assert "<html" not in html
        seen += _cards(html)
    assert seen == expected


def test_keyset_paging_with_many_photos_sharing_one_timestamp(client, photographer):
    """Three hundred photos taken in the same microsecond, between others: nothing skipped, nothing repeated."""
    event = make_event("on_sale", photographers=[photographer])
    moment = datetime(2025, 3, 2, 1, 0, 0, 123456, tzinfo=timezone.utc)
    before = make_photos(event, photographer, 5, start=moment - timedelta(minutes=5), files=False)
    same = make_photos(event, photographer, 300, same_taken_at=moment, files=False)
    after = make_photos(event, photographer, 5, start=moment + timedelta(microseconds=1), files=False)
    expected = [p.id for p in before + same + after]
    # Through the model, with a page size that does not divide the tie.
    seen, cursor = [], None
    while True:
        photos, cursor = gallery_page(event, after=cursor, limit=7)
        seen += [p.id for p in photos]
        if cursor is None:
            break
    assert seen == expected
    # Through the HTML fragments a phone fetches while scrolling.
    html = client.get(f"/e/{event.slug}").get_data(as_text=True)
    pages, seen = 1, _cards(html)
    while (more := MORE.search(html)) is not None:
        html = client.get(_unescape(more.group(1)), headers=HX).get_data(as_text=True)
        seen += _cards(html)
        pages += 1
    assert seen == expected and pages == -(-len(expected) // PAGE_SIZE)
    # Through the API.
    seen, cursor = [], None
    while True:
        body = client.get(f"/api/v1/events/{event.id}/photos" + (f"?cursor={cursor}&limit=11" if cursor else "?limit=11")).get_json()
        seen += [p["id"] for p in body["photos"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == expected


def test_no_javascript_pages_through_more_links(client, photographer):
    event = make_event("on_sale", photographers=[photographer])
    photos = make_photos(event, photographer, PAGE_SIZE + 3, files=False)
    html = client.get(f"/e/{event.slug}").get_data(as_text=True)
    link = re.search(r'<a class="button" href="([^"]+)">More photos</a>', html).group(1)
    page2 = client.get(_unescape(link)).get_data(as_text=True)
    assert "<html" in page2 and _cards(page2) == [p.id for p in photos[PAGE_SIZE:]]
    assert "Back to the first photos" in page2 and "More photos" not in page2


def test_cursor_is_validated(client, photographer):
    event = make_event("on_sale", photographers=[photographer])
    for bad in ("abc", "1_", "_1", "99999999999999999999999_1", "1_-5"):
        assert client.get(f"/e/{event.slug}?after={bad}").status_code == 400
        assert client.get(f"/api/v1/events/{event.id}/photos?cursor={bad}").status_code == 400
    cursor = Cursor(datetime(2025, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc), 42)
    assert Cursor.decode(cursor.encode()) == cursor


def test_filters_by_photographer_and_time_of_day(client, photographer):
    bob = make_user("photographer", email="bob@example.com")
    event = make_event("on_sale", photographers=[photographer, bob], event_date=date(2025, 3, 2))
    # Bangkok is UTC+7: 06:xx local is 23:xx UTC the day before.
    at = lambda h, m: datetime(2025, 3, 2, h, m, tzinfo=timezone(timedelta(hours=7)))  # noqa: E731
    ann_6 = make_photo(event, photographer, taken_at=at(6, 10), files=False)
    bob_6 = make_photo(event, bob, taken_at=at(6, 50), files=False)
    ann_8 = make_photo(event, photographer, taken_at=at(8, 0), files=False)
    bob_9 = make_photo(event, bob, taken_at=at(9, 59), files=False)
    page = client.get(f"/e/{event.slug}").get_data(as_text=True)
    assert 'name="photographer"' in page and ">bob</option>" in page and 'name="from"' in page
    cases = {
        f"photographer={bob.id}": [bob_6, bob_9],
        "from=6&to=7": [ann_6, bob_6],
        "from=8": [ann_8, bob_9],
        "to=9": [ann_6, bob_6, ann_8],
        f"from=6&to=10&photographer={photographer.id}": [ann_6, ann_8],
        "from=20": [],
        "from=9&to=8": [bob_9],          # an empty range drops its end
        "photographer=x&from=99": [ann_6, bob_6, ann_8, bob_9],
    }
    for query, expected in cases.items():
        html = client.get(f"/e/{event.slug}?{query}", headers=HX).get_data(as_text=True)
        assert _cards(html) == [p.id for p in expected], query
    assert "No photos match these filters." in client.get(f"/e/{event.slug}?from=20").get_data(as_text=True)
    # Filters travel with the infinite scroll and into the photo view's previous/next.
    html = client.get(f"/e/{event.slug}?photographer={bob.id}").get_data(as_text=True)
    assert f"/e/{event.slug}/p/{bob_6.id}?photographer={bob.id}" in html
    view = client.get(f"/e/{event.slug}/p/{bob_6.id}?photographer={bob.id}").get_data(as_text=True)
    assert f'rel="next" class="button" href="/e/{event.slug}/p/{bob_9.id}?photographer={bob.id}"' in view
    assert 'rel="prev"' not in view


def test_filter_change_returns_the_grid_for_htmx(client, photographer):
    event = make_event("on_sale", photographers=[photographer])
    make_photos(event, photographer, 3, files=False)
    body = client.get(f"/e/{event.slug}?photographer={photographer.id}", headers=HX).get_data(as_text=True)
    assert body.lstrip().startswith('<ul class="photo-grid">') and "<html" not in body
    restore = client.get(f"/e/{event.slug}", headers={**HX, "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


def test_photo_view(client, photographer):
    event = make_event("on_sale", photographers=[photographer], price_single=12000)
    first, middle, last = make_photos(event, photographer, 3)
    html = client.get(f"/e/{event.slug}/p/{middle.id}").get_data(as_text=True)
    assert f'src="/media/photos/{middle.id}/preview' in html
    assert f'rel="prev" class="button" href="/e/{event.slug}/p/{first.id}"' in html
    assert f'rel="next" class="button" href="/e/{event.slug}/p/{last.id}"' in html
    assert f'value="http://localhost/e/{event.slug}/p/{middle.id}"' in html  # the share link
    assert "js/gallery.js" in html and "data-swipe" in html
    assert f"/cart/add/{middle.id}" in html or "add_to_cart" in html or "Add to cart" in html
    assert "฿120" in html
    edge = client.get(f"/e/{event.slug}/p/{first.id}").get_data(as_text=True)
    assert 'rel="prev"' not in edge and 'rel="next"' in edge
    # A photo is reached only through its own event.
    other = make_event("on_sale")
    assert client.get(f"/e/{other.slug}/p/{middle.id}").status_code == 404
    assert client.get(f"/e/{event.slug}/p/99999999999").status_code == 404
    assert client.get(f"/e/nope/p/{middle.id}").status_code == 404


def test_cart_controls_only_while_selling(client, photographer):
    event = make_event("on_sale", photographers=[photographer], sales_enabled=False)
    photo = make_photo(event, photographer)
    for url in (f"/e/{event.slug}", f"/e/{event.slug}/p/{photo.id}"):
        assert "cart-toggle" not in client.get(url).get_data(as_text=True)
    event.sales_enabled = True
    db.session.commit()
    for url in (f"/e/{event.slug}", f"/e/{event.slug}/p/{photo.id}"):
        assert "cart-toggle" in client.get(url).get_data(as_text=True)


def test_face_search_include_point_is_near_the_top(app):
    source = open(app.jinja_loader.searchpath[0] + "/gallery/event.html").read()
    assert source.index('{% include "gallery/_face_search.html" ignore missing %}') < source.index('id="photos"')


# --- Who sees which event ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["draft", "shooting", "processing"])
def test_unpublished_events_are_404_except_to_their_staff(client, auth, photographer, status):
    event = make_event(status, photographers=[photographer])
    photo = make_photo(event, photographer)
    urls = [f"/e/{event.slug}", f"/e/{event.slug}/p/{photo.id}"]
    assert [client.get(u).status_code for u in urls] == [404, 404]
    outsider = make_user("photographer")
    auth.login(outsider.email)
    assert [client.get(u).status_code for u in urls] == [404, 404]
    auth.logout()
    auth.login(photographer.email)
    html = client.get(urls[0]).get_data(as_text=True)
    assert "Preview: customers cannot see this gallery" in html and "cart-toggle" not in html


def test_closed_event_says_so(client, photographer):
    event = make_event("closed", photographers=[photographer], sales_enabled=False)
    photo = make_photo(event, photographer)
    for url in (f"/e/{event.slug}", f"/e/{event.slug}/p/{photo.id}"):
        html = client.get(url).get_data(as_text=True)
        assert "This event is closed" in html and f"/media/photos/{photo.id}/" not in html


# --- Three queries, whatever the size of the event ----------------------------------------------------


def _bulk_photos(event, photographer, n: int, same_every: int = 7) -> None:
    """n approved photo rows in one INSERT ... SELECT (no files: the HTML needs none), some sharing timestamps."""
    db.session.execute(text("""
        INSERT INTO photos (event_id, photographer_id, original_filename, filename, file_path, file_size,
            uploaded_at, approval_status, face_status, metadata_json, sha256, content_type, derivative_keys,
            sort_at, taken_at, processing_status, processing_attempts, face_count, processed_at)
        SELECT :event, :user, 'IMG_' || g || '.jpg', 'IMG_' || g || '.jpg', 'events/x/' || g, 1000,
            now(), 'approved', 'none', '{}', md5(g::text), 'image/jpeg',
            json_build_object('square_300', 'k/' || g || '-300.jpg', 'preview', 'k/' || g || '-p.jpg'),
            timestamptz '2025-03-02 00:00:00+00' + ((g / :same) * interval '1 second'),
            timestamptz '2025-03-02 00:00:00+00' + ((g / :same) * interval '1 second'),
            'ready', 1, 0, now()
        FROM generate_series(1, :n) AS g
    """), {"event": event.id, "user": photographer.id, "n": n, "same": same_every})
    db.session.commit()
    db.session.execute(text("ANALYZE photos"))


def test_gallery_pages_of_a_50000_photo_event_take_at_most_three_queries(client, photographer):
    event = make_event("on_sale", photographers=[photographer], event_date=date(2025, 3, 2))
    _bulk_photos(event, photographer, 50_000)
    deep = db.session.scalars(
        select(Photo).where(Photo.event_id == event.id).order_by(Photo.sort_at, Photo.id).offset(40_000).limit(1)
    ).one()
    deep_cursor = Cursor.after(deep).encode()
    urls = [
        (f"/e/{event.slug}", {}),
        (f"/e/{event.slug}?after={deep_cursor}", HX),
        (f"/e/{event.slug}?after={deep_cursor}", {}),
        (f"/e/{event.slug}?photographer={photographer.id}&from=7&to=8", {}),
        (f"/e/{event.slug}?photographer={photographer.id}&from=7", HX),
        (f"/e/{event.slug}/p/{deep.id}", {}),
        (f"/e/{event.slug}/p/{deep.id}?from=7", {}),
    ]
    for url, headers in urls:
        with queries() as statements:
            response = client.get(url, headers=headers)
        assert response.status_code == 200, url
        assert len(statements) <= 3, (url, statements)
        assert not any("OFFSET" in s.upper() for s in statements), url
    html = client.get(f"/e/{event.slug}?after={deep_cursor}", headers=HX).get_data(as_text=True)
    assert len(_cards(html)) == PAGE_SIZE and _cards(html)[0] > deep.id - 10


def test_gallery_query_walks_the_gallery_index(app, photographer):
    event = make_event("on_sale", photographers=[photographer])
    _bulk_photos(event, photographer, 20_000)
    cursor = Cursor(datetime(2025, 3, 2, 1, 0, tzinfo=timezone.utc), 10_000)
    query = (
        select(Photo)
        .where(Photo.event_id == event.id, Photo.approval_status == "approved", Photo.processing_status == "ready")
    )
    from sqlalchemy import tuple_

    query = query.where(tuple_(Photo.sort_at, Photo.id) > tuple_(cursor.sort_at, cursor.id))
    query = query.order_by(Photo.sort_at, Photo.id).limit(PAGE_SIZE + 1)
    compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
    plan = "\n".join(r[0] for r in db.session.execute(text(f"EXPLAIN {compiled}")))
    assert "ix_photos_gallery" in plan and "Sort" not in plan and "Seq Scan" not in plan, plan


# --- Originals never reach customers -----------------------------------------------------------------


def test_no_customer_page_fragment_or_response_leads_to_an_original(client, auth, photographer):
    event = make_event("on_sale", photographers=[photographer])
    photos = make_photos(event, photographer, PAGE_SIZE + 2)
    event.cover_photo_id = photos[0].id
    db.session.commit()
    customer = make_user("customer")
    bodies = []
    for who in (None, customer):
        if who:
            auth.login(who.email)
        html = client.get(f"/e/{event.slug}").get_data(as_text=True)
        bodies.append(html)
        more = MORE.search(html).group(1)
        bodies.append(client.get(_unescape(more), headers=HX).get_data(as_text=True))
        bodies.append(client.get(f"/e/{event.slug}?photographer={photographer.id}", headers=HX).get_data(as_text=True))
        bodies += [client.get(f"/e/{event.slug}/p/{p.id}").get_data(as_text=True) for p in photos[:3]]
        bodies.append(client.get("/").get_data(as_text=True))
        bodies.append(client.get(f"/api/v1/events/{event.id}").get_data(as_text=True))
        bodies.append(client.get(f"/api/v1/events/{event.id}/photos?limit=200").get_data(as_text=True))
        bodies.append(client.get("/api/v1/events").get_data(as_text=True))
    for body in bodies:
        assert "/original" not in body and "original.jpg" not in body
        for photo in photos:
            assert photo.file_path not in body
    # Every media URL a customer was given serves a derivative, never the original's bytes.
    from pixstock.services.storage import get_storage

    originals = {get_storage().read_bytes(p.file_path) for p in photos[:3]}
    urls = set(re.findall(r'(/media/photos/\d+/\w+)', "\n".join(bodies)))
    assert urls
    for url in sorted(urls)[:20]:
        response = client.get(url)
        assert response.status_code == 200 and response.data not in originals, url
    for photo in photos[:3]:
        assert client.get(f"/media/photos/{photo.id}/original").status_code in (403, 404)


# --- Shared pages (pixstock/gallery/cache.py) -------------------------------------------------------


def test_shared_pages_follow_every_review_at_once(client, photographer):
    from pixstock.approval import Decision, review_photos

    admin = make_user("admin")
    event = make_event("on_sale", photographers=[photographer])
    shown = make_photos(event, photographer, 3, files=False)
    waiting = make_photo(event, photographer, approval="pending", files=False)
    url = f"/e/{event.slug}"
    assert _cards(client.get(url).get_data(as_text=True)) == [p.id for p in shown]
    with queries() as statements:
        again = client.get(url).get_data(as_text=True)
    assert _cards(again) == [p.id for p in shown] and statements == []  # the whole page from the cache
    review_photos([waiting.id], admin, Decision.APPROVE)
    assert waiting.id in _cards(client.get(url).get_data(as_text=True))
    review_photos([shown[0].id], admin, Decision.REJECT, "Blurry")
    html = client.get(url).get_data(as_text=True)
    assert shown[0].id not in _cards(html) and f"/media/photos/{shown[0].id}/" not in html
    # A photographer assigned, and a price change, show too.
    event = db.session.get(type(event), event.id)
    bob = make_user("photographer", email="bob@example.com")
    event.assign(bob)
    db.session.commit()
    assert ">bob</option>" in client.get(url).get_data(as_text=True)
    event.set_pricing(15000, [], None)
    db.session.commit()
    assert "฿150" in client.get(url).get_data(as_text=True)
    # Once the remembered version is older than a second, a page costs one query (the event) to check it.
    app_cache = client.application.extensions["pixstock_gallery_cache"]
    app_cache.versions.forget()
    with queries() as statements:
        assert "฿150" in client.get(url).get_data(as_text=True)
    assert len(statements) == 1 and "FROM events" in statements[0]


def test_a_change_made_by_another_process_shows_within_a_second(app, client, photographer):
    from pixstock.gallery import cache
    from pixstock.models import Event

    event = make_event("on_sale", photographers=[photographer])
    photos = make_photos(event, photographer, 2, files=False)
    url = f"/e/{event.slug}"
    assert len(_cards(client.get(url).get_data(as_text=True))) == 2
    # Another process (a worker, a second web process) rejects a photo: nothing here hears of it.
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE photos SET approval_status = 'rejected' WHERE id = :id"), {"id": photos[0].id})
        conn.execute(text("UPDATE events SET updated_at = now() WHERE id = :id"), {"id": event.id})
    assert len(_cards(client.get(url).get_data(as_text=True))) == 2  # still this process's copy...
    app.extensions["pixstock_gallery_cache"].versions.seconds = 0.05
    assert cache.VERSION_SECONDS <= 1
    time.sleep(0.1)
    assert _cards(client.get(url).get_data(as_text=True)) == [photos[1].id]  # ...until its version is re-read
    # An event taken off sale in another process is a 404 once the version is re-read.
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE events SET status = 'processing', updated_at = now() WHERE id = :id"),
                     {"id": event.id})
    time.sleep(0.1)
    assert client.get(url).status_code == 404
    assert db.session.get(Event, event.id) is not None


def test_shared_pages_only_for_visitors_who_see_what_everyone_sees(app, auth, client, photographer):
    event = make_event("on_sale", photographers=[photographer])
    photos = make_photos(event, photographer, 2, files=False)
    url = f"/e/{event.slug}"
    anonymous = client.get(url).get_data(as_text=True)
    assert "Sign in" in anonymous and "Approval queue" not in anonymous
    admin = make_user("admin")
    auth.login(admin.email)
    with queries() as statements:
        staff_page = client.get(url).get_data(as_text=True)
    assert "Approval queue" in staff_page and "Sign in" not in staff_page and statements
    auth.logout()
    assert "Approval queue" not in client.get(url).get_data(as_text=True)
    # A visitor with a cart sees their photos marked; the next anonymous visitor does not.
    shopper, other = app.test_client(), app.test_client()
    shopper.get(url)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', shopper.get(url).get_data(as_text=True)).group(1)
    assert shopper.post(f"/cart/photos/{photos[0].id}", data={"csrf_token": token, "next": url}).status_code in (302, 303)
    assert "In cart" in shopper.get(url).get_data(as_text=True)
    assert "In cart" not in other.get(url).get_data(as_text=True)
    # Links made absolute for sharing follow the host the visitor asked.
    event.cover_photo_id = photos[0].id
    db.session.commit()
    one = client.get(url, base_url="https://photos.example.com").get_data(as_text=True)
    two = client.get(url, base_url="https://pix.example.org").get_data(as_text=True)
    assert "https://photos.example.com/media/" in one and "https://pix.example.org/media/" in two


def test_staff_previews_are_never_shared(auth, client, photographer):
    event = make_event("processing", photographers=[photographer])
    make_photos(event, photographer, 2, files=False)
    auth.login(photographer.email)
    assert client.get(f"/e/{event.slug}").status_code == 200
    auth.logout()
    assert client.get(f"/e/{event.slug}").status_code == 404


def test_every_visit_to_a_shared_page_is_counted(app, client, photographer):
    import json

    from pixstock.analytics.tracking import BUFFER_KEY
    from pixstock.tasks.queue import jobs

    event = make_event("on_sale", photographers=[photographer])
    photos = make_photos(event, photographer, 2, files=False)
    for _ in range(3):
        assert client.get(f"/e/{event.slug}").status_code == 200
        assert client.get(f"/e/{event.slug}/p/{photos[1].id}").status_code == 200
    assert client.get(f"/e/{event.slug}", headers={"User-Agent": "Googlebot/2.1"}).status_code == 200
    records = [json.loads(line) for line in jobs().connection.lrange(BUFFER_KEY, 0, -1)]
    kinds = [(kind, event_id, photo_id) for kind, event_id, photo_id, *_ in records]
    assert kinds.count(("gallery_view", event.id, None)) == 3  # the crawler is not a visitor
    assert kinds.count(("photo_view", event.id, photos[1].id)) == 3


def test_shared_pages_carry_each_visitors_own_csrf_token_and_cart(app, photographer):
    event = make_event("on_sale", photographers=[photographer])
    photos = make_photos(event, photographer, 2, files=False)
    alice, bob = app.test_client(), app.test_client()
    token_re = re.compile(r'"X-CSRFToken": "([^"]+)"')
    form_re = re.compile(r'action="(/cart/photos/%d)"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)">' % photos[0].id)
    pages = {}
    for name, visitor in (("alice", alice), ("bob", bob)):
        html = visitor.get(f"/e/{event.slug}").get_data(as_text=True)
        header_token = token_re.search(html).group(1)
        action, form_token = form_re.search(html).groups()
        assert form_token == header_token and "pixstockCsrfPlaceholder" not in html
        pages[name] = (action, form_token)
    assert pages["alice"][1] != pages["bob"][1]
    # Without JavaScript, Bob's form works with the token his page carried.
    action, token = pages["bob"]
    response = bob.post(action, data={"csrf_token": token, "next": f"/e/{event.slug}"}, csrf=False)
    assert response.status_code in (302, 303)
    bob_page = bob.get(f"/e/{event.slug}").get_data(as_text=True)
    alice_page = alice.get(f"/e/{event.slug}").get_data(as_text=True)
    assert "In cart" in bob_page and "In cart" not in alice_page


def test_thumbnails_linked_from_the_gallery_cache_for_a_year_and_revalidate(client, photographer):
    event = make_event("on_sale", photographers=[photographer])
    make_photos(event, photographer, 2)
    html = client.get(f"/e/{event.slug}").get_data(as_text=True)
    url = _unescape(re.search(r'src="(/media/photos/\d+/square_300[^"]*)"', html).group(1))
    first = client.get(url)
    assert first.status_code == 200 and first.mimetype == "image/jpeg"
    assert first.cache_control.max_age >= 365 * 24 * 3600 and first.headers.get("ETag")
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_a_due_version_is_re_read_by_one_request_while_the_others_keep_serving():
    from pixstock.gallery.cache import Versions

    versions = Versions(seconds=0.05)
    assert versions.current("run") is None  # unknown: every caller reads it
    versions.remember("run", (1, "v1"))
    assert versions.current("run") == (1, "v1")
    time.sleep(0.06)
    assert versions.current("run") is None  # due: this caller re-reads...
    assert [versions.current("run") for _ in range(5)] == [(1, "v1")] * 5  # ...the crowd does not wait
    versions.remember("run", (1, "v2"))
    assert versions.current("run") == (1, "v2")
    versions.forget("run")
    assert versions.current("run") is None and versions.current("run") is None


def test_a_crowd_meeting_a_new_page_renders_it_once(app, photographer, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from pixstock.gallery import routes

    event = make_event("on_sale", photographers=[photographer])
    make_photos(event, photographer, 3, files=False)
    renders = []
    real_render = routes._render_event

    def slow_render(loaded):
        renders.append(1)
        time.sleep(0.3)  # long enough for the whole crowd to arrive while it renders
        return real_render(loaded)

    monkeypatch.setattr(routes, "_render_event", slow_render)
    url, expected = f"/e/{event.slug}", _cards_of(event)

    def visit(_):
        response = app.test_client().get(url)
        return response.status_code, _cards(response.get_data(as_text=True))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(visit, range(8)))
    assert results == [(200, expected)] * 8
    assert len(renders) == 1


def _cards_of(event) -> list[int]:
    query = select(Photo.id).where(Photo.event_id == event.id).order_by(Photo.sort_at, Photo.id)
    return list(db.session.scalars(query))

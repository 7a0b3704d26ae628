"""The cart: htmx and plain forms, the out-of-band badge, session carts merged on login, "add all"."""
import re

from sqlalchemy import select

from pixstock import pricing
from pixstock.extensions import db
from pixstock.i18n import format_money
from pixstock.models import ApprovalStatus, CartItem

from . import factories
from .shop_helpers import add_photos, count_queries, shop  # noqa: F401

HX = {"HX-Request": "true"}


def badge_count(html: str) -> int:
    match = re.search(r'id="cart-badge"[^>]*>.*?<span class="cart-count"[^>]*>(\d+)</span>', html, re.S)
    assert match, "no cart badge"
    return int(match.group(1))


def test_badge_renders_for_anonymous_visitors(client):
    html = client.get("/").get_data(as_text=True)
    assert badge_count(html) == 0


def test_add_without_javascript_redirects_back(client, shop):
    photo = shop.photos[0]
    response = client.post(f"/cart/photos/{photo.id}", data={"next": f"/e/{shop.event.slug}"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/e/{shop.event.slug}"
    page = client.get("/cart").get_data(as_text=True)
    assert badge_count(page) == 1
    assert f"/cart/photos/{photo.id}/remove" in page


def test_add_refuses_offsite_next(client, shop):
    response = client.post(f"/cart/photos/{shop.photos[0].id}", data={"next": "//evil.example/"})
    assert response.headers["Location"] == "/cart"


def test_htmx_toggle_swaps_the_button_and_the_badge_out_of_band(client, shop):
    photo = shop.photos[0]
    added = client.post(f"/cart/photos/{photo.id}", data={"next": "/somewhere"}, headers=HX)
    html = added.get_data(as_text=True)
    assert added.status_code == 200
    assert "<html" not in html
    assert f'hx-post="/cart/photos/{photo.id}/remove"' in html
    assert 'aria-pressed="true"' in html
    assert 'value="/somewhere"' in html  # the fragment keeps the page's own next, not the POST's
    assert 'hx-swap-oob="true"' in html and badge_count(html) == 1
    removed = client.post(f"/cart/photos/{photo.id}/remove", data={"next": "/somewhere"}, headers=HX)
    html = removed.get_data(as_text=True)
    assert f'hx-post="/cart/photos/{photo.id}"' in html
    assert badge_count(html) == 0


def test_adding_twice_keeps_one(client, shop):
    photo = shop.photos[0]
    client.post(f"/cart/photos/{photo.id}")
    client.post(f"/cart/photos/{photo.id}")
    assert badge_count(client.get("/cart").get_data(as_text=True)) == 1


def test_cart_needs_csrf(client, shop):
    response = client.post(f"/cart/photos/{shop.photos[0].id}", csrf=False)
    assert response.status_code == 400
    assert badge_count(client.get("/cart").get_data(as_text=True)) == 0


def test_photos_not_for_sale_cannot_be_added(client, shop):
    pending = factories.make_photo(shop.event, shop.photographer, approval="pending", files=False)
    assert client.post(f"/cart/photos/{pending.id}").status_code == 404
    assert client.post("/cart/photos/999999").status_code == 404
    assert client.post("/cart/photos/99999999999").status_code == 404  # beyond PostgreSQL's integer
    shop.event.sales_enabled = False
    db.session.commit()
    assert client.post(f"/cart/photos/{shop.photos[0].id}").status_code == 409
    assert badge_count(client.get("/cart").get_data(as_text=True)) == 0


def test_cart_page_shows_bundle_pricing_and_total(client, shop):
    add_photos(client, shop.photos)  # 6 photos: a bundle of 5 (฿400) and one single (฿100)
    response = client.get("/cart")
    html = response.get_data(as_text=True)
    assert "HX-Request" in response.headers["Vary"]
    assert 'data-total="50000"' in html
    assert format_money(50000, "THB", "en") in html
    assert "Bundle of 5 photos" in html and "Single photo" in html
    assert html.count("/media/photos/") == 6  # a watermarked thumbnail per photo, never an original
    assert "original" not in re.findall(r'src="(/media/[^"]+)"', html)[0]
    assert f"You save {format_money(10000, 'THB', 'en')}" in html


def test_cart_prices_in_thai(client, shop):
    client.post("/auth/language", data={"locale": "th", "next": "/cart"})
    add_photos(client, shop.photos[:1])
    html = client.get("/cart").get_data(as_text=True)
    assert format_money(10000, "THB", "th") in html
    assert 'lang="th"' in html


def test_remove_from_the_cart_page_rerenders_the_cart(client, shop):
    add_photos(client, shop.photos)
    photo = shop.photos[0]
    response = client.post(f"/cart/photos/{photo.id}/remove", data={"return": "cart"}, headers=HX)
    html = response.get_data(as_text=True)
    assert '<section id="cart"' in html and "<html" not in html
    assert 'data-total="40000"' in html  # five photos left: exactly one bundle
    assert badge_count(html) == 5
    plain = client.post(f"/cart/photos/{shop.photos[1].id}/remove", data={"return": "cart"})
    assert plain.status_code == 302 and plain.headers["Location"] == "/cart"


def test_add_many_with_a_signed_face_search_result_applies_the_package(client, shop):
    ids = [p.id for p in shop.photos]
    token = pricing.sign_all_of_me(shop.event.id, ids)
    response = client.post("/cart/add-many", data={
        "photo_ids": ids, "package": "all_of_me", "event_id": shop.event.id, "package_token": token,
    })
    assert response.status_code == 302
    html = client.get("/cart").get_data(as_text=True)
    # All of me (฿500) vs a bundle of 5 and a single (฿500): equal, so the bundles stay.
    assert 'data-total="50000"' in html
    more = factories.make_photos(shop.event, shop.photographer, 4, files=False)
    ids += [p.id for p in more]
    token = pricing.sign_all_of_me(shop.event.id, ids)
    client.post("/cart/add-many", data={
        "photo_ids": ids, "package": "all_of_me", "event_id": shop.event.id, "package_token": token,
    })
    html = client.get("/cart").get_data(as_text=True)
    assert 'data-total="50000"' in html  # ten photos for the package price instead of ฿800
    assert "All photos of me (10 photos)" in html
    assert "package is your best price" in html


def test_add_many_without_a_valid_token_prices_normally(client, shop):
    more = factories.make_photos(shop.event, shop.photographer, 4, files=False)
    ids = [p.id for p in shop.photos + more]
    forged = pricing.sign_all_of_me(shop.event.id, ids)[:-3] + "abc"
    response = client.post("/cart/add-many", data={
        "photo_ids": ids, "package": "all_of_me", "event_id": shop.event.id, "package_token": forged,
    }, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "offer has expired" in html
    assert 'data-total="80000"' in html  # two bundles of five


def test_add_many_for_htmx_answers_a_note_and_the_badge(client, shop):
    response = client.post("/cart/add-many", data={"photo_ids": [p.id for p in shop.photos[:3]]}, headers=HX)
    html = response.get_data(as_text=True)
    assert "3 photos added to your cart." in html
    assert badge_count(html) == 3


def test_add_many_skips_photos_not_for_sale_and_rejects_nonsense(client, shop):
    rejected = factories.make_photo(shop.event, shop.photographer, approval="rejected", files=False)
    client.post("/cart/add-many", data={"photo_ids": [shop.photos[0].id, rejected.id, "x", "99999", str(2**40), "-3"]})
    assert badge_count(client.get("/cart").get_data(as_text=True)) == 1
    assert client.post("/cart/add-many", data={"photo_ids": ["nope"]}).status_code == 400
    assert client.post("/cart/add-many", data={}).status_code == 400


def test_photos_withdrawn_from_sale_leave_the_cart(client, shop):
    add_photos(client, shop.photos[:2])
    shop.photos[0].approval_status = ApprovalStatus.REJECTED
    db.session.commit()
    html = client.get("/cart").get_data(as_text=True)
    assert "no longer for sale" in html
    assert 'data-total="10000"' in html
    assert badge_count(client.get("/cart").get_data(as_text=True)) == 1


def test_session_cart_merges_into_the_account_on_login(client, auth, shop):
    customer = factories.make_user("customer")
    db.session.add(CartItem(user_id=customer.id, photo_id=shop.photos[0].id))
    db.session.commit()
    add_photos(client, shop.photos[:3])  # photo 0 is in both carts
    auth.login(customer.email)
    rows = db.session.scalars(select(CartItem.photo_id).where(CartItem.user_id == customer.id)).all()
    assert sorted(rows) == sorted(p.id for p in shop.photos[:3])
    assert badge_count(client.get("/cart").get_data(as_text=True)) == 3
    with client.session_transaction() as sess:
        assert "cart" not in sess
    # The account cart survives signing out and in again.
    auth.logout()
    assert badge_count(client.get("/").get_data(as_text=True)) == 0
    auth.login(customer.email)
    assert badge_count(client.get("/").get_data(as_text=True)) == 3


def test_signed_in_cart_uses_rows(client, auth, shop):
    customer = factories.make_user("customer")
    auth.login(customer.email)
    client.post(f"/cart/photos/{shop.photos[0].id}")
    assert db.session.scalar(select(CartItem.photo_id).where(CartItem.user_id == customer.id)) == shop.photos[0].id
    client.post(f"/cart/photos/{shop.photos[0].id}/remove")
    assert db.session.scalar(select(CartItem.id).where(CartItem.user_id == customer.id)) is None


def test_badge_costs_one_query_signed_in_and_none_anonymous(app, client, auth, shop):
    add_photos(client, shop.photos[:2])
    with count_queries(db.engine) as anonymous:
        html = client.get("/privacy").get_data(as_text=True)
    assert badge_count(html) == 2
    assert anonymous() == 0
    customer = factories.make_user("customer")
    auth.login(customer.email)
    statements = []
    from sqlalchemy import event as sa_event

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", record)
    try:
        html = client.get("/privacy").get_data(as_text=True)
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", record)
    assert badge_count(html) == 2
    assert len([s for s in statements if "cart_items" in s]) == 1


def test_a_double_tap_in_parallel_adds_once(app, shop):
    """Two simultaneous adds of one photo by a signed-in customer: one row, no error."""
    import threading

    customer = factories.make_user("customer")
    clients = [app.test_client() for _ in range(2)]
    for each in clients:
        each.post("/auth/login", data={"email": customer.email, "password": factories.PASSWORD})
    tokens = [each.csrf_token() for each in clients]
    url = f"/cart/photos/{shop.photos[0].id}"
    barrier = threading.Barrier(len(clients))
    statuses = []

    def tap(each, token):
        barrier.wait()
        statuses.append(each.post(url, headers={"X-CSRFToken": token}).status_code)

    threads = [threading.Thread(target=tap, args=pair) for pair in zip(clients, tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert statuses == [302, 302]
    assert db.session.scalar(select(db.func.count(CartItem.id))) == 1

"""POST /api/v1/orders and GET /api/v1/orders/{id}: validation, pricing, access, downloads once paid."""
from urllib.parse import urlparse

import pytest
from sqlalchemy import select

from pixstock import pricing
from pixstock.extensions import db
from pixstock.models import ApiToken, Order
from pixstock.services.storage import get_storage

from . import factories
from .shop_helpers import add_photos, checkout, fake_stripe, shop, stripe_app, stripe_shop  # noqa: F401


def place(client, **body):
    return client.post("/api/v1/orders", json=body)


def bearer(user) -> dict:
    _row, plain = ApiToken.issue(user)
    db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


def pay(client, checkout_url, action="pay"):
    path = urlparse(checkout_url).path
    assert client.get(path).status_code == 200
    return client.post(path, data={"action": action})


def test_place_an_order_and_download_once_paid(client, shop):
    ids = [p.id for p in shop.photos[:2]]
    response = place(client, photo_ids=ids, email="api@example.com")
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) >= {"order_id", "order_token", "checkout_url", "total", "currency"}
    assert body["total"] == 20000 and body["currency"] == "THB" and body["status"] == "pending"
    assert "/checkout/test/" in body["checkout_url"]
    order_url = f"/api/v1/orders/{body['order_id']}?token={body['order_token']}"
    assert response.headers["Location"].endswith(order_url)

    pending = client.get(order_url).get_json()
    assert pending["status"] == "pending"
    assert pending["items"] == [{"photo_id": i, "price": 10000} for i in ids]
    assert pending["downloads"] == [] and pending["zip_url"] is None

    pay(client, body["checkout_url"])
    paid = client.get(order_url).get_json()
    assert paid["status"] == "paid" and paid["paid_at"]
    assert [d["photo_id"] for d in paid["downloads"]] == ids
    original = client.get(urlparse(paid["downloads"][0]["url"]).path)
    assert original.data == get_storage().read_bytes(shop.photos[0].file_path)
    zip_path = urlparse(paid["zip_url"])
    assert client.get(f"{zip_path.path}?{zip_path.query}").status_code == 200


def test_orders_are_private(app, client, shop):
    body = place(client, photo_ids=[shop.photos[0].id], email="api@example.com").get_json()
    order_id = body["order_id"]
    assert client.get(f"/api/v1/orders/{order_id}").status_code == 404
    wrong = client.get(f"/api/v1/orders/{order_id}?token=deadbeef")
    assert wrong.status_code == 404 and wrong.get_json()["error"]["code"]
    assert client.get("/api/v1/orders/99999999999").status_code == 404
    other = factories.make_user("customer")
    assert client.get(f"/api/v1/orders/{order_id}", headers=bearer(other)).status_code == 404
    assert client.get(f"/api/v1/orders/{order_id}", headers={"Authorization": "Bearer pxs_nope"}).status_code == 401


def test_owner_reads_with_their_bearer_token(client, shop):
    customer = factories.make_user("customer", email="owner@example.com")
    headers = bearer(customer)
    response = client.post("/api/v1/orders", json={"photo_ids": [shop.photos[0].id]}, headers=headers)
    assert response.status_code == 201
    order = db.session.get(Order, response.get_json()["order_id"])
    assert order.user_id == customer.id and order.email == "owner@example.com"
    assert client.get(f"/api/v1/orders/{order.id}", headers=headers).get_json()["status"] == "pending"


def test_the_session_cookie_does_not_open_orders_in_the_api(client, shop):
    add_photos(client, shop.photos[:1])
    checkout(client)
    order = db.session.scalar(select(Order))
    assert client.get(f"/orders/{order.id}").status_code == 200  # the browser that placed it
    assert client.get(f"/api/v1/orders/{order.id}").status_code == 404


@pytest.mark.parametrize("body, code", [
    ({}, "invalid_photo_ids"),
    ({"photo_ids": [], "email": "a@example.com"}, "invalid_photo_ids"),
    ({"photo_ids": "1,2", "email": "a@example.com"}, "invalid_photo_ids"),
    ({"photo_ids": [True], "email": "a@example.com"}, "invalid_photo_ids"),
    ({"photo_ids": list(range(1, 300)), "email": "a@example.com"}, "too_many_photos"),
    ({"photo_ids": [1]}, "invalid_email"),
    ({"photo_ids": [1], "email": "not an email"}, "invalid_email"),
    ({"photo_ids": [2**40], "email": "a@example.com"}, "photos_not_for_sale"),
    ({"photo_ids": [1], "email": "a@example.com", "package": "everything"}, "invalid_package"),
    ({"photo_ids": [1], "email": "a@example.com", "package": "all_of_me"}, "invalid_package_token"),
])
def test_bad_requests_are_explained(client, shop, body, code):
    response = place(client, **body)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == code
    assert db.session.scalar(select(Order)) is None


def test_not_json_is_400(client):
    response = client.post("/api/v1/orders", data="photo_ids=1", headers={"Content-Type": "text/plain"})
    assert response.status_code == 400


def test_unsellable_photos_are_named(client, shop):
    pending = factories.make_photo(shop.event, shop.photographer, approval="pending", files=False)
    response = place(client, photo_ids=[shop.photos[0].id, pending.id], email="a@example.com")
    assert response.status_code == 422
    assert response.get_json()["error"]["photo_ids"] == [pending.id]


def test_all_of_me_with_the_face_search_token(client, shop):
    more = factories.make_photos(shop.event, shop.photographer, 6, files=False)
    ids = [p.id for p in shop.photos + more]  # 12 photos: ฿900 in bundles, ฿500 as the package
    token = pricing.sign_all_of_me(shop.event.id, ids)
    body = place(client, photo_ids=ids, email="a@example.com", package="all_of_me", package_token=token).get_json()
    assert body["total"] == 50000 and body["package"] == "all_of_me"
    plain = place(client, photo_ids=ids, email="b@example.com").get_json()
    assert plain["total"] == 2 * 40000 + 2 * 10000 and plain["package"] == "bundle"


def test_stripe_checkout_through_the_api(stripe_app, stripe_shop, fake_stripe):
    client = stripe_app.test_client()
    body = place(client, photo_ids=[p.id for p in stripe_shop.photos[:5]], email="a@example.com").get_json()
    assert body["total"] == 40000
    [request] = fake_stripe.checkout_requests()
    assert body["checkout_url"] == fake_stripe.sessions[db.session.get(Order, body["order_id"]).provider_session_id]["url"]
    assert {k.lower(): v for k, v in request.headers.items()}["idempotency-key"] == f"pixstock-order-{body['order_id']}-checkout"
    fake_stripe.fail_next = 10
    outage = place(client, photo_ids=[stripe_shop.photos[5].id], email="a@example.com")
    assert outage.status_code == 503


def test_openapi_documents_the_order_endpoints(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "post" in spec["paths"]["/orders"]
    assert "get" in spec["paths"]["/orders/{order_id}"]
    assert "Order" in spec["components"]["schemas"]

"""Downloads: originals byte for byte through grants only, limits and expiry, the order page, a streamed ZIP, S3."""
import io
import re
import uuid
import zipfile
from datetime import timedelta

import requests
from sqlalchemy import select

from pixstock import orders
from pixstock.extensions import db
from pixstock.models import DownloadGrant, Order, utcnow
from pixstock.services.mail import read_outbox
from pixstock.services.storage import get_storage
from pixstock.shop.links import grant_token

from . import factories
from .shop_helpers import add_photos, buy, checkout, shop  # noqa: F401


def grant_for(order_id, photo_id) -> DownloadGrant:
    return db.session.scalar(select(DownloadGrant).where(DownloadGrant.order_id == order_id,
                                                         DownloadGrant.photo_id == photo_id))


def test_original_downloads_byte_for_byte(client, shop):
    order_id = buy(client, shop.photos[:2])
    photo = shop.photos[0]
    grant = grant_for(order_id, photo.id)
    response = client.get(f"/downloads/{grant_token(grant)}")
    assert response.status_code == 200
    assert response.data == get_storage().read_bytes(photo.file_path)
    assert response.data[:3] == b"\xff\xd8\xff" and len(response.data) == photo.file_size
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert photo.original_filename in response.headers["Content-Disposition"]
    db.session.refresh(grant)
    assert grant.download_count == 1


def test_download_limit(make_app):
    app = make_app(DOWNLOAD_LIMIT=2)
    with app.app_context():
        photographer = factories.make_user("photographer")
        event = factories.make_event(photographers=[photographer])
        [photo] = factories.make_photos(event, photographer, 1)
        client = app.test_client()
        order_id = buy(client, [photo])
        link = f"/downloads/{grant_token(grant_for(order_id, photo.id))}"
        assert client.get(link).status_code == 200
        # HEAD and the rest of a resumed download are not new downloads.
        assert client.head(link).status_code == 200
        resumed = client.get(link, headers={"Range": "bytes=100-"})
        assert resumed.status_code == 206
        assert client.get(link).status_code == 200
        exhausted = client.get(link)
        assert exhausted.status_code == 410
        assert "maximum of 2 times" in exhausted.get_data(as_text=True)
        assert grant_for(order_id, photo.id).download_count == 2


def test_expired_grant(client, shop):
    order_id = buy(client, shop.photos[:1])
    grant = grant_for(order_id, shop.photos[0].id)
    grant.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = client.get(f"/downloads/{grant_token(grant)}")
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)
    assert client.get(f"/orders/{order_id}/photos.zip").status_code == 410


def test_no_grant_no_original(app, client, shop):
    # Unpaid: there is no grant to name, and nothing else leads to the file.
    add_photos(client, shop.photos[:1])
    checkout(client)
    order = db.session.scalar(select(Order))
    assert order.status.value == "pending"
    page = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "Available once paid" in page and "/downloads/" not in page
    assert client.get(f"/orders/{order.id}/photos.zip").status_code == 410
    assert client.get("/downloads/1").status_code == 404
    assert client.get("/downloads/garbage.token").status_code == 404
    # A token for a real grant id, signed with another key, is worthless.
    paid_id = buy(client, shop.photos[1:2])
    grant = grant_for(paid_id, shop.photos[1].id)
    from itsdangerous import URLSafeSerializer

    forged = URLSafeSerializer("not-the-secret", salt="pixstock-download").dumps(grant.id)
    assert client.get(f"/downloads/{forged}").status_code == 404
    # Originals are not served by any other shop URL.
    body = client.get(f"/orders/{paid_id}").get_data(as_text=True)
    assert shop.photos[1].file_path not in body


def test_another_customers_order_stays_private(app, client, shop, drain):
    order_id = buy(client, shop.photos[:2], email="first@example.com", drain=drain)
    stranger = app.test_client()
    assert stranger.get(f"/orders/{order_id}").status_code == 404
    assert stranger.get(f"/orders/{order_id}/photos.zip").status_code == 404
    assert stranger.get(f"/orders/{order_id}?token=wrong").status_code == 404
    signed_in = factories.make_user("customer")
    stranger.post("/auth/login", data={"email": signed_in.email, "password": factories.PASSWORD})
    assert stranger.get(f"/orders/{order_id}").status_code == 404
    assert f"/orders/{order_id}" not in stranger.get("/orders").get_data(as_text=True)
    # The link in the email opens it, in any browser, and that browser remembers it.
    [mail] = read_outbox(app.config["MAIL_OUTBOX_DIR"])
    text = mail.get_body(("plain",)).get_content()
    order_url = re.search(r"http://localhost(/orders/\d+\?token=[0-9a-f]+)", text).group(1)
    assert stranger.get(order_url).status_code == 200
    assert stranger.get(f"/orders/{order_id}").status_code == 200
    assert "Referrer-Policy" in stranger.get(order_url).headers


def test_order_page_lists_downloads(client, shop):
    order_id = buy(client, shop.photos[:3])
    html = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert html.count("/downloads/") == 3
    assert f"/orders/{order_id}/photos.zip" in html
    for photo in shop.photos[:3]:
        assert photo.original_filename in html


def test_order_token_is_stable_and_only_its_hash_is_stored(client, shop):
    order_id = buy(client, shop.photos[:1])
    order = db.session.get(Order, order_id)
    token = orders.access_token(order)
    assert token == orders.access_token(order)
    assert order.token_hash == Order.hash_token(token) and token not in order.token_hash
    assert order.check_token(token) and not order.check_token(token[:-1] + "0") and not order.check_token(None)


def test_zip_of_fifty_photos_streams_and_is_valid(app, client, shop):
    photos = factories.make_photos(shop.event, shop.photographer, 50)
    order_id = buy(client, photos)
    response = client.get(f"/orders/{order_id}/photos.zip", buffered=False)
    assert response.status_code == 200
    assert response.is_streamed and "Content-Length" not in response.headers
    assert response.mimetype == "application/zip"
    chunks = list(response.response)
    response.close()
    data = b"".join(chunks)
    assert len(chunks) > 50  # built and sent piece by piece, not as one buffer
    assert max(len(chunk) for chunk in chunks) < max(p.file_size for p in photos) + 1024
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    names = archive.namelist()
    assert len(names) == 50 and len(set(names)) == 50
    storage = get_storage()
    for photo in photos:
        assert archive.read(f"{photo.id}-{photo.original_filename}") == storage.read_bytes(photo.file_path)
    counts = {g.download_count for g in db.session.scalars(select(DownloadGrant))}
    assert counts == {1}


def test_s3_originals_redirect_to_a_short_lived_url_and_zip_streams_from_s3(make_app, s3_endpoint):
    app = make_app(STORAGE_BACKEND="s3", S3_BUCKET=f"shop-{uuid.uuid4().hex[:12]}", S3_ENDPOINT_URL=s3_endpoint,
                   S3_ACCESS_KEY_ID="testing", S3_SECRET_ACCESS_KEY="testing", S3_PRESIGN_SECONDS=120)
    with app.app_context():
        get_storage().ensure_bucket()
        photographer = factories.make_user("photographer")
        event = factories.make_event(photographers=[photographer])
        photos = factories.make_photos(event, photographer, 3)
        client = app.test_client()
        order_id = buy(client, photos)
        link = f"/downloads/{grant_token(grant_for(order_id, photos[0].id))}"
        response = client.get(link)
        assert response.status_code == 302
        location = response.headers["Location"]
        assert location.startswith(s3_endpoint) and "X-Amz-Expires=120" in location
        assert requests.get(location, timeout=10).content == get_storage().read_bytes(photos[0].file_path)
        archive = zipfile.ZipFile(io.BytesIO(client.get(f"/orders/{order_id}/photos.zip").data))
        assert archive.read(f"{photos[2].id}-{photos[2].original_filename}") == get_storage().read_bytes(
            photos[2].file_path)

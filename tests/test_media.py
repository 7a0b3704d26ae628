"""Serving photo files: who may fetch what, caching, and originals as attachments."""
import pytest

from pixstock.extensions import db
from pixstock.models import EventStatus, Role

from . import factories


@pytest.fixture
def photographer(app):
    return factories.make_user(Role.PHOTOGRAPHER)


@pytest.fixture
def event(app, photographer):
    return factories.make_event(photographers=[photographer])


def url(photo, name):
    from pixstock.media.routes import photo_url

    return photo_url(photo, name)


@pytest.mark.parametrize("name", ["square_150", "square_300", "medium", "preview"])
def test_anyone_sees_approved_derivatives_cached_for_good(app, client, event, photographer, name):
    photo = factories.make_photo(event, photographer)
    response = client.get(url(photo, name))
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.data[:3] == b"\xff\xd8\xff"
    cache = response.headers["Cache-Control"]
    assert "public" in cache and "immutable" in cache and "max-age=31536000" in cache and "no-cache" not in cache
    etag = response.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith('W/')  # strong
    again = client.get(url(photo, name), headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag


def test_urls_carry_the_version_of_the_file(app, event, photographer):
    photo = factories.make_photo(event, photographer)
    with app.test_request_context():
        assert "?v=" in url(photo, "preview")
        assert url(photo, "original") == f"/media/photos/{photo.id}/original"


def test_original_never_reaches_customers_or_anonymous_visitors(app, client, auth, event, photographer):
    photo = factories.make_photo(event, photographer)
    assert client.get(url(photo, "original")).status_code == 403
    customer = factories.make_user(Role.CUSTOMER)
    auth.login(customer.email)
    assert client.get(url(photo, "original")).status_code == 403
    assert client.get(url(photo, "preview")).status_code == 200


def test_photographer_downloads_their_original_as_an_attachment(app, client, auth, event, photographer):
    photo = factories.make_photo(event, photographer, original_filename="ภาพวิ่ง 01.jpg")
    auth.login(photographer.email)
    response = client.get(url(photo, "original"))
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and "filename*=UTF-8''" in disposition
    assert "private" in response.headers["Cache-Control"]
    from pixstock.services.storage import get_storage

    assert response.data == get_storage().read_bytes(photo.file_path)


@pytest.mark.parametrize("approval", ["pending", "rejected"])
def test_unapproved_photos_are_hidden_except_from_their_owners(app, client, auth, event, photographer, approval):
    photo = factories.make_photo(event, photographer, approval=approval)
    assert client.get(url(photo, "preview")).status_code == 404
    other = factories.make_user(Role.PHOTOGRAPHER)
    auth.login(other.email)
    assert client.get(url(photo, "preview")).status_code == 404
    auth.logout()
    auth.login(photographer.email)
    response = client.get(url(photo, "preview"))
    assert response.status_code == 200
    assert "private" in response.headers["Cache-Control"] and "public" not in response.headers["Cache-Control"]
    auth.logout()
    auth.login(factories.make_user(Role.ADMIN).email)
    assert client.get(url(photo, "original")).status_code == 200


def test_photos_of_an_event_not_on_sale_are_hidden(app, client, photographer):
    event = factories.make_event(EventStatus.PROCESSING, photographers=[photographer])
    photo = factories.make_photo(event, photographer)
    assert client.get(url(photo, "preview")).status_code == 404


@pytest.mark.parametrize("path", ["/media/photos/1/thumbnail", "/media/photos/999/preview",
                                  "/media/photos/99999999999/preview", "/media/photos/1/..%2Foriginal"])
def test_unknown_names_and_photos_are_404(app, client, event, photographer, path):
    factories.make_photo(event, photographer)
    assert client.get(path).status_code == 404


def test_unprocessed_photo_has_no_derivatives_yet(app, client, auth, event, photographer):
    photo = factories.make_photo(event, photographer, files=False)
    photo.derivative_keys = {}
    db.session.commit()
    auth.login(photographer.email)
    assert client.get(f"/media/photos/{photo.id}/preview").status_code == 404

"""The load-and-authorise helpers' edge cases: absurd ids, and who is told 403 rather than 404."""
import pytest

from pixstock.models import ApiToken, EventStatus, Role
from pixstock.extensions import db

from .factories import make_event, make_user


@pytest.mark.parametrize("path", [
    "/api/v1/photos/99999999999", "/api/v1/events/2147483648", "/media/photos/99999999999/preview",
    "/admin/events/99999999999", "/studio/batches/99999999999",
])
def test_ids_beyond_the_database_range_are_404(client, path):
    assert client.get(path).status_code in (404, 302)  # 302: sign-in first for staff pages


def test_absurd_id_is_404_for_signed_in_admin(client, auth):
    auth.login(make_user(Role.ADMIN).email)
    assert client.get("/admin/events/99999999999").status_code == 404


def _bearer(user):
    _row, plain = ApiToken.issue(user)
    db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


@pytest.mark.parametrize("status", [EventStatus.DRAFT, EventStatus.SHOOTING, EventStatus.ON_SALE])
def test_unassigned_photographer_gets_403_on_upload(client, status):
    event = make_event(status)
    headers = _bearer(make_user(Role.PHOTOGRAPHER))
    response = client.post(f"/api/v1/events/{event.id}/photos", headers=headers, data={})
    assert response.status_code == 403 and response.get_json()["error"]


def test_customer_learns_nothing_about_a_draft_event(client):
    event = make_event(EventStatus.DRAFT)
    response = client.post(f"/api/v1/events/{event.id}/photos", headers=_bearer(make_user(Role.CUSTOMER)), data={})
    assert response.status_code in (403, 404)
    assert client.get(f"/api/v1/events/{event.id}", headers=_bearer(make_user(Role.CUSTOMER))).status_code == 404

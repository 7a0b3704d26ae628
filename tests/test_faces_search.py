"""Selfie search on the event page and over the API, with real face_recognition on the labelled photos.

The event holds Howard's photos (two single, three group), other people's, Amy's, and one more photo of Howard
still waiting for approval. Selfies are real photos of the same people that are not in the event.
"""
import io
import re

import pytest
from PIL import Image

from pixstock import pricing
from pixstock.extensions import db
from pixstock.models import ApprovalStatus, EventStatus, Face

from .faces_helpers import AMY, GROUP_SELFIE, HOWARD, HOWARD_SELFIE, NO_FACE, OTHERS, build_event, ingest, read
from .faces_helpers import remember_faces  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow
HTMX = {"HX-Request": "true"}


@pytest.fixture
def event_photos(app, drain, shared_faces, remember_faces):  # noqa: F811
    event, photos = build_event(shared_faces, drain, HOWARD + OTHERS + AMY)
    # One more photo of Howard (re-encoded, so a different file) that no admin has approved yet.
    pending = Image.open(f"{shared_faces}/{HOWARD_SELFIE}").convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    buffer = io.BytesIO()
    pending.save(buffer, "JPEG", quality=92)
    photos["pending"] = ingest(event, event.assignments[0].user, buffer.getvalue(), "pending.jpg")
    drain()
    db.session.expire_all()
    assert photos["pending"].face_count == 1 and photos["pending"].approval_status is ApprovalStatus.PENDING
    return event, photos


def selfie_files(shared_faces, *names):
    return [(io.BytesIO(read(shared_faces, name)), name.rsplit("/", 1)[-1]) for name in names]


def search_page(client, event, files, headers=None, **fields):
    return client.post(f"/e/{event.slug}/find-me", data={"selfie": files, **fields}, headers=headers or {},
                       content_type="multipart/form-data")


def search_api(client, event, files, **fields):
    return client.post(f"/api/v1/events/{event.id}/face-search", data={"selfie": files, **fields},
                       content_type="multipart/form-data")


def found_ids(html: str, band: str | None = None) -> set[int]:
    """Photo ids listed in the results (of one band)."""
    if band is not None:
        section = re.search(rf'data-band="{band}">(.*?)</ul>', html, re.S)
        html = section.group(1) if section else ""
    return {int(value) for value in re.findall(r'data-photo-id="(\d+)"', html)}


def ids(photos, names) -> set[int]:
    return {photos[name].id for name in names}


def test_selfie_finds_the_person_in_single_and_group_photos_and_nobody_else(client, shared_faces, event_photos):
    event, photos = event_photos
    response = search_page(client, event, selfie_files(shared_faces, HOWARD_SELFIE))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" in html  # without JavaScript: the whole page
    assert found_ids(html, "strong") == ids(photos, HOWARD)  # not the pending one, nobody else's
    assert found_ids(html, "maybe") == set()
    assert response.headers["Cache-Control"] == "no-store" and "HX-Request" in response.headers["Vary"]
    # Each photo with the matched face outlined: the stored box, as percentages of the photo.
    group = photos["_group/faceapi_bbt1.jpg"]
    face = db.session.query(Face).filter_by(photo_id=group.id).all()
    styles = re.findall(rf'data-photo-id="{group.id}".*?class="face-box" style="([^"]+)"', html, re.S)
    left, top, width, height = (float(v) for v in re.findall(r"([\d.]+)%", styles[0]))
    assert any(abs(left - 100 * f.left / group.width) < 0.01 and abs(width - 100 * (f.right - f.left) / group.width)
               < 0.01 and abs(top - 100 * f.top / group.height) < 0.01 for f in face)
    assert 0 <= left and left + width <= 100 and 0 <= top and top + height <= 100
    # Add all to cart, as "all photos of me": the form carries a package token for exactly the photos found.
    token = re.search(r'name="package_token" value="([^"]+)"', html).group(1)
    assert pricing.load_all_of_me(token, event.id) == frozenset(ids(photos, HOWARD))
    assert "All photos of me: ฿500" in html


def test_htmx_search_answers_the_results_fragment(client, shared_faces, event_photos):
    event, photos = event_photos
    response = search_page(client, event, selfie_files(shared_faces, HOWARD_SELFIE), headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert found_ids(html) == ids(photos, HOWARD)
    assert 'id="face-picker" hx-swap-oob="true"' in html
    # The form and results sit on the event page itself, ready for htmx.
    page = client.get(f"/e/{event.slug}").get_data(as_text=True)
    assert 'id="face-search-form"' in page and 'capture="user"' in page and 'accept="image/*"' in page
    assert "never stored" in page and 'hx-post="/e/' in page


def test_several_selfies_find_anyone_close_and_agreement_ranks_higher(client, shared_faces, event_photos):
    event, photos = event_photos
    two_people = search_api(client, event, selfie_files(shared_faces, HOWARD_SELFIE, "bbt_amy/1.png")).get_json()
    assert {m["photo_id"] for m in two_people["matches"]} == ids(photos, HOWARD + AMY + ["_group/faceapi_bbt4.jpg"])
    assert two_people["faces_in_selfie"] == 2

    one = {m["photo_id"]: m["score"] for m in search_api(client, event, selfie_files(shared_faces, HOWARD_SELFIE))
           .get_json()["matches"]}
    both = {m["photo_id"]: m["score"] for m in search_api(
        client, event, selfie_files(shared_faces, HOWARD_SELFIE, "bbt_howard/4.png")).get_json()["matches"]}
    assert set(one) == set(both) == ids(photos, HOWARD)
    assert all(both[photo] <= one[photo] + 1e-9 for photo in one)
    assert any(both[photo] < one[photo] for photo in one)

    too_many = search_api(client, event, selfie_files(shared_faces, *([HOWARD_SELFIE] * 4)))
    assert too_many.status_code == 422 and too_many.get_json()["error"]["code"] == "too_many_selfies"


def test_a_selfie_without_a_face_or_not_an_image_says_why(client, shared_faces, event_photos):
    event, _photos = event_photos
    page = search_page(client, event, selfie_files(shared_faces, NO_FACE))
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and "We could not find a face in photo 1." in html
    assert "Take off sunglasses" in html and "<html" in html

    fragment = search_page(client, event, selfie_files(shared_faces, NO_FACE), headers=HTMX)
    assert fragment.status_code == 422 and 'role="alert"' in fragment.get_data(as_text=True)

    api = search_api(client, event, selfie_files(shared_faces, HOWARD_SELFIE, NO_FACE))
    assert api.status_code == 422
    assert api.get_json()["error"] == {"code": "no_face", "message": "We could not find a face in photo 2.",
                                       "selfie": 2}
    not_image = search_api(client, event, [(io.BytesIO(b"%PDF-1.7 not a photo" * 50), "me.jpg")])
    assert not_image.status_code == 422 and not_image.get_json()["error"]["code"] == "not_an_image"
    missing = search_api(client, event, [])
    assert missing.status_code == 422 and missing.get_json()["error"]["code"] == "missing_selfie"
    assert search_page(client, event, []).status_code == 422


def test_a_selfie_with_several_faces_uses_the_largest_and_offers_the_others(client, shared_faces, event_photos):
    event, photos = event_photos
    group = selfie_files(shared_faces, GROUP_SELFIE)
    html = search_page(client, event, group, headers=HTMX).get_data(as_text=True)
    thumbnails = re.findall(r'<img src="data:image/jpeg;base64,[^"]+"', html)
    assert len(thumbnails) == 5  # five people: their faces, cropped in memory, to pick from
    assert 'name="chosen" value="1:0"' in html and 'value="1:4"' in html

    answers = [search_api(client, event, selfie_files(shared_faces, GROUP_SELFIE), face=f"1:{n}").get_json()
               for n in range(5)]
    assert [answer["selfies"] for answer in answers] == [[{"faces": 5, "used_face": n}] for n in range(5)]
    assert answers[0]["faces_in_selfie"] == 5
    found = [{m["photo_id"] for m in answer["matches"]} for answer in answers]
    assert len({frozenset(f) for f in found}) == 5  # each face finds different photos
    assert sum(ids(photos, HOWARD) <= f for f in found) == 1  # and exactly one of them is Howard
    # Picking a face on the page (the picker's button) searches for that face instead.
    howard = next(n for n, f in enumerate(found) if ids(photos, HOWARD) <= f)
    picked = search_page(client, event, selfie_files(shared_faces, GROUP_SELFIE), headers=HTMX,
                         chosen="1:0", face=f"1:{howard}").get_data(as_text=True)
    assert found_ids(picked) == found[howard]
    assert f'name="chosen" value="1:{howard}"' in picked


def test_api_contract_and_openapi(client, shared_faces, event_photos):
    event, photos = event_photos
    response = search_api(client, event, selfie_files(shared_faces, HOWARD_SELFIE))
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"matches", "faces_in_selfie", "selfies"} and body["faces_in_selfie"] == 1
    assert [m["score"] for m in body["matches"]] == sorted(m["score"] for m in body["matches"])
    for match in body["matches"]:
        assert set(match) == {"photo_id", "score", "band", "box", "preview_url"}
        assert match["band"] == "strong" and 0 <= match["score"] <= 0.5
        boxes = [f.box for f in db.session.query(Face).filter_by(photo_id=match["photo_id"])]
        assert match["box"] in boxes
        assert match["preview_url"].startswith("http://localhost/media/photos/")
        preview = client.get(match["preview_url"].removeprefix("http://localhost"))
        assert preview.status_code == 200 and preview.mimetype == "image/jpeg"

    spec = client.get("/api/v1/openapi.json").get_json()
    operation = spec["paths"]["/events/{event_id}/face-search"]["post"]
    assert {"200", "422", "429"} <= set(operation["responses"])
    assert "multipart/form-data" in operation["requestBody"]["content"]
    assert spec["components"]["schemas"]["FaceMatch"]["required"] == ["photo_id", "score", "band", "box",
                                                                      "preview_url"]

    # Only events on sale, with their face data: a draft is unknown, a deleted index says so.
    from pixstock.faces.indexing import delete_event_face_data
    from pixstock.services import faces as face_service

    assert event.id in face_service._indexes  # searching cached the event's encodings in this process
    delete_event_face_data(event.id)
    assert event.id not in face_service._indexes  # and deleting them drops that copy too
    gone = search_api(client, event, selfie_files(shared_faces, HOWARD_SELFIE))
    assert gone.status_code == 409 and gone.get_json()["error"]["code"] == "face_search_unavailable"
    assert client.get(f"/e/{event.slug}/find-me").status_code == 404
    assert 'id="face-search-form"' not in client.get(f"/e/{event.slug}").get_data(as_text=True)
    event.status = EventStatus.PROCESSING
    db.session.commit()
    assert search_api(client, event, selfie_files(shared_faces, HOWARD_SELFIE)).status_code == 404


def test_searches_are_rate_limited_per_client_across_page_and_api(make_app, shared_faces):
    app = make_app(FACE_SEARCH_RATE_LIMIT="3 per minute")
    client = app.test_client()
    with app.app_context():
        from . import factories

        event = factories.make_event()
        slug, event_id = event.slug, event.id
    # Requests count whatever they carry, so these need no face detection.
    assert client.post(f"/api/v1/events/{event_id}/face-search", data={}).status_code == 422
    assert client.post(f"/e/{slug}/find-me", data={}, content_type="multipart/form-data").status_code == 422
    assert client.post(f"/api/v1/events/{event_id}/face-search", data={}).status_code == 422
    over = client.post(f"/api/v1/events/{event_id}/face-search", data={})
    assert over.status_code == 429 and over.get_json()["error"]["code"] == "too_many_requests"
    assert client.post(f"/e/{slug}/find-me", data={}, content_type="multipart/form-data").status_code == 429
    # Another client is not held back, and reading the form page is not a search.
    other = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.post(f"/api/v1/events/{event_id}/face-search", data={}, environ_base=other).status_code == 422
    assert client.get(f"/e/{slug}/find-me").status_code == 200


def test_the_privacy_page_says_what_face_search_does_in_english_and_thai(client):
    english = client.get("/privacy").get_data(as_text=True)
    assert "used once, in memory" in english and "never stored, logged or used for anything else" in english
    assert "30 days after the event closes or its sales end" in english
    assert "An admin can delete an event's face data at any time." in english
    assert "limited to a few searches a minute from each device" in english
    client.post("/auth/language", data={"locale": "th"})
    thai = client.get("/privacy").get_data(as_text=True)
    assert "ใช้เพียงครั้งเดียวในหน่วยความจำ" in thai and "30 วันหลังจากงานปิด" in thai
    assert "ไม่กี่ครั้งต่อนาทีจากแต่ละอุปกรณ์" in thai and "limited to a few searches" not in thai

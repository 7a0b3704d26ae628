"""A photographer uploads 20 photos in Chromium, reloads the page halfway, chooses the files again,
and watches all 20 become ready: finished files are skipped, the unfinished one resumes."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from pixstock.extensions import db
from pixstock.models import Photo, ProcessingStatus, Role, Upload
from pixstock.studio.samples import sample_jpeg

from . import factories
from .conftest import LiveServer

pytestmark = pytest.mark.browser

COUNT = 20


@pytest.fixture
def upload_server(make_app):
    """The app served over HTTP with its in-process worker, taking small chunks so uploads take a while."""
    app = make_app(JOBS_WORKER_THREAD=True, UPLOAD_CHUNK_BYTES=48 * 1024)
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def photo_files(tmp_path):
    """Twenty camera JPEGs on disk (files keep their modification time, which the fingerprint uses)."""
    paths = []
    for n in range(COUNT):
        path = tmp_path / f"IMG_{n + 1:04d}.JPG"
        path.write_bytes(sample_jpeg(100 + n, size=(1400, 933), quality=92))
        paths.append(str(path))
    return paths


def test_upload_twenty_reload_halfway_resume_and_see_all_ready(upload_server, page, photo_files):
    with upload_server.app.app_context():
        photographer = factories.make_user(Role.PHOTOGRAPHER)
        event = factories.make_event(photographers=[photographer], name="Chiang Mai Trail Run")
        email = photographer.email
    base = upload_server.url
    page.on("dialog", lambda dialog: dialog.accept())  # "uploads are still running, leave?"

    page.goto(f"{base}/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/studio/")
    page.get_by_role("link", name="Chiang Mai Trail Run").click()
    page.get_by_role("button", name="Upload new photos").click()
    expect(page.get_by_role("heading", name=re.compile("Upload photos"))).to_be_visible()
    expect(page.locator("#uploader[data-ready]")).to_be_attached()  # upload.js took over the form
    expect(page.get_by_role("button", name="Upload", exact=True)).to_be_hidden()
    batch_url = page.url

    page.locator("[data-file-input]").set_input_files(photo_files)
    rows = page.locator("li.file")
    expect(rows).to_have_count(COUNT)
    # Halfway: some files finished, some not started or in flight.
    finished = page.locator('li.file[data-status="ready"], li.file[data-status="processing"]')
    page.wait_for_function(
        """() => {
            const done = document.querySelectorAll('li.file[data-status="ready"], li.file[data-status="processing"]').length;
            return done >= 5 && done <= 15;
        }""", timeout=20_000)
    page.reload()
    expect(page.locator("#uploader[data-ready]")).to_be_attached()

    # The page shows the server's view: only files the server knows, the unfinished one paused.
    assert page.url == batch_url
    known = rows.count()
    assert 5 <= known < COUNT
    assert finished.count() >= 5
    expect(page.locator("[data-count='total']")).to_have_text(str(known))

    # Choose all twenty again: finished ones are skipped, the rest go up (a paused one resumes).
    page.locator("[data-file-input]").set_input_files(photo_files)
    expect(page.locator("[data-overall-text]")).to_contain_text("already uploaded")
    expect(rows).to_have_count(COUNT)
    expect(page.locator('li.file[data-status="ready"]')).to_have_count(COUNT, timeout=60_000)
    expect(page.locator("[data-count='ready']")).to_have_text(str(COUNT))
    expect(page.locator("li.file .thumb img")).to_have_count(COUNT)

    with upload_server.app.app_context():
        assert db.session.scalar(select(func.count(Photo.id))) == COUNT  # nothing lost, nothing twice
        assert db.session.scalar(select(func.count(Upload.id))) == COUNT
        assert {p.processing_status for p in db.session.scalars(select(Photo))} == {ProcessingStatus.READY}
        assert sorted(p.original_filename for p in db.session.scalars(select(Photo))) == [
            f"IMG_{n + 1:04d}.JPG" for n in range(COUNT)]


def test_connection_gives_up_then_retry_failed_resumes_only_that_file(upload_server, page, photo_files):
    with upload_server.app.app_context():
        photographer = factories.make_user(Role.PHOTOGRAPHER)
        event = factories.make_event(photographers=[photographer])
        email, event_id = photographer.email, event.id
    base = upload_server.url
    page.add_init_script("window.pixstockRetryDelays = [100, 200]")  # give up quickly
    page.goto(f"{base}/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/studio/events/{event_id}/uploads")
    page.get_by_role("button", name="Upload new photos").click()
    expect(page.locator("#uploader[data-ready]")).to_be_attached()

    # The hotel Wi-Fi drops every chunk of one file after its first.
    failing = {}

    def flaky(route):
        upload_id = route.request.url.rsplit("/", 1)[1]
        offset = int(route.request.headers.get("upload-offset", "0"))
        if failing.setdefault("id", upload_id) == upload_id and offset > 0:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/studio/uploads/*", flaky)
    files = photo_files[:4]
    page.locator("[data-file-input]").set_input_files(files)
    expect(page.locator('li.file[data-status="error"]')).to_have_count(1, timeout=30_000)
    expect(page.locator('li.file[data-status="ready"]')).to_have_count(3, timeout=30_000)
    broken = page.locator('li.file[data-status="error"]')
    expect(broken).to_contain_text("Upload failed")
    offset_before = int(broken.get_attribute("data-offset"))
    assert offset_before > 0  # its first chunk made it

    page.unroute("**/studio/uploads/*")
    page.get_by_role("button", name="Retry failed").click()
    expect(page.locator('li.file[data-status="ready"]')).to_have_count(4, timeout=30_000)
    with upload_server.app.app_context():
        assert db.session.scalar(select(func.count(Photo.id))) == 4
        assert db.session.scalar(select(func.count(Upload.id))) == 4  # the same upload resumed, not a new one

"""process_photo and its sweeper: metadata and orientation, idempotence, retries, S3, real RQ workers,
a worker killed mid-job, and live progress over Socket.IO in both modes."""
import io
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from PIL import Image
from sqlalchemy import select

from pixstock.extensions import db, socketio
from pixstock.models import ApiToken, Photo, ProcessingStatus, Role
from pixstock.services.storage import get_storage
from pixstock.studio.samples import sample_jpeg
from pixstock.tasks import images

from . import factories

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bearer(user) -> dict:
    _row, plain = ApiToken.issue(user, "camera")
    db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


def staff():
    photographer = factories.make_user(Role.PHOTOGRAPHER)
    event = factories.make_event(photographers=[photographer])
    return photographer, event


def post_photo(client, event, headers, data, name="IMG.jpg"):
    response = client.post(f"/api/v1/events/{event.id}/photos", data={"file": (io.BytesIO(data), name)},
                           headers=headers, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    return db.session.get(Photo, response.get_json()["id"])


def csrf_token(client) -> str:
    """The session's CSRF token, read from a studio page's hx-headers."""
    page = client.get("/studio/").get_data(as_text=True)
    return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


def storage_files(app, prefix=""):
    root = app.config["STORAGE_DIR"]
    found = []
    for directory, _dirs, files in os.walk(root):
        found += [os.path.relpath(os.path.join(directory, f), root).replace(os.sep, "/") for f in files]
    return sorted(f for f in found if f.startswith(prefix))


# --- what the job does ----------------------------------------------------------------------------------


def test_orientation_metadata_and_clean_derivatives(app, client, drain):
    photographer, event = staff()
    # Shot with the camera turned: the pixels are stored sideways and EXIF says "rotate 90° to view".
    data = sample_jpeg(31, size=(1800, 1200), orientation=6, gps=(13.7307, 100.5418),
                       taken_at=datetime(2025, 3, 2, 6, 15, 30, tzinfo=timezone(timedelta(hours=7))),
                       camera=("SONY", "ILCE-7M4", "FE 24-70mm F2.8 GM II"))
    assert Image.open(io.BytesIO(data)).size == (1200, 1800)
    photo = post_photo(client, event, bearer(photographer), data)
    drain()
    db.session.refresh(photo)
    assert photo.processing_status is ProcessingStatus.READY
    assert (photo.width, photo.height) == (1800, 1200)
    assert photo.camera_model == "SONY ILCE-7M4"
    assert photo.taken_at == datetime(2025, 3, 1, 23, 15, 30, tzinfo=timezone.utc)
    assert photo.sort_at == photo.taken_at
    meta = photo.metadata_json
    assert meta["lens"] == "FE 24-70mm F2.8 GM II" and meta["taken_at"] == "2025-03-02T06:15:30+07:00"
    assert {"iso", "exposure_time", "f_number", "focal_length"} <= set(meta)
    assert meta["gps"]["longitude"] == pytest.approx(100.5418, abs=1e-4)

    storage = get_storage()
    sizes = {}
    for name, key in photo.derivative_keys.items():
        image = Image.open(io.BytesIO(storage.read_bytes(key)))
        sizes[name] = image.size
        # Nothing of the original's metadata travels: no EXIF (so no GPS), no ICC, no comments.
        assert not image.getexif() and "icc_profile" not in image.info and "exif" not in image.info
    assert sizes["square_150"] == (150, 150) and sizes["square_300"] == (300, 300)
    assert sizes["medium"][0] == 800 and sizes["medium"][1] in (533, 534)
    assert max(sizes["preview"]) in range(1440, 1601) and sizes["preview"][0] > sizes["preview"][1]
    # Upright: sky on top, road at the bottom.
    preview = Image.open(io.BytesIO(storage.read_bytes(photo.derivative_keys["preview"]))).convert("RGB")
    top = preview.crop((0, 0, preview.width, preview.height // 10)).resize((1, 1)).getpixel((0, 0))
    bottom = preview.crop((0, preview.height * 9 // 10, preview.width, preview.height)).resize((1, 1)).getpixel((0, 0))
    assert sum(top) > sum(bottom) + 120


def test_job_is_idempotent_and_a_new_watermark_replaces_the_files(app, client, drain):
    photographer, event = staff()
    photo = post_photo(client, event, bearer(photographer), sample_jpeg(32, size=(1200, 800)))
    drain()
    db.session.refresh(photo)
    first_keys = dict(photo.derivative_keys)
    before = storage_files(app, f"events/{event.id}/")
    assert images.process_photo(photo.id) == "ready"  # already done: left alone
    assert images.process_photo(photo.id, force=True) == "ready"
    db.session.expire_all()
    assert photo.derivative_keys == first_keys  # same bytes, same keys
    assert storage_files(app, f"events/{event.id}/") == before  # nothing duplicated
    assert len(before) == 5  # the original and four derivatives

    event.watermark_text = "Bangkok Marathon 2025"
    db.session.commit()
    images.process_photo(photo.id, force=True)
    db.session.expire_all()
    assert photo.derivative_keys["preview"] != first_keys["preview"]
    assert photo.derivative_keys["square_150"] == first_keys["square_150"]  # not watermarked
    assert storage_files(app, f"events/{event.id}/") == sorted(
        [photo.file_path] + list(photo.derivative_keys.values()))


def test_transient_errors_retry_and_permanent_ones_fail_with_a_reason(app, client, drain, monkeypatch):
    from rq.registry import ScheduledJobRegistry

    from pixstock.tasks.queue import jobs

    photographer, event = staff()
    photo = post_photo(client, event, bearer(photographer), sample_jpeg(33, size=(640, 480)))
    storage = get_storage()
    real_put = storage.put_bytes
    monkeypatch.setattr(storage, "put_bytes", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    drain()
    db.session.expire_all()
    assert photo.processing_status is ProcessingStatus.PROCESSING and photo.processing_attempts == 1
    # RQ keeps the job for a retry with backoff.
    assert len(ScheduledJobRegistry(queue=jobs().queue("images"))) == 1
    monkeypatch.setattr(storage, "put_bytes", real_put)
    assert images.process_photo(photo.id) == "ready"

    # A file that passed validation but cannot be decoded later fails for good, with its reason.
    broken = post_photo(client, event, bearer(photographer), sample_jpeg(34, size=(640, 480)))
    with open(storage.local_path(broken.file_path), "r+b") as handle:
        handle.truncate(5000)
    assert images.process_photo(broken.id) == "failed"
    db.session.expire_all()
    assert broken.failure_reason == "The image is truncated or corrupt."

    # A photo that keeps failing stops being retried.
    monkeypatch.setattr(storage, "put_bytes", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    stubborn = post_photo(client, event, bearer(photographer), sample_jpeg(35, size=(640, 480)))
    for _ in range(images.MAX_ATTEMPTS - 1):
        with pytest.raises(OSError):
            images.process_photo(stubborn.id)
    assert images.process_photo(stubborn.id) == "failed"
    db.session.expire_all()
    assert stubborn.processing_status is ProcessingStatus.FAILED and "several times" in stubborn.failure_reason


def test_sweeper_requeues_lost_jobs_but_not_waiting_ones(app, client, drain):
    from pixstock.tasks.queue import jobs

    photographer, event = staff()
    headers = bearer(photographer)
    waiting = post_photo(client, event, headers, sample_jpeg(36, size=(640, 480)))
    lost = post_photo(client, event, headers, sample_jpeg(37, size=(640, 480)))
    # Redis lost the second photo's job (a restart), and a worker died processing the first.
    queue = jobs().queue("images")
    for job_id in queue.get_job_ids():
        if job_id.startswith(f"{images.JOB_ID_PREFIX}{lost.id}-"):
            queue.remove(job_id)
    assert images.sweep_stuck_photos(timedelta(minutes=10)) == 0  # too recent to call stuck
    assert images.sweep_stuck_photos(timedelta(0)) == 1  # the lost one; the other's job is still queued
    drain()
    db.session.expire_all()
    assert {waiting.processing_status, lost.processing_status} == {ProcessingStatus.READY}
    assert queue.count == 0


# --- S3 -------------------------------------------------------------------------------------------------


def test_upload_process_and_serve_through_s3(make_app, s3_endpoint):
    app = make_app(STORAGE_BACKEND="s3", S3_BUCKET=f"pixstock-{uuid.uuid4().hex[:12]}", S3_ENDPOINT_URL=s3_endpoint,
                   S3_ACCESS_KEY_ID="testing", S3_SECRET_ACCESS_KEY="testing", S3_REGION="ap-southeast-1")
    with app.app_context():
        storage = get_storage()
        storage.ensure_bucket()
        photographer, event = staff()
        client = app.test_client()
        data = sample_jpeg(38, size=(1200, 800))
        photo = post_photo(client, event, bearer(photographer), data)
        assert storage.read_bytes(photo.file_path) == data
        assert not os.path.exists(app.config["STORAGE_DIR"])  # nothing on local disk
        app.extensions["pixstock_jobs"].drain()
        db.session.refresh(photo)
        assert photo.processing_status is ProcessingStatus.READY
        keys = {item["Key"] for item in storage.client.list_objects_v2(Bucket=storage.bucket)["Contents"]}
        assert keys == {photo.file_path, *photo.derivative_keys.values()}
        assert storage.client.head_object(Bucket=storage.bucket, Key=photo.derivative_keys["preview"])[
            "ContentType"] == "image/jpeg"

        client.post("/auth/login", data={"email": photographer.email, "password": factories.PASSWORD})
        preview = client.get(f"/media/photos/{photo.id}/preview")
        assert preview.status_code == 200 and preview.data == storage.read_bytes(photo.derivative_keys["preview"])
        assert "immutable" in preview.headers["Cache-Control"]
        original = client.get(f"/media/photos/{photo.id}/original")
        assert original.status_code == 302 and original.location.startswith(s3_endpoint)
        assert "X-Amz-Expires=300" in original.location and "no-store" in original.headers["Cache-Control"]
        download = requests.get(original.location, timeout=10)
        assert download.content == data
        assert "attachment" in download.headers["Content-Disposition"]


# --- real RQ workers on the machine's Redis ---------------------------------------------------------------


def worker_env(app, database_url, redis_url) -> dict:
    return dict(os.environ, REDIS_URL=redis_url, DATABASE_URL=database_url, PIXSTOCK_DATA_DIR=app.config["DATA_DIR"],
                STORAGE_DIR=app.config["STORAGE_DIR"], UPLOAD_DIR=app.config["UPLOAD_DIR"],
                SECRET_KEY=app.config["SECRET_KEY"], PIXSTOCK_JOBS_THREAD="0",
                SOCKETIO_CHANNEL=app.config["SOCKETIO_CHANNEL"])


def run_worker(env, burst=True, mode="--no-fork"):
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "pixstock", "worker", "-q", "images", mode]
    if burst:
        return subprocess.run(command + ["--burst"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["--no-fork", "--fork"])
def test_job_runs_in_a_real_rq_worker_process(make_app, database_url, redis_url, mode):
    app = make_app(REDIS_URL=redis_url)
    with app.app_context():
        photographer, event = staff()
        photo = post_photo(app.test_client(), event, bearer(photographer), sample_jpeg(39, size=(1200, 800)))
        result = run_worker(worker_env(app, database_url, redis_url), mode=mode)
        assert result.returncode == 0, result.stderr
        db.session.refresh(photo)
        assert photo.processing_status is ProcessingStatus.READY
        assert len(photo.derivative_keys) == 4


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["--no-fork", "--fork"])
def test_worker_killed_mid_job_and_the_sweeper_finishes_the_photo(make_app, database_url, redis_url, mode):
    app = make_app(REDIS_URL=redis_url)
    with app.app_context():
        photographer, event = staff()
        client, headers = app.test_client(), bearer(photographer)
        # Big enough that each job takes a while, so the kill lands inside one.
        photos = [post_photo(client, event, headers, sample_jpeg(40 + i, size=(4800, 3200), quality=95))
                  for i in range(3)]
        env = worker_env(app, database_url, redis_url)
        worker = run_worker(env, burst=False, mode=mode)
        deadline = time.time() + 90
        processing = []
        while time.time() < deadline and not processing:
            db.session.rollback()
            processing = db.session.scalars(
                select(Photo.id).where(Photo.processing_status == ProcessingStatus.PROCESSING)).all()
            time.sleep(0.01)
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work horse, no goodbye
        worker.wait(10)
        assert processing, "the worker never started a job: " + worker.stderr.read().decode()[-3000:]
        db.session.rollback()
        stuck = db.session.get(Photo, processing[0])
        assert stuck.processing_status is ProcessingStatus.PROCESSING  # and nothing will ever finish it...

        assert images.sweep_stuck_photos(timedelta(0)) >= 1  # ...until the sweeper re-queues it
        result = run_worker(env)
        assert result.returncode == 0, result.stderr
        db.session.rollback()
        for photo in photos:
            db.session.refresh(photo)
            assert photo.processing_status is ProcessingStatus.READY
        prefix = f"events/{event.id}/photos/"
        assert len(storage_files(app, prefix)) == 4 * len(photos)  # no duplicates from the killed attempt


# --- live progress ---------------------------------------------------------------------------------------


def test_socket_clients_receive_photo_status_and_approval_count_in_process(make_app):
    # No app context stays pushed around the socket calls: each handler call must see its own user,
    # as it does in production, rather than the one Flask-Login cached in a shared context.
    app = make_app()
    with app.app_context():
        photographer, event = staff()
        admin = factories.make_user(Role.ADMIN)
        accounts = (photographer.email, admin.email, event.id)
    client, admin_client = app.test_client(), app.test_client()
    for http, email in ((client, accounts[0]), (admin_client, accounts[1])):
        http.post("/auth/login", data={"email": email, "password": factories.PASSWORD})
    batch = client.post(f"/studio/events/{accounts[2]}/batches")
    batch_id = int(batch.headers["Location"].rsplit("/", 1)[1])

    watcher = socketio.test_client(app, flask_test_client=client)
    assert watcher.emit("join_batch", {"batch_id": batch_id}, callback=True) == {"ok": True, "uploads": []}
    admins = socketio.test_client(app, flask_test_client=admin_client)
    assert admins.emit("join_admins", {}, callback=True) == {"ok": True, "pending": 0}
    outsider = socketio.test_client(app)
    assert outsider.emit("join_batch", {"batch_id": batch_id}, callback=True) == {"ok": False}
    assert outsider.emit("join_admins", {}, callback=True) == {"ok": False}
    assert watcher.emit("join_admins", {}, callback=True) == {"ok": False}  # photographers are not admins

    data = sample_jpeg(44, size=(640, 480))
    headers = {"X-CSRFToken": csrf_token(client)}
    state = client.post(f"/studio/batches/{batch_id}/uploads",
                        json={"filename": "a.jpg", "size": len(data), "fingerprint": "a"}, headers=headers).get_json()
    client.patch(f"/studio/uploads/{state['id']}", data=data, headers={**headers, "Upload-Offset": "0"})
    with app.app_context():
        app.extensions["pixstock_jobs"].drain()
    events = [(e["name"], e["args"][0]) for e in watcher.get_received()]
    statuses = [d["status"] for name, d in events if name == "photo_status"]
    # Then face indexing announces the face status, still "ready" (once per update).
    assert statuses[:3] == ["received", "processing", "ready"] and set(statuses[3:]) <= {"ready"}
    ready = [d for name, d in events if name == "photo_status" and d["status"] == "ready"][0]
    assert ready["upload_id"] == state["id"] and ready["batch_id"] == batch_id
    assert ready["thumb_url"].startswith(f"/media/photos/{ready['photo_id']}/square_150?v=")
    assert ready["face_status"] == "pending" and ready["failure_reason"] is None
    assert [e["args"][0] for e in admins.get_received() if e["name"] == "approval_count"] == [{"pending": 1}]
    assert outsider.get_received() == []
    # A page that reconnects asks about the files it still shows as processing.
    reply = watcher.emit("join_batch", {"batch_id": batch_id, "watch": [state["id"]]}, callback=True)
    assert reply["uploads"][0]["status"] == "ready"


def _login_session(base_url, email):
    session = requests.Session()
    page = session.get(f"{base_url}/auth/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|"X-CSRFToken": "([^"]+)"', page)
    csrf = token.group(1) or token.group(2)
    response = session.post(f"{base_url}/auth/login", data={"email": email, "password": factories.PASSWORD,
                                                             "csrf_token": csrf}, timeout=10)
    assert response.ok
    return session


@pytest.mark.slow
def test_socket_client_receives_progress_from_a_separate_worker_through_redis(make_app, database_url, redis_url):
    import socketio as socketio_client

    from .conftest import LiveServer

    app = make_app(REDIS_URL=redis_url)
    server = LiveServer(app).start()
    try:
        with app.app_context():
            photographer, event = staff()
            headers = bearer(photographer)
            email, event_id = photographer.email, event.id
        session = _login_session(server.url, email)
        batch = requests.post(f"{server.url}/api/v1/events/{event_id}/batches", headers=headers, timeout=10).json()
        received = []
        sio = socketio_client.Client()
        sio.on("photo_status", lambda data: received.append(data))
        cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
        sio.connect(server.url, headers={"Cookie": cookie}, transports=["polling"], wait_timeout=10)
        assert sio.call("join_batch", {"batch_id": batch["id"]}, timeout=10)["ok"]

        data = sample_jpeg(45, size=(800, 600))
        created = requests.post(f"{server.url}/api/v1/batches/{batch['id']}/uploads", headers=headers, timeout=10,
                                json={"filename": "b.jpg", "size": len(data), "fingerprint": "b"}).json()
        requests.patch(f"{server.url}/api/v1/uploads/{created['id']}", data=data, timeout=30,
                       headers={**headers, "Upload-Offset": "0"}).raise_for_status()
        result = run_worker(worker_env(app, database_url, redis_url))
        assert result.returncode == 0, result.stderr
        deadline = time.time() + 15
        while time.time() < deadline and not any(r["status"] == "ready" for r in received):
            time.sleep(0.1)
        sio.disconnect()
        statuses = [r["status"] for r in received]
        assert statuses[-2:] == ["processing", "ready"], statuses  # emitted by the worker, through Redis
        assert received[-1]["upload_id"] == created["id"]
    finally:
        server.stop()


# --- the demo's photos ------------------------------------------------------------------------------------


def test_demo_photos_go_through_upload_and_processing(app, runner, client):
    result = runner.invoke(args=["pixstock", "demo", "--photos", "5"])
    assert result.exit_code == 0, result.output
    photos = db.session.scalars(select(Photo).order_by(Photo.id)).all()
    assert len(photos) == 5 and len({p.sha256 for p in photos}) == 5
    assert {p.processing_status for p in photos} == {ProcessingStatus.READY}
    assert {p.approval_status.value for p in photos} == {"approved"}
    assert all(p.camera_model and p.taken_at and p.metadata_json.get("lens") for p in photos)
    assert any(p.height > p.width for p in photos)  # a camera turned sideways, shown upright
    assert photos[0].event.cover_photo_id == photos[0].id
    # Customers see them through the media blueprint.
    from pixstock.media.routes import photo_url

    with app.test_request_context():
        url = photo_url(photos[0], "preview")
    assert client.get(url).status_code == 200
    # Run again: nothing is added twice.
    assert runner.invoke(args=["pixstock", "demo", "--photos", "5"]).exit_code == 0
    assert len(db.session.scalars(select(Photo)).all()) == 5

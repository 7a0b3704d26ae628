"""The selfie is discarded when the answer is sent: no file, row, log line or queue entry keeps anything of it.

A Python audit hook sees every file this process opens for writing while the search runs (temporary files
included, even the unnamed O_TMPFILE ones /tmp listings never show); the database, the storage and outbox
folders, the job queues' Redis and the captured logs are compared before and after.
"""
import io
import logging
import os
import sys

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import EnvironBuilder, encode_multipart
from werkzeug.wrappers import Request as PlainRequest

from pixstock.extensions import db
from pixstock.tasks.queue import jobs

from .faces_helpers import HOWARD, HOWARD_SELFIE, build_event
from .faces_helpers import remember_faces  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow
_writes: list | None = None
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_TMPFILE", 0)


def _audit(event: str, args) -> None:
    if _writes is None or event != "open":
        return
    path, mode, flags = args
    if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (isinstance(flags, int) and flags & WRITE_FLAGS):
        _writes.append(path)


sys.addaudithook(_audit)  # audit hooks cannot be removed: it records only while _writes is a list


class WritesRecorded:
    """Record the paths this process opens for writing inside the block."""

    def __enter__(self):
        global _writes
        _writes = []
        return self

    def __exit__(self, *exc):
        global _writes
        self.paths, _writes = _writes, None


def large_selfie(shared_faces) -> bytes:
    """Howard's selfie as a ~1.4 MB PNG (a phone selfie's size): far past Werkzeug's 500 KB in-memory limit."""
    image = Image.open(f"{shared_faces}/{HOWARD_SELFIE}").convert("RGB").resize((900, 900), Image.Resampling.LANCZOS)
    noise = np.random.default_rng(7).integers(-6, 7, size=(900, 900, 3))
    image = Image.fromarray(np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def table_counts() -> dict[str, int]:
    return {table.name: db.session.scalar(select(func.count()).select_from(table))
            for table in db.metadata.sorted_tables}


def files_under(root: str) -> dict[str, int]:
    found = {}
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            found[path] = os.path.getsize(path)
    return found


def redis_dump(connection) -> dict:
    dump = {}
    for key in connection.keys("*"):
        kind = connection.type(key)
        if kind == b"string":
            dump[key] = connection.get(key)
        elif kind == b"list":
            dump[key] = tuple(connection.lrange(key, 0, -1))
        elif kind == b"hash":
            dump[key] = tuple(sorted(connection.hgetall(key).items()))
        elif kind == b"set":
            dump[key] = tuple(sorted(connection.smembers(key)))
        elif kind == b"zset":
            dump[key] = tuple(connection.zrange(key, 0, -1, withscores=True))
    return dump


def test_nothing_of_the_selfie_is_written_anywhere(app, client, drain, shared_faces, remember_faces, caplog):  # noqa: F811
    event, photos = build_event(shared_faces, drain, HOWARD[:3])
    selfie = large_selfie(shared_faces)
    assert len(selfie) > 1_000_000
    name = "howard-private-selfie.png"

    def search():
        return client.post(f"/api/v1/events/{event.id}/face-search", content_type="multipart/form-data",
                           data={"selfie": [(io.BytesIO(selfie), name)]})

    assert len(search().get_json()["matches"]) == 3  # warm up: imports and dlib's models load once
    assert client.post(f"/e/{event.slug}/find-me", data={"selfie": [(io.BytesIO(selfie), name)]},
                       content_type="multipart/form-data").status_code == 200
    db.session.rollback()
    data_dir = app.config["DATA_DIR"]
    before = (table_counts(), files_under(data_dir), redis_dump(jobs().connection))
    # The test's own session is idle; nothing else in this process writes while the search runs.
    caplog.set_level(logging.DEBUG)
    caplog.clear()

    # The body is encoded beforehand: Werkzeug's test client would otherwise spool it to a temporary file itself.
    boundary, body = encode_multipart({"selfie": FileStorage(io.BytesIO(selfie), name, content_type="image/png")})
    multipart = f"multipart/form-data; boundary={boundary}"
    csrf = client.csrf_token()
    with WritesRecorded() as api_writes:
        answer = client.post(f"/api/v1/events/{event.id}/face-search", data=body, content_type=multipart)
    with WritesRecorded() as page_writes:
        page = client.post(f"/e/{event.slug}/find-me", data=body, content_type=multipart,
                           headers={"X-CSRFToken": csrf})

    assert answer.status_code == 200 and len(answer.get_json()["matches"]) == 3
    assert page.status_code == 200 and 'data-found="3"' in page.get_data(as_text=True)
    assert api_writes.paths == [] and page_writes.paths == []  # no temporary file, no storage, no log file
    db.session.rollback()
    after = (table_counts(), files_under(data_dir), redis_dump(jobs().connection))
    assert after[0] == before[0]  # not a row more in any table
    assert after[1] == before[1]  # storage, uploads and outbox untouched
    # In Redis: only the analytics buffer grew, by one short "a selfie search happened" line per search.
    changed = {key for key in set(before[2]) | set(after[2]) if before[2].get(key) != after[2].get(key)}
    assert changed <= {b"pixstock:analytics:buffer"}
    new_lines = after[2].get(b"pixstock:analytics:buffer", ())[len(before[2].get(b"pixstock:analytics:buffer", ())):]
    assert len(new_lines) == 2 and all(b"selfie_search" in line and len(line) < 300 for line in new_lines)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert name not in logged and "PNG" not in logged
    # Nor does the session cookie carry anything of it.
    with client.session_transaction() as session:
        assert len(repr(dict(session))) < 500


def test_the_audit_hook_sees_the_temporary_file_werkzeug_would_have_used(shared_faces):
    """Without pixstock's Request class, the same upload spools to a temporary file: the check above can fail."""
    selfie = large_selfie(shared_faces)
    boundary, body = encode_multipart({"selfie": FileStorage(io.BytesIO(selfie), "me.png", content_type="image/png")})
    environ = EnvironBuilder(method="POST", data=body,
                             content_type=f"multipart/form-data; boundary={boundary}").get_environ()
    with WritesRecorded() as recorded:
        request = PlainRequest(environ)
        assert request.files["selfie"].read() == selfie
    assert recorded.paths, "Werkzeug kept a 1.4 MB upload in memory: the privacy test would prove nothing"


def test_an_oversized_selfie_request_is_refused_before_it_is_read(client, app):
    from . import factories

    event = factories.make_event()
    big = b"\xff\xd8" + os.urandom(16 * 1024 * 1024)
    response = client.post(f"/api/v1/events/{event.id}/face-search", content_type="multipart/form-data",
                           data={"selfie": [(io.BytesIO(big), name) for name in ("a.jpg", "b.jpg", "c.jpg")]})
    # Three selfies of 16 MB each would be held in memory: refused from the declared length, unread.
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "request_entity_too_large"
    one_too_big = client.post(f"/api/v1/events/{event.id}/face-search", content_type="multipart/form-data",
                              data={"selfie": [(io.BytesIO(big), "a.jpg")]})
    assert one_too_big.status_code == 422 and one_too_big.get_json()["error"]["code"] == "selfie_too_large"

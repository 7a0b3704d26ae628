"""Contract tests for the storage backends: the same tests over a directory and a real S3 API.

S3 is moto's server mode on 127.0.0.1, spoken to over HTTP by boto3 and requests (no mocking of
boto3). These tests use no Flask app fixture, so they run with or without tests/conftest.py.
"""
import os
import uuid

import pytest
import requests
from flask import Flask

from pixstock.config import ConfigError
from pixstock.services.storage import (
    MiB,
    InvalidKey,
    LocalStorage,
    ObjectNotFound,
    S3Storage,
    StorageError,
    content_disposition,
    get_storage,
)

CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}


def make_s3(endpoint, **kwargs):
    """An S3Storage on a fresh bucket, so tests never see each other's objects."""
    storage = S3Storage(
        bucket=f"test-{uuid.uuid4().hex[:16]}", region="us-east-1", endpoint_url=endpoint, **CREDENTIALS, **kwargs
    )
    storage.ensure_bucket()
    return storage


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    """Each contract test runs once per backend."""
    if request.param == "local":
        return LocalStorage(tmp_path / "media")
    return make_s3(request.getfixturevalue("s3_endpoint"))


@pytest.fixture
def s3(s3_endpoint):
    return make_s3(s3_endpoint)


# --- the contract both backends keep ---------------------------------------------------------


def test_bytes_round_trip(storage):
    storage.put_bytes("events/1/a.txt", b"hello", "text/plain")
    assert storage.read_bytes("events/1/a.txt") == b"hello"
    assert storage.exists("events/1/a.txt")
    assert storage.size("events/1/a.txt") == 5
    storage.put_bytes("events/1/a.txt", b"replaced")
    assert storage.read_bytes("events/1/a.txt") == b"replaced"


def test_file_round_trip(storage, tmp_path):
    data = os.urandom(300_000)
    source = tmp_path / "upload.jpg"
    source.write_bytes(data)
    storage.put_file("photos/7/original.jpg", source, "image/jpeg")
    assert storage.read_bytes("photos/7/original.jpg") == data
    assert storage.size("photos/7/original.jpg") == len(data)
    assert source.read_bytes() == data  # the source is copied, not moved


def test_open_streams_a_file_like(storage):
    data = os.urandom(2 * MiB + 17)
    storage.put_bytes("big.bin", data)
    with storage.open("big.bin") as handle:
        head = handle.read(1000)
        rest = handle.read()
    assert head + rest == data
    assert len(head) == 1000


def test_iter_chunks_streams_a_multi_megabyte_object(storage):
    data = os.urandom(5 * MiB + 12345)
    storage.put_bytes("big.bin", data)
    chunks = list(storage.iter_chunks("big.bin", chunk_size=MiB))
    assert b"".join(chunks) == data
    assert len(chunks) >= 6
    assert all(0 < len(chunk) <= MiB for chunk in chunks)
    small = list(storage.iter_chunks("big.bin", chunk_size=64 * 1024))
    assert b"".join(small) == data and max(map(len, small)) <= 64 * 1024


def test_missing_key(storage):
    assert not storage.exists("nope.txt")
    for read in (storage.open, storage.read_bytes, storage.size, storage.iter_chunks):
        with pytest.raises(ObjectNotFound):
            read("nope.txt")
    # ObjectNotFound is both a StorageError and a KeyError, as documented.
    with pytest.raises(KeyError):
        storage.read_bytes("nope.txt")
    with pytest.raises(StorageError):
        storage.read_bytes("nope.txt")


def test_iter_chunks_raises_before_iterating(storage):
    # A streamed response must learn about a missing object before it sends its headers.
    with pytest.raises(ObjectNotFound):
        storage.iter_chunks("nope.txt")


def test_delete(storage):
    storage.put_bytes("a/b.txt", b"x")
    storage.delete("a/b.txt")
    assert not storage.exists("a/b.txt")
    storage.delete("a/b.txt")  # missing is fine
    storage.delete("never/was.txt")


def test_delete_prefix_has_string_prefix_semantics(storage):
    keys = ["events/1/a.jpg", "events/1/sub/b.jpg", "events/10/c.jpg", "events/2/d.jpg", "other.txt"]
    for key in keys:
        storage.put_bytes(key, key.encode())
    assert storage.delete_prefix("events/1/") == 2
    assert [storage.exists(key) for key in keys] == [False, False, True, True, True]
    # Without the slash it is a plain string prefix, as in S3: events/10 goes too.
    storage.put_bytes("events/1/a.jpg", b"again")
    assert storage.delete_prefix("events/1") == 2
    assert [storage.exists(key) for key in keys] == [False, False, False, True, True]
    assert storage.delete_prefix("nothing/here/") == 0
    # The store still works where directories were pruned.
    storage.put_bytes("events/1/sub/new.jpg", b"new")
    assert storage.read_bytes("events/1/sub/new.jpg") == b"new"


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "../outside", "a/../../outside", "a/./b", "a//b", "a/", "a\\..\\b", "a\nb", ".."]
)
def test_unsafe_keys_are_refused(storage, key):
    with pytest.raises(InvalidKey):
        storage.put_bytes(key, b"x")
    with pytest.raises(InvalidKey):
        storage.exists(key)
    with pytest.raises(InvalidKey):
        storage.delete(key)


@pytest.mark.parametrize("prefix", ["", "/", "../", "a/../"])
def test_unsafe_prefixes_are_refused(storage, prefix):
    storage.put_bytes("keep.txt", b"x")
    with pytest.raises(InvalidKey):
        storage.delete_prefix(prefix)
    assert storage.exists("keep.txt")


# --- local specifics -------------------------------------------------------------------------


def test_local_keys_cannot_escape_the_root(tmp_path):
    root = tmp_path / "media"
    storage = LocalStorage(root)
    for key in ("../escaped.txt", "a/../../escaped.txt", str(tmp_path / "escaped.txt")):
        with pytest.raises(InvalidKey):
            storage.put_bytes(key, b"x")
    assert not (tmp_path / "escaped.txt").exists()
    assert list(tmp_path.iterdir()) == []  # not even the root was created


def test_local_paths_and_no_presigning(tmp_path):
    storage = LocalStorage(tmp_path / "media")
    storage.put_bytes("events/3/p.jpg", b"jpeg")
    path = storage.local_path("events/3/p.jpg")
    assert path == str(tmp_path / "media" / "events" / "3" / "p.jpg")
    with open(path, "rb") as handle:
        assert handle.read() == b"jpeg"
    assert storage.presigned_url("events/3/p.jpg", 60, filename="p.jpg") is None


def test_local_write_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    storage = LocalStorage(tmp_path / "media")
    storage.put_bytes("a/p.jpg", b"old")

    def failing_fill(handle):
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        storage._write_atomically("a/p.jpg", failing_fill)
    assert storage.read_bytes("a/p.jpg") == b"old"  # the old object survives a failed write
    assert os.listdir(tmp_path / "media" / "a") == ["p.jpg"]
    assert oct(os.stat(storage.local_path("a/p.jpg")).st_mode & 0o777) == oct(0o644)


def test_local_delete_prefix_prunes_empty_directories(tmp_path):
    storage = LocalStorage(tmp_path / "media")
    storage.put_bytes("events/9/x/y/z.jpg", b"z")
    storage.put_bytes("events/8/k.jpg", b"k")
    storage.delete_prefix("events/9/")
    assert sorted(os.listdir(tmp_path / "media" / "events")) == ["8"]


# --- S3 specifics ----------------------------------------------------------------------------


def test_s3_has_no_local_path(s3):
    s3.put_bytes("a.txt", b"x")
    assert s3.local_path("a.txt") is None


def test_s3_keeps_content_type(s3, tmp_path):
    s3.put_bytes("a.json", b"{}", "application/json")
    source = tmp_path / "p.jpg"
    source.write_bytes(b"\xff\xd8jpeg")
    s3.put_file("p.jpg", source, "image/jpeg")
    assert s3.client.head_object(Bucket=s3.bucket, Key="a.json")["ContentType"] == "application/json"
    assert s3.client.head_object(Bucket=s3.bucket, Key="p.jpg")["ContentType"] == "image/jpeg"


def test_s3_big_files_go_up_in_parts(s3_endpoint, tmp_path):
    storage = make_s3(s3_endpoint, multipart_threshold=5 * MiB)
    data = os.urandom(6 * MiB)
    source = tmp_path / "big.jpg"
    source.write_bytes(data)
    storage.put_file("big.jpg", source, "image/jpeg")
    etag = storage.client.head_object(Bucket=storage.bucket, Key="big.jpg")["ETag"]
    assert etag.strip('"').endswith("-2")  # a multipart upload's ETag counts its parts
    assert storage.read_bytes("big.jpg") == data


def test_s3_presigned_url_downloads_the_object(s3):
    s3.put_bytes("events/1/p.jpg", b"photo-bytes", "image/jpeg")
    url = s3.presigned_url("events/1/p.jpg", expires=120)
    assert "X-Amz-Expires=120" in url
    assert "X-Amz-Signature=" in url
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"photo-bytes"
    assert "Content-Disposition" not in response.headers
    # The default lifetime is the configured one.
    assert "X-Amz-Expires=300" in s3.presigned_url("events/1/p.jpg")


def test_s3_presigned_url_sets_attachment_filename(s3):
    s3.put_bytes("events/1/p.jpg", b"photo-bytes", "image/jpeg")
    response = requests.get(s3.presigned_url("events/1/p.jpg", 60, filename="run 42.jpg"), timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="run 42.jpg"'
    thai = "วิ่ง ครั้งที่ 1.jpg"
    response = requests.get(s3.presigned_url("events/1/p.jpg", 60, filename=thai), timeout=10)
    assert response.headers["Content-Disposition"] == content_disposition(thai)
    assert "filename*=UTF-8''%E0%B8%A7%E0%B8%B4" in response.headers["Content-Disposition"]


@pytest.mark.parametrize("expires", [0, -5, 7 * 24 * 3600 + 1])
def test_s3_presigned_url_lifetime_is_bounded(s3, expires):
    with pytest.raises(ValueError):
        s3.presigned_url("a.jpg", expires)


def test_s3_objects_are_private(s3, s3_endpoint, tmp_path):
    s3.put_bytes("events/1/bytes.jpg", b"secret")
    source = tmp_path / "p.jpg"
    source.write_bytes(b"secret")
    s3.put_file("events/1/file.jpg", source, "image/jpeg")
    for key in ("events/1/bytes.jpg", "events/1/file.jpg"):
        # moto enforces ACLs on anonymous requests: a public-read object would answer 200.
        anonymous = requests.get(f"{s3_endpoint}/{s3.bucket}/{key}", timeout=10)
        assert anonymous.status_code == 403
        grants = s3.client.get_object_acl(Bucket=s3.bucket, Key=key)["Grants"]
        assert not [grant for grant in grants if "URI" in grant["Grantee"]]  # no AllUsers/AuthenticatedUsers


def test_moto_would_serve_a_public_object(s3, s3_endpoint):
    # Guards the test above: proves the anonymous 403 comes from the ACL, not from moto refusing all.
    s3.client.put_object(Bucket=s3.bucket, Key="public.txt", Body=b"hi", ACL="public-read")
    assert requests.get(f"{s3_endpoint}/{s3.bucket}/public.txt", timeout=10).status_code == 200


def test_ensure_bucket_is_idempotent(s3):
    s3.ensure_bucket()
    s3.put_bytes("a.txt", b"x")
    s3.ensure_bucket()
    assert s3.read_bytes("a.txt") == b"x"


def test_s3_delete_prefix_pages_past_a_thousand(s3):
    for index in range(1005):
        s3.client.put_object(Bucket=s3.bucket, Key=f"many/{index:04d}", Body=b"")
    s3.put_bytes("keep.txt", b"x")
    assert s3.delete_prefix("many/") == 1005
    assert s3.client.list_objects_v2(Bucket=s3.bucket, Prefix="many/")["KeyCount"] == 0
    assert s3.exists("keep.txt")


# --- content disposition ---------------------------------------------------------------------


def test_content_disposition_quotes_safely():
    assert content_disposition("a.jpg") == 'attachment; filename="a.jpg"'
    assert content_disposition('a"b\\c.jpg').startswith('attachment; filename="a_b_c.jpg"; filename*=')
    assert content_disposition("ภาพ.jpg") == (
        "attachment; filename=\"___.jpg\"; filename*=UTF-8''%E0%B8%A0%E0%B8%B2%E0%B8%9E.jpg"
    )


# --- get_storage -----------------------------------------------------------------------------


def make_app(**config):
    app = Flask("storage-test")
    app.config.update(config)
    return app


def test_get_storage_local_from_config(tmp_path):
    app = make_app(STORAGE_BACKEND="local", STORAGE_DIR=str(tmp_path / "m"))
    storage = get_storage(app)
    assert isinstance(storage, LocalStorage)
    assert storage.root == str(tmp_path / "m")
    assert get_storage(app) is storage  # created once per app
    assert app.extensions["pixstock_storage"] is storage
    with app.app_context():
        assert get_storage() is storage  # the current app by default


def test_get_storage_s3_from_config(s3_endpoint):
    app = make_app(
        STORAGE_BACKEND="s3",
        S3_BUCKET="pixstock-config-test",
        S3_REGION="ap-southeast-1",
        S3_ENDPOINT_URL=s3_endpoint,
        S3_ACCESS_KEY_ID="testing",
        S3_SECRET_ACCESS_KEY="testing",
        S3_PRESIGN_SECONDS=90,
    )
    storage = get_storage(app)
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.region, storage.presign_seconds) == ("pixstock-config-test", "ap-southeast-1", 90)
    assert storage.client.meta.endpoint_url == s3_endpoint
    # The configured client really talks to the endpoint, in the configured region.
    storage.ensure_bucket()
    storage.put_bytes("x.txt", b"via config")
    assert storage.read_bytes("x.txt") == b"via config"
    assert "X-Amz-Expires=90" in storage.presigned_url("x.txt")
    assert "%2Fap-southeast-1%2Fs3%2F" in storage.presigned_url("x.txt")


def test_get_storage_apps_do_not_share(tmp_path):
    first = get_storage(make_app(STORAGE_BACKEND="local", STORAGE_DIR=str(tmp_path / "1")))
    second = get_storage(make_app(STORAGE_BACKEND="local", STORAGE_DIR=str(tmp_path / "2")))
    assert first is not second


@pytest.mark.parametrize(
    "config", [{"STORAGE_BACKEND": "s3"}, {"STORAGE_BACKEND": "ftp", "STORAGE_DIR": "/tmp/x"}]
)
def test_get_storage_refuses_bad_config(config):
    with pytest.raises(ConfigError):
        get_storage(make_app(**config))


def test_config_defaults_pick_the_backend(tmp_path):
    from pixstock.config import load_config

    local = load_config({"PIXSTOCK_DATA_DIR": str(tmp_path)})
    assert isinstance(get_storage(make_app(**local)), LocalStorage)
    s3 = load_config({"PIXSTOCK_DATA_DIR": str(tmp_path), "S3_BUCKET": "pixstock-media"})
    assert isinstance(get_storage(make_app(**s3)), S3Storage)

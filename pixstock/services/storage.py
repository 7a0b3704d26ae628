"""Where photos and other files live: a directory on disk or an S3 bucket, chosen by config.

One small interface, ``Storage``, with two implementations in the style of CTFd's uploaders:

- ``LocalStorage(root)`` keeps each object as a file under ``root`` (development, single host).
- ``S3Storage(bucket, ...)`` keeps private objects in an S3-compatible bucket and hands out
  short-lived presigned GET URLs for downloads.

Keys are relative, ``/``-separated names such as ``"events/12/photos/34/original.jpg"``. Both
backends accept the same keys and refuse the same bad ones (empty, absolute, ``.`` or ``..``
segments, empty segments, backslashes, control characters), so code written against one runs
against the other.

Errors: every refusal is a ``StorageError``. Reading a key that does not exist (``open``,
``iter_chunks``, ``read_bytes``, ``size``) raises ``ObjectNotFound``, which is also a
``KeyError`` so ``except KeyError`` works. A bad key raises ``InvalidKey``, also a ``ValueError``.
``delete`` of a missing key is not an error. Failures of the backend itself (disk full, S3
unreachable, access denied) propagate as ``OSError`` / botocore exceptions, so a job retries.

Serving a download::

    storage = get_storage()
    url = storage.presigned_url(key, filename="photo.jpg")
    if url:
        return redirect(url)
    return send_file(storage.local_path(key), as_attachment=True, download_name="photo.jpg")
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import quote

MiB = 1024 * 1024
# SigV4 presigned URLs are valid for at most seven days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
_EXTENSION_KEY = "pixstock_storage"
_TEMP_PREFIX = ".pixstock-tmp-"


class StorageError(Exception):
    """Base class of everything the storage refuses."""


class ObjectNotFound(StorageError, KeyError):
    """The key names no object (also a KeyError)."""

    def __str__(self) -> str:
        # KeyError would print the repr of its argument; a plain message reads better in logs.
        return str(self.args[0]) if self.args else "object not found"


class InvalidKey(StorageError, ValueError):
    """The key is not a safe relative name (also a ValueError)."""


def check_key(key: str, *, prefix: bool = False) -> str:
    """Return ``key`` if it is a safe relative ``/``-separated name, else raise InvalidKey.

    A prefix may end with ``/`` (its last segment may be empty); it may not be empty, because
    deleting "everything" should never be one typo away.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey(f"storage key must be a non-empty string, got {key!r}")
    if key.startswith("/") or "\\" in key or any(ord(char) < 32 or char == "\x7f" for char in key):
        raise InvalidKey(f"storage key must be a plain relative name: {key!r}")
    segments = key.split("/")
    if prefix and segments[-1] == "":
        segments = segments[:-1]
    if any(segment in ("", ".", "..") for segment in segments):
        raise InvalidKey(f"storage key has an empty, '.' or '..' segment: {key!r}")
    return key


def content_disposition(filename: str) -> str:
    """Build an ``attachment`` Content-Disposition value safe for any filename (RFC 6266)."""
    # ASCII fallback for old clients, plus filename* carrying the real (e.g. Thai) name.
    fallback = "".join(
        char if 32 <= ord(char) < 127 and char not in '"\\' else "_" for char in filename
    ) or "download"
    value = f'attachment; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


class Storage:
    """The interface both backends implement; see the module docstring for keys and errors."""

    def put_file(self, key: str, path: str | os.PathLike, content_type: str | None = None) -> None:
        """Store the file at ``path`` under ``key``, replacing any previous object."""
        raise NotImplementedError

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        """Store ``data`` under ``key``, replacing any previous object."""
        raise NotImplementedError

    def open(self, key: str) -> BinaryIO:
        """Return a readable binary file-like that streams the object; close it after use."""
        raise NotImplementedError

    def iter_chunks(self, key: str, chunk_size: int = MiB) -> Iterator[bytes]:
        """Return an iterator over the object in chunks of at most ``chunk_size`` bytes.

        The object is opened now, so a missing key raises here rather than on the first
        ``next()`` (by then a streamed response would already have sent its headers).
        """
        handle = self.open(key)

        def chunks() -> Iterator[bytes]:
            with handle:
                while chunk := handle.read(chunk_size):
                    yield chunk

        return chunks()

    def read_bytes(self, key: str) -> bytes:
        """Return the whole object; for small objects only (use ``open`` for photos)."""
        with self.open(key) as handle:
            return handle.read()

    def exists(self, key: str) -> bool:
        """Tell whether an object is stored under ``key``."""
        raise NotImplementedError

    def size(self, key: str) -> int:
        """Return the object's size in bytes."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Delete the object; a missing key is not an error."""
        raise NotImplementedError

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix`` (a string prefix, as in S3).

        ``"events/1/"`` deletes ``events/1/...`` only; ``"events/1"`` also deletes ``events/10/...``.
        Returns the number of objects deleted.
        """
        raise NotImplementedError

    def presigned_url(self, key: str, expires: int | None = None, filename: str | None = None) -> str | None:
        """Return a short-lived URL that downloads the object, or None: serve it through the app.

        ``expires`` defaults to the backend's configured lifetime; with ``filename`` the download
        is an attachment under that name. No request is made, so a missing key is not detected.
        """
        return None

    def local_path(self, key: str) -> str | None:
        """Return the object's file path (for ``send_file``), or None when it is not on disk.

        No check is made that the object exists; call ``exists`` first if that matters.
        """
        return None


class LocalStorage(Storage):
    """Objects as files under one root directory; writes are atomic."""

    def __init__(self, root: str | os.PathLike):
        # No I/O here (create_app must not touch the disk): directories are made on first write.
        self.root = os.path.abspath(os.fspath(root))

    def __repr__(self) -> str:
        return f"LocalStorage({self.root!r})"

    def _path(self, key: str) -> str:
        check_key(key)
        path = os.path.normpath(os.path.join(self.root, *key.split("/")))
        # check_key already refuses every escape; this guards against a future change to it.
        if os.path.commonpath([self.root, path]) != self.root or path == self.root:
            raise InvalidKey(f"storage key escapes the storage root: {key!r}")
        return path

    def _write_atomically(self, key: str, fill) -> None:
        """Write through a temp file in the target directory, then rename it into place."""
        path = self._path(key)
        directory, name = os.path.split(path)
        for attempt in range(3):
            os.makedirs(directory, exist_ok=True)
            try:
                fd, temp_path = tempfile.mkstemp(prefix=f"{_TEMP_PREFIX}{name}.", dir=directory)
                break
            except FileNotFoundError:
                # A concurrent delete_prefix pruned the empty directory between the two calls.
                if attempt == 2:
                    raise
        try:
            with os.fdopen(fd, "wb") as handle:
                fill(handle)
                handle.flush()
                os.fsync(handle.fileno())
            # mkstemp makes 0600 files; a web server reading the media dir needs them readable.
            os.chmod(temp_path, 0o644)
            os.replace(temp_path, path)
        except BaseException:
            try:
                os.unlink(temp_path)
            except FileNotFoundError:
                pass
            raise

    def put_file(self, key, path, content_type=None):
        """Copy the file at ``path`` into the store under ``key`` (content_type is not kept)."""
        with open(path, "rb") as source:
            self._write_atomically(key, lambda handle: shutil.copyfileobj(source, handle, MiB))

    def put_bytes(self, key, data, content_type=None):
        """Store ``data`` under ``key`` (content_type is not kept)."""
        self._write_atomically(key, lambda handle: handle.write(data))

    def open(self, key):
        """Open the object's file for binary reading."""
        path = self._path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"no stored object {key!r}") from None

    def exists(self, key):
        """Tell whether a file is stored under ``key``."""
        return os.path.isfile(self._path(key))

    def size(self, key):
        """Return the file's size in bytes."""
        path = self._path(key)
        if not os.path.isfile(path):
            raise ObjectNotFound(f"no stored object {key!r}")
        return os.path.getsize(path)

    def delete(self, key):
        """Remove the file; a missing one is fine."""
        try:
            os.unlink(self._path(key))
        except (FileNotFoundError, NotADirectoryError):
            pass

    def delete_prefix(self, prefix):
        """Remove every file whose key starts with ``prefix``, then the directories left empty."""
        check_key(prefix, prefix=True)
        # Walk only the directory that holds the prefix, not the whole store.
        parent_key, _, _ = prefix.rpartition("/")
        top = os.path.join(self.root, *parent_key.split("/")) if parent_key else self.root
        deleted = 0
        for directory, dirnames, filenames in os.walk(top, topdown=False):
            relative = os.path.relpath(directory, self.root)
            base = "" if relative == "." else relative.replace(os.sep, "/") + "/"
            for filename in filenames:
                if filename.startswith(_TEMP_PREFIX) or not (base + filename).startswith(prefix):
                    continue
                try:
                    os.unlink(os.path.join(directory, filename))
                    deleted += 1
                except FileNotFoundError:
                    pass
            if directory != self.root and (base.startswith(prefix) or prefix.startswith(base)):
                try:
                    os.rmdir(directory)  # only succeeds when empty
                except OSError:
                    pass
        return deleted

    def local_path(self, key):
        """Return the path where the object's file lives."""
        return self._path(key)


class S3Storage(Storage):
    """Private objects in an S3-compatible bucket, downloaded through presigned URLs."""

    def __init__(
        self,
        bucket: str,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        presign_seconds: int = 300,
        multipart_threshold: int = 8 * MiB,
    ):
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.region = region
        self.presign_seconds = presign_seconds
        # A session of our own: boto3's default session is not safe to share between threads
        # while clients are being created; the client itself is thread-safe once made.
        session = boto3.session.Session()
        self.client = session.client(
            "s3",
            region_name=region,
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            # s3v4: without it boto3 presigns in the old style; path style: MinIO and friends.
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        # Files above the threshold go up in parts (S3's minimum part is 5 MiB), so a large
        # upload survives a dropped part and does not need one long request.
        self.transfer_config = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=max(multipart_threshold, 5 * MiB),
        )

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, endpoint={self.client.meta.endpoint_url!r})"

    @staticmethod
    def _is_missing(error) -> bool:
        code = str(error.response.get("Error", {}).get("Code", ""))
        return code in {"404", "NoSuchKey", "NotFound"}

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (development and tests; production pre-creates it)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) not in {"404", "NoSuchBucket", "NotFound"}:
                raise
        kwargs = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            # us-east-1 is the one region that refuses an explicit LocationConstraint.
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.client.create_bucket(**kwargs)

    def put_file(self, key, path, content_type=None):
        """Upload the file (multipart above the threshold); the object stays private."""
        extra = {"ContentType": content_type} if content_type else {}
        self.client.upload_file(
            os.fspath(path), self.bucket, check_key(key), ExtraArgs=extra, Config=self.transfer_config
        )

    def put_bytes(self, key, data, content_type=None):
        """Upload ``data`` in one request; the object stays private."""
        extra = {"ContentType": content_type} if content_type else {}
        self.client.put_object(Bucket=self.bucket, Key=check_key(key), Body=data, **extra)

    def open(self, key):
        """Return the streaming body of a GET; it reads from the network as you read."""
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=check_key(key))
        except ClientError as error:
            if self._is_missing(error):
                raise ObjectNotFound(f"no stored object {key!r}") from None
            raise
        return response["Body"]

    def _head(self, key):
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=check_key(key))
        except ClientError as error:
            if self._is_missing(error):
                return None
            raise

    def exists(self, key):
        """Tell whether the bucket holds ``key`` (one HEAD request)."""
        return self._head(key) is not None

    def size(self, key):
        """Return the object's ContentLength (one HEAD request)."""
        head = self._head(key)
        if head is None:
            raise ObjectNotFound(f"no stored object {key!r}")
        return head["ContentLength"]

    def delete(self, key):
        """Delete the object; S3 answers the same whether or not it existed."""
        self.client.delete_object(Bucket=self.bucket, Key=check_key(key))

    def delete_prefix(self, prefix):
        """Delete every object under ``prefix``, a thousand per request."""
        check_key(prefix, prefix=True)
        deleted = 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if not objects:
                continue
            response = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
            )
            if response.get("Errors"):
                first = response["Errors"][0]
                raise StorageError(
                    f"could not delete {len(response['Errors'])} objects under {prefix!r}, "
                    f"first {first.get('Key')!r}: {first.get('Code')} {first.get('Message')}"
                )
            deleted += len(objects)
        return deleted

    def presigned_url(self, key, expires=None, filename=None):
        """Return a presigned GET URL valid for ``expires`` seconds (default: presign_seconds)."""
        expires = self.presign_seconds if expires is None else int(expires)
        if not 1 <= expires <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"presigned URL lifetime must be 1..{MAX_PRESIGN_SECONDS} s, got {expires}")
        params = {"Bucket": self.bucket, "Key": check_key(key)}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)


def storage_from_config(config) -> Storage:
    """Build the backend named by ``STORAGE_BACKEND`` from a config mapping."""
    from pixstock.config import ConfigError

    backend = (config.get("STORAGE_BACKEND") or "local").lower()
    if backend == "local":
        return LocalStorage(config["STORAGE_DIR"])
    if backend == "s3":
        if not config.get("S3_BUCKET"):
            raise ConfigError("STORAGE_BACKEND=s3 needs S3_BUCKET")
        return S3Storage(
            bucket=config["S3_BUCKET"],
            region=config.get("S3_REGION") or "us-east-1",
            endpoint_url=config.get("S3_ENDPOINT_URL"),
            access_key_id=config.get("S3_ACCESS_KEY_ID"),
            secret_access_key=config.get("S3_SECRET_ACCESS_KEY"),
            presign_seconds=config.get("S3_PRESIGN_SECONDS") or 300,
        )
    raise ConfigError(f"STORAGE_BACKEND must be 'local' or 's3', got {backend!r}")


def get_storage(app=None) -> Storage:
    """Return the app's storage, built from its config on first use and kept in app.extensions."""
    if app is None:
        from flask import current_app

        app = current_app._get_current_object()
    storage = app.extensions.get(_EXTENSION_KEY)
    if storage is None:
        # Two threads racing here both build one; setdefault makes them agree on the first.
        storage = app.extensions.setdefault(_EXTENSION_KEY, storage_from_config(app.config))
    return storage

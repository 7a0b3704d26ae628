"""Photos over the API: single-request uploads for camera apps, the chunk protocol for big files, photo JSON."""
from flask import current_app, jsonify, request, url_for

from .. import uploads
from ..access import get_batch, get_event, get_photo, get_upload
from ..errors import json_error
from ..media.routes import DERIVATIVES, photo_url
from ..models import Role, UploadStatus
from . import bp
from .auth import ApiError, api_user, json_body, token_required
from .openapi import document, schema

STAFF = (Role.PHOTOGRAPHER, Role.ADMIN)


def photo_json(photo, user=None) -> dict:
    """A photo as the API shows it to user; urls holds only the files user may fetch."""
    owner = bool(user is not None and getattr(user, "is_authenticated", False)) and (
        user.role is Role.ADMIN or (user.role is Role.PHOTOGRAPHER and photo.photographer_id == user.id)
    )
    keys = photo.derivative_keys or {}
    urls = {}
    if owner or (photo.is_visible_to_customers and photo.event.is_public):
        urls = {name: photo_url(photo, name, external=True) for name in DERIVATIVES if keys.get(name)}
    if owner:
        urls["original"] = photo_url(photo, "original", external=True)
    return {
        "id": photo.id,
        "event_id": photo.event_id,
        "status": photo.processing_status.value,
        "failure_reason": photo.failure_reason,
        "approval_status": photo.approval_status.value,
        # Why a photo was rejected is the photographer's (and admins') business, nobody else's.
        "rejection_reason": photo.rejection_reason if owner else None,
        "face_status": photo.face_status.value,
        "width": photo.width,
        "height": photo.height,
        "taken_at": photo.taken_at.isoformat() if photo.taken_at else None,
        "camera_model": photo.camera_model,
        "faces": photo.face_count or 0,
        "urls": urls,
    }


@bp.get("/photos/<int:photo_id>")
def get_photo_json(photo_id: int):
    """One photo: its processing, approval and face status, size, metadata and the URLs you may fetch."""
    photo = get_photo(photo_id, api_user() or _anonymous(), need="view")
    return jsonify(photo_json(photo, api_user()))


@bp.post("/events/<int:event_id>/photos")
@token_required(*STAFF)
def upload_photo(event_id: int):
    """Upload one whole photo (multipart field `file`); the API batch of this event collects it."""
    event = get_event(event_id, api_user(), need="upload")
    # One photo per request: refuse a bigger body before reading it.
    request.max_content_length = uploads.request_limit(files=1)
    file = request.files.get("file")
    if file is None or not file.filename:
        raise ApiError(400, "missing_file", "Send the photo as the multipart form field 'file'.")
    try:
        upload = uploads.ingest_stream(uploads.api_batch(event, api_user()), api_user(), file.filename, file.stream)
    except uploads.UploadRefused as refusal:
        return _refusal(refusal)
    if upload.status is UploadStatus.DUPLICATE:
        return json_error(409, "duplicate", upload.reason, photo_id=upload.photo_id)
    if upload.status is UploadStatus.REJECTED:
        return json_error(422, "unusable_image", upload.reason)
    response = jsonify(photo_json(upload.photo, api_user()))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_photo_json", photo_id=upload.photo_id)
    return response


# --- the chunk protocol --------------------------------------------------------------------------------


@bp.post("/events/<int:event_id>/batches")
@token_required(*STAFF)
def create_batch(event_id: int):
    """Start a batch of uploads to an event (JSON body optional: {label})."""
    event = get_event(event_id, api_user(), need="upload")
    data = request.get_json(silent=True) if request.data else {}
    label = data.get("label", "") if isinstance(data, dict) else ""
    batch = uploads.start_batch(event, api_user(), label if isinstance(label, str) else "")
    response = jsonify(uploads.batch_state(batch))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_batch_state", batch_id=batch.id)
    return response


@bp.get("/batches/<int:batch_id>")
@token_required(*STAFF)
def get_batch_state(batch_id: int):
    """A batch with every upload's state, and counts per state."""
    return jsonify(uploads.batch_state(get_batch(batch_id, api_user())))


@bp.post("/batches/<int:batch_id>/uploads")
@token_required(*STAFF)
def create_upload(batch_id: int):
    """Start the upload of one file (201), or find the one already started for the same fingerprint (200)."""
    batch = get_batch(batch_id, api_user(), need="upload")
    data = json_body()
    try:
        upload, created = uploads.open_upload(
            batch, api_user(), data.get("filename"), data.get("size"), data.get("fingerprint")
        )
    except uploads.UploadRefused as refusal:
        return _refusal(refusal)
    response = _upload_response(upload)
    response.status_code = 201 if created else 200
    if created:
        response.headers["Location"] = url_for("api.get_upload_state", upload_id=upload.id)
    return response


@bp.route("/uploads/<upload_id>", methods=["GET", "HEAD"])
@token_required(*STAFF)
def get_upload_state(upload_id: str):
    """Where an upload stands; HEAD answers with the Upload-Offset and Upload-Length headers only."""
    return _upload_response(get_upload(upload_id, api_user()))


@bp.patch("/uploads/<upload_id>")
@token_required(*STAFF)
def send_chunk(upload_id: str):
    """Append a chunk at Upload-Offset; the chunk that completes the file turns it into a photo."""
    get_upload(upload_id, api_user(), need="upload")
    try:
        upload = uploads.receive_chunk(
            upload_id, request.headers.get("Upload-Offset"), request.stream, request.content_length
        )
    except uploads.UploadRefused as refusal:
        return _refusal(refusal)
    return _upload_response(upload)


def _upload_response(upload):
    response = jsonify(uploads.upload_state(upload))
    response.headers["Upload-Offset"] = str(upload.offset)
    response.headers["Upload-Length"] = str(upload.size)
    response.cache_control.no_store = True
    return response


def _refusal(refusal):
    from ..extensions import db
    from ..models import Upload

    extra = {}
    upload = db.session.get(Upload, refusal.upload.id) if refusal.upload is not None else None
    if upload is not None:
        extra["upload"] = uploads.upload_state(upload)
    response, status = json_error(refusal.status, refusal.code, refusal.message, **extra)
    if upload is not None:
        response.headers["Upload-Offset"] = str(upload.offset)
        response.headers["Upload-Length"] = str(upload.size)
    return response, status


def _anonymous():
    from flask_login import AnonymousUserMixin

    return AnonymousUserMixin()


# --- OpenAPI -------------------------------------------------------------------------------------------

schema("Photo", {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "event_id": {"type": "integer"},
        "status": {"type": "string", "enum": ["received", "processing", "ready", "failed"]},
        "failure_reason": {"type": "string", "nullable": True},
        "approval_status": {"type": "string", "enum": ["pending", "approved", "rejected"]},
        "rejection_reason": {"type": "string", "nullable": True,
                             "description": "Why an admin rejected the photo (its photographer and admins only)."},
        "face_status": {"type": "string", "enum": ["pending", "done", "none", "failed"]},
        "width": {"type": "integer", "nullable": True, "description": "As displayed, after EXIF orientation."},
        "height": {"type": "integer", "nullable": True},
        "taken_at": {"type": "string", "format": "date-time", "nullable": True},
        "camera_model": {"type": "string", "nullable": True},
        "faces": {"type": "integer", "description": "Faces found in the photo."},
        "urls": {
            "type": "object",
            "description": "Name -> URL of each file you may fetch: square_150, square_300, medium, preview "
            "(approved photos for everyone); original (the photo's photographer and admins only).",
            "additionalProperties": {"type": "string", "format": "uri"},
        },
    },
})
schema("Upload", {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "batch_id": {"type": "integer"},
        "filename": {"type": "string"},
        "fingerprint": {"type": "string"},
        "size": {"type": "integer"},
        "offset": {"type": "integer", "description": "Bytes the server has; send the next chunk from here."},
        "status": {"type": "string", "enum": ["uploading", "processing", "ready", "failed", "duplicate", "rejected"]},
        "reason": {"type": "string", "nullable": True},
        "photo_id": {"type": "integer", "nullable": True},
        "duplicate_of": {"type": "integer", "nullable": True},
        "face_status": {"type": "string", "nullable": True},
    },
})
schema("Batch", {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "event_id": {"type": "integer"},
        "label": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "summary": {"type": "object", "additionalProperties": {"type": "integer"}},
        "uploads": {"type": "array", "items": {"$ref": "#/components/schemas/Upload"}},
    },
})

_ID = {"in": "path", "required": True, "schema": {"type": "integer"}}
_UPLOAD_ID = {"name": "upload_id", "in": "path", "required": True, "schema": {"type": "string"}}
_OFFSET_HEADERS = {
    "Upload-Offset": {"schema": {"type": "integer"}, "description": "Bytes the server has."},
    "Upload-Length": {"schema": {"type": "integer"}, "description": "The file's declared size."},
}


def _json(ref: str, description: str, headers: dict | None = None) -> dict:
    response = {"description": description,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}
    if headers:
        response["headers"] = headers
    return response


_ERR = {"$ref": "#/components/responses/Error"}


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


document("/photos/{photo_id}", "get", {
    "summary": "A photo",
    "description": "Anyone may read an approved photo of an event on sale; its photographer and admins any photo.",
    "parameters": [dict(_ID, name="photo_id")],
    "responses": {"200": _json("Photo", "The photo"), "404": _ERR},
})
document("/events/{event_id}/photos", "post", {
    "summary": "Upload one photo",
    "description": "For camera apps: one whole file per request (multipart field `file`, at most "
    "MAX_PHOTO_BYTES, default 50 MB). The file's content decides its type (JPEG, PNG, WebP, HEIC/HEIF), "
    "never its name. Processing continues in the background: poll GET /photos/{id} until `status` is ready.",
    "security": [{"bearer": []}],
    "parameters": [dict(_ID, name="event_id")],
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}}}},
    "responses": {
        "201": _json("Photo", "Stored; processing is queued"),
        "400": _ERR, "401": _ERR,
        "403": _error("Not assigned to this event"),
        "409": _error("The same file is already in the event: `error.photo_id` is that photo"),
        "413": _error("Larger than the size limit"),
        "422": _error("Not a usable image; `error.message` says why"),
    },
})
document("/events/{event_id}/batches", "post", {
    "summary": "Start an upload batch (chunk protocol, step 1)",
    "description": "Resumable uploads for big files and flaky connections; see docs/uploads.md.",
    "security": [{"bearer": []}],
    "parameters": [dict(_ID, name="event_id")],
    "requestBody": {"required": False, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"label": {"type": "string"}}}}}},
    "responses": {"201": _json("Batch", "The new batch"), "403": _ERR, "404": _ERR},
})
document("/batches/{batch_id}", "get", {
    "summary": "A batch and the state of every file in it",
    "security": [{"bearer": []}],
    "parameters": [dict(_ID, name="batch_id")],
    "responses": {"200": _json("Batch", "The batch"), "404": _ERR},
})
document("/batches/{batch_id}/uploads", "post", {
    "summary": "Start or resume the upload of one file (step 2)",
    "description": "Send {filename, size, fingerprint}. The fingerprint identifies the same file chosen again "
    "(e.g. name, size and modification time): if this batch already has it, the answer is 200 with the "
    "offset to continue from (or its final status), otherwise 201 with offset 0.",
    "security": [{"bearer": []}],
    "parameters": [dict(_ID, name="batch_id")],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["filename", "size"], "properties": {
            "filename": {"type": "string"}, "size": {"type": "integer"}, "fingerprint": {"type": "string"}}}}}},
    "responses": {
        "201": _json("Upload", "Started", _OFFSET_HEADERS),
        "200": _json("Upload", "Already known: continue from `offset`", _OFFSET_HEADERS),
        "413": _error("Larger than the size limit (recorded as rejected)"),
        "422": _error("Empty file (recorded as rejected)"),
    },
})
document("/uploads/{upload_id}", "get", {
    "summary": "Where an upload stands (HEAD: headers only)",
    "security": [{"bearer": []}],
    "parameters": [_UPLOAD_ID],
    "responses": {"200": _json("Upload", "The upload", _OFFSET_HEADERS), "404": _ERR},
})
document("/uploads/{upload_id}", "patch", {
    "summary": "Send a chunk (step 3, repeated)",
    "description": "Header `Upload-Offset`: where these bytes start, which must equal the server's offset. "
    "Body: the raw bytes (any size up to the rest of the file). The chunk that completes the file validates "
    "it and turns it into a photo (status processing), a duplicate or a rejection; an empty PATCH at the "
    "final offset retries that step after a 503.",
    "security": [{"bearer": []}],
    "parameters": [_UPLOAD_ID, {"name": "Upload-Offset", "in": "header", "required": True,
                                "schema": {"type": "integer"}}],
    "requestBody": {"required": True, "content": {"application/offset+octet-stream": {
        "schema": {"type": "string", "format": "binary"}}}},
    "responses": {
        "200": _json("Upload", "Accepted; `offset` is the new offset", _OFFSET_HEADERS),
        "400": _error("No Upload-Offset, or the chunk arrived incomplete"),
        "409": _error("Offset mismatch or upload already finished: `error.upload.offset` says where the "
                "server stands"),
        "413": _error("The chunk goes past the declared size"),
        "503": _error("Stored bytes could not be saved yet; retry with an empty PATCH"),
    },
})

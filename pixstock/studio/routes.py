"""Studio views: a photographer's events, upload batches, and the browser side of the chunk protocol.

The protocol endpoints here (create an upload, ask its offset, send a chunk) use the session and
its CSRF token; /api/v1 offers the same protocol with bearer tokens. Both call pixstock.uploads.
"""
from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func, select

from .. import uploads
from ..access import get_batch, get_event, get_upload, role_required
from ..extensions import db
from ..models import Event, EventPhotographer, Role, Upload, UploadBatch, UploadStatus
from . import bp

STAFF = (Role.PHOTOGRAPHER, Role.ADMIN)


def status_labels() -> dict:
    """What the upload page calls each file status (and the counts), in the reader's language."""
    return {
        "total": _("Files"), "queued": _("Queued"), "uploading": _("Uploading"),
        "paused": _("Paused: choose the file again to resume"), "processing": _("Processing"),
        "ready": _("Ready"), "failed": _("Failed"), "duplicate": _("Duplicate"), "rejected": _("Rejected"),
        "error": _("Upload failed"), "skipped": _("Already uploaded"),
    }


@bp.get("/")
@role_required(*STAFF)
def index():
    """The events this photographer may upload to (all events for admins)."""
    query = select(Event).order_by(Event.event_date.desc(), Event.id.desc())
    if not current_user.is_admin:
        query = query.join(EventPhotographer).where(EventPhotographer.user_id == current_user.id)
    return render_template("studio/index.html", events=db.session.scalars(query).all())


@bp.get("/events/<int:event_id>/uploads")
@role_required(*STAFF)
def event_uploads(event_id: int):
    """One event's upload batches by this photographer, and a button to start a new one."""
    event = get_event(event_id, need="upload")
    counts = (
        select(Upload.batch_id, func.count(Upload.id).label("files"))
        .group_by(Upload.batch_id)
        .subquery()
    )
    rows = db.session.execute(
        select(UploadBatch, func.coalesce(counts.c.files, 0))
        .outerjoin(counts, counts.c.batch_id == UploadBatch.id)
        .where(UploadBatch.event_id == event.id, UploadBatch.user_id == current_user.id)
        .order_by(UploadBatch.id.desc())
    ).all()
    return render_template("studio/event_uploads.html", event=event, batches=rows)


@bp.post("/events/<int:event_id>/batches")
@role_required(*STAFF)
def create_batch(event_id: int):
    """Start a new batch of uploads to the event and open its upload page."""
    event = get_event(event_id, need="upload")
    batch = uploads.start_batch(event, current_user, request.form.get("label", ""))
    return redirect(url_for("studio.show_batch", batch_id=batch.id), 303)


@bp.get("/batches/<int:batch_id>")
@role_required(*STAFF)
def show_batch(batch_id: int):
    """The upload page: drop zone, every file's state from the server, live progress."""
    batch = get_batch(batch_id)
    files = [uploads.FileState(u) for u in uploads.batch_uploads(batch)]
    summary = uploads.batch_summary([f.upload for f in files])
    return render_template(
        "studio/batch.html", batch=batch, event=batch.event, files=files, summary=summary, labels=status_labels()
    )


@bp.get("/batches/<int:batch_id>/state")
@role_required(*STAFF)
def batch_state(batch_id: int):
    """The batch as JSON: every upload's state and the counts."""
    return _no_store(jsonify(uploads.batch_state(get_batch(batch_id))))


@bp.post("/batches/<int:batch_id>/files")
@role_required(*STAFF)
def upload_files(batch_id: int):
    """The plain multi-file form (no JavaScript): each file is received whole, then the page again."""
    batch = get_batch(batch_id, need="upload")
    limit = uploads.request_limit()
    request.max_content_length = limit
    files = [f for f in request.files.getlist("files") if f and f.filename]
    if not files:
        flash(_("Choose one or more photos first."), "error")
        return redirect(url_for("studio.show_batch", batch_id=batch.id), 303)
    done = refused = 0
    for storage_file in files:
        try:
            upload = uploads.ingest_stream(batch, current_user, storage_file.filename, storage_file.stream)
        except uploads.UploadRefused as refusal:
            refused += 1
            flash(f"{storage_file.filename}: {refusal.message}", "error")
            continue
        if upload.status is UploadStatus.COMPLETE:
            done += 1
        else:
            refused += 1
    flash(ngettext("%(num)d photo received.", "%(num)d photos received.", done), "success" if done else "info")
    if refused:
        flash(ngettext("%(num)d file was not accepted; see the list for why.",
                       "%(num)d files were not accepted; see the list for why.", refused), "error")
    return redirect(url_for("studio.show_batch", batch_id=batch.id), 303)


@bp.post("/batches/<int:batch_id>/retry")
@role_required(*STAFF)
def retry_batch(batch_id: int):
    """Process the batch's failed photos again ("retry failed"; uploads that broke off resume in the page)."""
    batch = get_batch(batch_id, need="upload")
    photos = uploads.retry_failed(batch)
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"retried": [p.id for p in photos]})
    flash(ngettext("%(num)d photo queued again.", "%(num)d photos queued again.", len(photos)), "info")
    return redirect(url_for("studio.show_batch", batch_id=batch.id), 303)


# --- the chunk protocol (JSON) -------------------------------------------------------------------------


@bp.post("/batches/<int:batch_id>/uploads")
@role_required(*STAFF)
def create_upload(batch_id: int):
    """Start (201) or find again (200) the upload of one file: JSON {filename, size, fingerprint}."""
    batch = get_batch(batch_id, need="upload")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _refusal(uploads.UploadRefused(400, "invalid_json", _("Send a JSON object.")))
    try:
        upload, created = uploads.open_upload(
            batch, current_user, data.get("filename"), data.get("size"), data.get("fingerprint")
        )
    except uploads.UploadRefused as refusal:
        return _refusal(refusal)
    return _upload_response(upload, 201 if created else 200)


@bp.route("/uploads/<upload_id>", methods=["GET", "HEAD"])
@role_required(*STAFF)
def upload_status(upload_id: str):
    """Where an upload stands: Upload-Offset and Upload-Length headers, and its JSON."""
    return _upload_response(get_upload(upload_id))


@bp.patch("/uploads/<upload_id>")
@role_required(*STAFF)
def upload_chunk(upload_id: str):
    """Append one chunk: header Upload-Offset, body the bytes; the last chunk finishes the file."""
    get_upload(upload_id, need="upload")
    try:
        upload = uploads.receive_chunk(
            upload_id, request.headers.get("Upload-Offset"), request.stream, request.content_length
        )
    except uploads.UploadRefused as refusal:
        return _refusal(refusal)
    return _upload_response(upload)


def _upload_response(upload, status: int = 200):
    response = jsonify(uploads.upload_state(upload))
    response.status_code = status
    response.headers["Upload-Offset"] = str(upload.offset)
    response.headers["Upload-Length"] = str(upload.size)
    return _no_store(response)


def _refusal(refusal: "uploads.UploadRefused"):
    body = {"error": {"code": refusal.code, "message": refusal.message}}
    if refusal.upload is not None:
        upload = db.session.get(Upload, refusal.upload.id)  # the refusal may have rolled back
        if upload is not None:
            body["upload"] = uploads.upload_state(upload)
    response = jsonify(body)
    response.status_code = refusal.status
    if "upload" in body:
        response.headers["Upload-Offset"] = str(body["upload"]["offset"])
        response.headers["Upload-Length"] = str(body["upload"]["size"])
    return _no_store(response)


def _no_store(response):
    response.cache_control.no_store = True
    return response

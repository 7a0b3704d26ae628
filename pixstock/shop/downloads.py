"""Orders and downloads: the order page, "My orders", originals through grants, and a streamed ZIP.

No URL, id or token gives an original without a usable grant: a download link names a grant by a
signed token, and the grant row decides (not revoked by a refund, not expired, not used up).
"""
import os
from zipfile import ZIP_STORED

import zipstream
from flask import Response, abort, redirect, render_template, request, send_file
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..access import get_grant, get_order
from ..extensions import db
from ..models import DownloadGrant, Order, OrderItem
from ..services.storage import content_disposition, get_storage
from . import bp
from .links import grant_token, remember_order


def _no_referrer(response):
    # Order pages carry secret tokens in their URLs: never leak them to another site.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/orders")
@login_required
def list_orders():
    """My orders: the signed-in customer's orders, newest first."""
    rows = db.session.scalars(
        select(Order).where(Order.user_id == current_user.id).order_by(Order.created_at.desc())
        .options(selectinload(Order.items))
    ).all()
    return render_template("shop/orders.html", orders=rows)


@bp.get("/orders/<int(max=2147483647):order_id>")
def show_order(order_id: int):
    """One order: its receipt and, once paid, a download link per photo and one for them all."""
    token = request.args.get("token")
    order = get_order(order_id, token=token)
    if order.check_token(token):
        remember_order(order.id)
    items = db.session.scalars(
        select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.id)
        .options(selectinload(OrderItem.photo))
    ).all()
    grants = {grant.order_item_id: grant for grant in db.session.scalars(
        select(DownloadGrant).where(DownloadGrant.order_id == order.id)
    )}
    rows = [(item, grants.get(item.id)) for item in items]
    response = render_template(
        "shop/order.html", order=order, rows=rows, grant_token=grant_token,
        any_usable=any(grant is not None and grant.usable() for grant in grants.values()),
        token=token if order.check_token(token) else None,
    )
    return _no_referrer(Response(response))


def _gone(grant: DownloadGrant):
    if grant.revoked_at is not None:
        reason = _("This order was refunded, so its downloads are closed.")
    elif grant.download_count >= grant.max_downloads:
        reason = _("This photo has been downloaded the maximum of %(n)d times.", n=grant.max_downloads)
    else:
        reason = _("This download link has expired.")
    abort(410, description=reason)


def _counts_as_download() -> bool:
    # HEAD requests and the later parts of a resumed download are not new downloads.
    if request.method == "HEAD":
        return False
    ranges = request.range.ranges if request.range else None
    return not ranges or ranges[0][0] in (0, None)


@bp.get("/downloads/<token>")
def download_original(token: str):
    """The full-resolution original, byte for byte, through a usable grant."""
    grant = get_grant(token)
    if _counts_as_download():
        usable = bool(DownloadGrant.consume([grant.id]))
        db.session.commit()
    else:
        usable = grant.usable()
    if not usable:
        db.session.refresh(grant)
        _gone(grant)
    photo = grant.photo
    storage = get_storage()
    url = storage.presigned_url(photo.file_path, filename=photo.original_filename)
    if url:
        return redirect(url)
    path = storage.local_path(photo.file_path)
    if path and os.path.isfile(path):
        return send_file(path, mimetype=photo.content_type, as_attachment=True,
                         download_name=photo.original_filename, conditional=True, max_age=0)
    response = Response(storage.iter_chunks(photo.file_path), mimetype=photo.content_type)
    response.headers["Content-Disposition"] = content_disposition(photo.original_filename)
    return response


def _lazy_chunks(storage, key):
    # Opened only when the ZIP reaches this file, so fifty photos never hold fifty open files.
    yield from storage.iter_chunks(key)


@bp.get("/orders/<int(max=2147483647):order_id>/photos.zip")
def download_zip(order_id: int):
    """Every downloadable original of an order as one ZIP, streamed as it is built (never held whole)."""
    order = get_order(order_id, token=request.args.get("token"))
    grants = db.session.scalars(
        select(DownloadGrant).where(DownloadGrant.order_id == order.id).order_by(DownloadGrant.id)
        .options(selectinload(DownloadGrant.photo))
    ).all()
    counted = set(DownloadGrant.consume([grant.id for grant in grants])) if request.method != "HEAD" else {
        grant.id for grant in grants if grant.usable()
    }
    db.session.commit()
    if not counted:
        abort(410, description=_("There is nothing left to download in this order."))
    storage = get_storage()
    # JPEGs do not shrink when zipped: store them, which is also the cheapest for the server.
    archive = zipstream.ZipStream(compress_type=ZIP_STORED)
    for grant in grants:
        if grant.id in counted:
            photo = grant.photo
            name = photo.original_filename.replace("/", "_").replace("\\", "_")
            archive.add(_lazy_chunks(storage, photo.file_path), f"{photo.id}-{name}")
    response = Response(archive, mimetype="application/zip")
    response.headers["Content-Disposition"] = content_disposition(f"pixstock-order-{order.id}.zip")
    return _no_referrer(response)


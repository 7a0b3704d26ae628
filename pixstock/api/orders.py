"""Orders over the API: place one and get a checkout URL, then follow it to the downloads."""
from email_validator import EmailNotValidError, validate_email
from flask import jsonify, request, url_for
from flask_login import AnonymousUserMixin
from sqlalchemy import select

from .. import orders, pricing
from ..access import get_order
from ..extensions import db, limiter
from ..models import DownloadGrant, Order, OrderStatus
from ..services import payments
from ..shop.links import grant_token
from . import bp
from .auth import ApiError, api_user, json_body
from .openapi import document, schema


def order_json(order: Order, token: str | None = None) -> dict:
    """An order as the API shows it; download URLs appear only once it is paid."""
    downloads, zip_url = [], None
    if order.status is OrderStatus.PAID:
        grants = db.session.scalars(
            select(DownloadGrant).where(DownloadGrant.order_id == order.id).order_by(DownloadGrant.id)
        ).all()
        downloads = [
            {
                "photo_id": grant.photo_id,
                "url": url_for("shop.download_original", token=grant_token(grant), _external=True),
                "expires_at": grant.expires_at.isoformat(),
                "downloads_left": max(0, grant.max_downloads - grant.download_count),
            }
            for grant in grants if grant.usable()
        ]
        if downloads:
            zip_url = url_for("shop.download_zip", order_id=order.id, token=token or orders.access_token(order),
                              _external=True)
    return {
        "id": order.id,
        "status": order.status.value,
        "email": order.email,
        "items": [{"photo_id": item.photo_id, "price": item.price} for item in order.items],
        "subtotal": order.subtotal,
        "total": order.total,
        "currency": order.currency,
        "package": order.package,
        "created_at": order.created_at.isoformat(),
        "paid_at": order.paid_at.isoformat() if order.paid_at else None,
        "checkout_url": order.checkout_url if order.status is OrderStatus.PENDING else None,
        "downloads": downloads,
        "zip_url": zip_url,
    }


def _photo_ids(data: dict) -> list[int]:
    ids = data.get("photo_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ApiError(422, "invalid_photo_ids", "Send 'photo_ids' as a non-empty list of photo ids (integers).")
    ids = list(dict.fromkeys(ids))
    if len(ids) > orders.MAX_ORDER_PHOTOS:
        raise ApiError(422, "too_many_photos", f"An order holds at most {orders.MAX_ORDER_PHOTOS} photos.")
    return ids


def _email(data: dict, user) -> str:
    email = data.get("email")
    if email is None and user is not None:
        return user.email
    if not isinstance(email, str):
        raise ApiError(422, "invalid_email", "Send 'email': where the receipt and download links go.")
    try:
        return validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ApiError(422, "invalid_email", str(error)) from None


def _claims(data: dict, photos) -> dict:
    package = data.get("package")
    if package is None:
        return {}
    if package != pricing.ALL_OF_ME:
        raise ApiError(422, "invalid_package", "'package' is either absent or \"all_of_me\".")
    event_ids = {photo.event_id for photo in photos}
    event_id = data.get("event_id", next(iter(event_ids)) if len(event_ids) == 1 else None)
    claimed = pricing.load_all_of_me(data.get("package_token"), event_id) if isinstance(event_id, int) else None
    if claimed is None:
        raise ApiError(422, "invalid_package_token",
                       "The all_of_me package needs the 'package_token' of a face search of this event (valid 2 days).")
    return {event_id: claimed}


@bp.post("/orders")
@limiter.limit("30 per minute")
def create_order():
    """Place an order for photos at the best price and get the URL where the customer pays."""
    data = json_body()
    user = api_user()
    ids = _photo_ids(data)
    email = _email(data, user)
    photos = orders.purchasable_photos(ids)
    missing = sorted(set(ids) - {photo.id for photo in photos})
    if missing:
        raise ApiError(422, "photos_not_for_sale", "Some photos do not exist or are not for sale.",
                       photo_ids=missing)
    claims = _claims(data, photos)
    try:
        order, quote = orders.place_order(photos, email, user=user, locale=(user.locale if user else None) or "en",
                                          claims=claims)
        checkout_url = orders.start_checkout(order, quote)
    except orders.CheckoutError as error:
        raise ApiError(422, "cannot_checkout", str(error)) from None
    except payments.PaymentError:
        raise ApiError(503, "payment_provider_unavailable", "The payment service is not answering; try again.") from None
    token = orders.access_token(order)
    response = jsonify({
        "order_id": order.id,
        "order_token": token,
        "checkout_url": checkout_url,
        "total": order.total,
        "currency": order.currency,
        "package": order.package,
        "status": order.status.value,
    })
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_order_json", order_id=order.id, token=token)
    return response


@bp.get("/orders/<int(max=2147483647):order_id>")
def get_order_json(order_id: int):
    """An order's status, items and, once paid, its download URLs; needs ?token= or the owner's bearer token."""
    token = request.args.get("token")
    order = get_order(order_id, api_user() or AnonymousUserMixin(), token=token, browser=False)
    return jsonify(order_json(order, token if order.check_token(token) else None))


schema("Order", {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "status": {"type": "string", "enum": [s.value for s in OrderStatus]},
        "email": {"type": "string"},
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "photo_id": {"type": "integer"}, "price": {"type": "integer", "description": "satang"}}}},
        "subtotal": {"type": "integer", "description": "every photo at the single price"},
        "total": {"type": "integer", "description": "what the customer pays, in the smallest unit"},
        "currency": {"type": "string", "example": "THB"},
        "package": {"type": "string", "nullable": True, "enum": ["bundle", "all_of_me", None]},
        "created_at": {"type": "string", "format": "date-time"},
        "paid_at": {"type": "string", "format": "date-time", "nullable": True},
        "checkout_url": {"type": "string", "nullable": True, "description": "while pending"},
        "downloads": {"type": "array", "description": "only once paid", "items": {"type": "object", "properties": {
            "photo_id": {"type": "integer"}, "url": {"type": "string"},
            "expires_at": {"type": "string", "format": "date-time"}, "downloads_left": {"type": "integer"}}}},
        "zip_url": {"type": "string", "nullable": True},
    },
})
document("/orders", "post", {
    "summary": "Place an order",
    "description": "Prices are computed on the server (bundles and the all-of-me package at the best price). "
                   "Send the customer to checkout_url to pay; keep order_token to read the order later. "
                   "A bearer token is optional: with one, the order belongs to that account.",
    "security": [{}, {"bearer": []}],
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["photo_ids"],
        "properties": {
            "photo_ids": {"type": "array", "items": {"type": "integer"}, "maxItems": orders.MAX_ORDER_PHOTOS},
            "email": {"type": "string", "description": "required without a bearer token"},
            "package": {"type": "string", "enum": ["all_of_me"]},
            "package_token": {"type": "string", "description": "from the face search, required with package"},
            "event_id": {"type": "integer", "description": "the package's event, when photos span events"},
        },
    }}}},
    "responses": {
        "201": {"description": "The order, pending payment", "content": {"application/json": {"schema": {
            "type": "object", "properties": {
                "order_id": {"type": "integer"}, "order_token": {"type": "string"},
                "checkout_url": {"type": "string"}, "total": {"type": "integer"}, "currency": {"type": "string"},
                "package": {"type": "string", "nullable": True}, "status": {"type": "string"}}}}}},
        "422": {"$ref": "#/components/responses/Error"},
        "503": {"$ref": "#/components/responses/Error"},
    },
})
document("/orders/{order_id}", "get", {
    "summary": "An order, with download URLs once paid",
    "security": [{}, {"bearer": []}],
    "parameters": [
        {"name": "order_id", "in": "path", "required": True, "schema": {"type": "integer"}},
        {"name": "token", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "the order_token; not needed with the owner's bearer token"},
    ],
    "responses": {
        "200": {"description": "The order", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}}},
        "404": {"$ref": "#/components/responses/Error"},
    },
})

"""Signed download links, and the orders this browser may open without a token."""
from __future__ import annotations

from flask import current_app, session
from itsdangerous import BadSignature, URLSafeSerializer

from ..models import DownloadGrant

SESSION_ORDERS = "orders"
REMEMBERED_ORDERS = 20


def _grant_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="pixstock-download")


def grant_token(grant: DownloadGrant) -> str:
    """The signed token in a grant's download URL; expiry and limits live on the grant row, not here."""
    return _grant_serializer().dumps(grant.id)


def load_grant_id(token: str) -> int | None:
    """The grant id a download token names, or None when the signature is wrong."""
    try:
        grant_id = _grant_serializer().loads(token)
    except BadSignature:
        return None
    return grant_id if isinstance(grant_id, int) else None


def remember_order(order_id: int) -> None:
    """Let this browser open order_id again without its token (the checkout and success pages)."""
    ids = [i for i in session.get(SESSION_ORDERS, []) if i != order_id]
    session[SESSION_ORDERS] = (ids + [order_id])[-REMEMBERED_ORDERS:]


def remembered_orders() -> list[int]:
    """Orders this browser placed or opened with a valid token, newest last."""
    return [int(i) for i in session.get(SESSION_ORDERS, [])]

"""The shop: cart, checkout (Stripe or the test provider), the Stripe webhook, orders and downloads."""
from flask import Blueprint, has_request_context
from flask_babel import lazy_gettext as _l
from flask_login import user_logged_in

from ..models import OrderStatus

bp = Blueprint("shop", __name__)

from . import downloads, routes  # noqa: E402,F401
from .cart import current_cart, merge_into_account  # noqa: E402

STATUS_LABELS = {
    OrderStatus.PENDING: _l("Awaiting payment"),
    OrderStatus.PAID: _l("Paid"),
    OrderStatus.FAILED: _l("Payment failed"),
    OrderStatus.EXPIRED: _l("Expired"),
    OrderStatus.CANCELLED: _l("Cancelled"),
    OrderStatus.REFUNDED: _l("Refunded"),
}


def order_status_label(status: OrderStatus) -> str:
    """An order status as customers read it."""
    return str(STATUS_LABELS[status])


@bp.app_context_processor
def inject_cart():
    """`shop_cart` on every page, for the nav badge and add-to-cart buttons (queried only when read)."""
    helpers = {"order_status_label": order_status_label}
    # Emails render outside requests, where there is no visitor and no cart.
    if has_request_context():
        helpers["shop_cart"] = current_cart()
    return helpers


@user_logged_in.connect
def _merge_cart_on_login(sender, user, **extra):
    # An anonymous cart follows the customer into their account when they sign in.
    merge_into_account(user)

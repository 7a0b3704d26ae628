"""Cart, checkout, the test payment provider and the Stripe webhook: thin views over the domain."""
import hmac
import secrets

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from .. import orders, pricing
from ..access import get_order, get_photo
from ..analytics.tracking import track
from ..extensions import csrf, db
from ..models import Order, OrderStatus, Photo, TrackKind
from ..services import payments
from . import bp
from .cart import MAX_CART_PHOTOS, CartFull, current_cart
from .forms import CheckoutForm
from .links import remember_order, remembered_orders


def _is_htmx() -> bool:
    return bool(request.headers.get("HX-Request"))


def _safe_next(target: str | None) -> str | None:
    # Only same-site relative paths, so a crafted form cannot bounce the customer elsewhere.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def _checkout_form() -> CheckoutForm:
    form = CheckoutForm()
    if current_user.is_authenticated and not form.email.data:
        form.email.data = current_user.email
    return form


def _render_cart(form: CheckoutForm, status: int = 200):
    quote, dropped = current_cart().quote()
    if dropped:
        flash(ngettext("%(num)d photo is no longer for sale and was taken out of your cart.",
                       "%(num)d photos are no longer for sale and were taken out of your cart.", dropped), "info")
    template = "shop/_cart.html" if _is_htmx() else "shop/cart.html"
    return render_template(template, quote=quote, form=form, badge_oob=_is_htmx()), status


@bp.get("/cart")
def show_cart():
    """The cart: photos per event, the pricing that applied, the total, and the checkout form."""
    return _render_cart(_checkout_form())


def _toggle_response(photo: Photo):
    """After add or remove: the button and the badge for htmx, else back where the customer was."""
    if request.form.get("return") == "cart":
        if _is_htmx():
            return _render_cart(_checkout_form())
        return redirect(url_for("shop.show_cart"))
    if _is_htmx():
        return render_template("shop/_add_to_cart.html", photo=photo, event=photo.event,
                               next_url=_safe_next(request.form.get("next")), badge_oob=True)
    return redirect(_safe_next(request.form.get("next")) or url_for("shop.show_cart"))


@bp.post("/cart/photos/<int(max=2147483647):photo_id>")
def add_to_cart(photo_id: int):
    """Put one photo in the cart."""
    photo = get_photo(photo_id)
    if not (photo.is_visible_to_customers and photo.event.can_sell):
        abort(409, description=_("This photo is not for sale."))
    try:
        current_cart().add([photo.id])
    except CartFull:
        abort(422, description=_("A cart holds at most %(n)d photos.", n=MAX_CART_PHOTOS))
    track(TrackKind.CART_ADD, photo.event_id, photo.id)
    return _toggle_response(photo)


@bp.post("/cart/photos/<int(max=2147483647):photo_id>/remove")
def remove_from_cart(photo_id: int):
    """Take one photo out of the cart."""
    current_cart().remove([photo_id])
    photo = db.session.get(Photo, photo_id)
    if photo is None:
        return redirect(url_for("shop.show_cart"))
    return _toggle_response(photo)


def _int_list(values) -> list[int]:
    ids = []
    for value in values:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            continue
    return ids


@bp.post("/cart/add-many")
def add_many():
    """Add a list of photos at once (face-search results); a signed result can become "all photos of me"."""
    ids = _int_list(request.form.getlist("photo_ids"))
    if not ids:
        abort(400, description=_("Choose at least one photo."))
    if len(ids) > MAX_CART_PHOTOS:
        abort(422, description=_("A cart holds at most %(n)d photos.", n=MAX_CART_PHOTOS))
    cart = current_cart()
    photos = orders.purchasable_photos(ids)
    if request.form.get("package") == pricing.ALL_OF_ME:
        event_id = (_int_list([request.form.get("event_id")]) or [None])[0]
        claimed = pricing.load_all_of_me(request.form.get("package_token"), event_id)
        if claimed is None:
            flash(_("The “all photos of me” offer has expired; search again to get it. "
                    "The photos were added at their usual prices."), "info")
        else:
            cart.add_claim(event_id, claimed)
    try:
        added = cart.add([photo.id for photo in photos])
    except CartFull:
        abort(422, description=_("A cart holds at most %(n)d photos.", n=MAX_CART_PHOTOS))
    for event_id in {photo.event_id for photo in photos}:
        track(TrackKind.CART_ADD, event_id)
    message = ngettext("%(num)d photo added to your cart.", "%(num)d photos added to your cart.", added)
    if _is_htmx():
        return render_template("shop/_added.html", message=message, badge_oob=True)
    flash(message, "success")
    return redirect(url_for("shop.show_cart"))


@bp.post("/checkout")
def start_checkout():
    """Turn the cart into a pending order and send the customer to the payment page."""
    form = _checkout_form()
    if not form.validate_on_submit():
        return _render_cart(form, 422)
    cart = current_cart()
    quote, dropped = cart.quote()
    if dropped:
        # The price may have changed: show the cart again rather than charge a surprise.
        return _render_cart(form, 409)
    email = form.email.data
    photo_ids = {photo.id for photo in quote.photos}
    # Back from Stripe and paying again for the same cart: reuse the open session, never open a second.
    order = orders.reusable_order(remembered_orders(), photo_ids, quote.total, email)
    if order is not None:
        return redirect(order.checkout_url, 303)
    user = current_user._get_current_object() if current_user.is_authenticated else None
    try:
        order, quote = orders.place_order(quote.photos, email, user=user, locale=str(get_locale() or "en"),
                                          claims=cart.claims())
        remember_order(order.id)
        url = orders.start_checkout(order, quote)
        # The cart changed since an earlier payment page was opened: that page must not take money too.
        orders.supersede_open_orders(remembered_orders(), keep=order.id)
    except orders.CheckoutError as error:
        flash(str(error), "error")
        return _render_cart(form, 422)
    except payments.PaymentError:
        flash(_("The payment service is not answering. Your cart is safe; please try again in a minute."), "error")
        return _render_cart(form, 503)
    return redirect(url, 303)


@bp.get("/checkout/<int(max=2147483647):order_id>/success")
def checkout_success(order_id: int):
    """After payment: says "paid" only once the server knows it, polling until then (htmx or a refresh)."""
    session_id = request.args.get("session_id") or ""
    order = db.session.get(Order, order_id)
    # The provider's session id in the return URL shows this browser came back from that checkout.
    if order is not None and order.provider_session_id and hmac.compare_digest(session_id, order.provider_session_id):
        remember_order(order.id)
    order = get_order(order_id, token=request.args.get("token"))
    if order.status is OrderStatus.PENDING:
        orders.confirm_with_provider(order)
    if order.is_paid:
        current_cart().remove([item.photo_id for item in order.items])
    template = "shop/_payment_status.html" if _is_htmx() else "shop/success.html"
    return render_template(template, order=order)


@bp.get("/checkout/<int(max=2147483647):order_id>/cancel")
def checkout_cancel(order_id: int):
    """Back from the payment page without paying: the cart is untouched (the order expires by itself)."""
    flash(_("Payment cancelled. Your cart is just as you left it."), "info")
    return redirect(url_for("shop.show_cart"))


# --- The test payment provider --------------------------------------------------------------------


def _test_order(session_id: str) -> Order:
    if not payments.test_provider_allowed():
        abort(404)
    order = db.session.scalar(
        select(Order).where(Order.provider == payments.TEST, Order.provider_session_id == session_id)
    )
    if order is None:
        abort(404)
    return order


@bp.get("/checkout/test/<session_id>")
def test_checkout(session_id: str):
    """The test provider's checkout page (development only): Pay, Decline or Cancel."""
    order = _test_order(session_id)
    return render_template("shop/test_checkout.html", order=order, session_id=session_id)


@bp.post("/checkout/test/<session_id>")
def pay_test_checkout(session_id: str):
    """Act on the test checkout as Stripe would, through the very same event handling."""
    order = _test_order(session_id)
    action = request.form.get("action")
    if action == "cancel":
        return redirect(url_for("shop.checkout_cancel", order_id=order.id))
    if action not in ("pay", "decline"):
        abort(400, description=_("Choose Pay, Decline or Cancel."))
    if order.status is OrderStatus.PENDING:
        session = {
            "id": session_id,
            "object": "checkout.session",
            "payment_status": "paid" if action == "pay" else "unpaid",
            "amount_total": order.total,
            "currency": order.currency.lower(),
            "customer_email": order.email,
            "metadata": {"order_id": str(order.id)},
            "payment_intent": "test_pi_" + secrets.token_hex(12),
        }
        event_type = "checkout.session.completed" if action == "pay" else "checkout.session.async_payment_failed"
        event = {"id": "test_evt_" + secrets.token_hex(12), "type": event_type, "data": {"object": session}}
        orders.handle_event(payments.TEST, event)
    return redirect(url_for("shop.checkout_success", order_id=order.id, session_id=session_id))


# --- Stripe's webhook ------------------------------------------------------------------------------


@bp.post("/stripe/webhook")
@csrf.exempt
def stripe_webhook():
    """Stripe's events, verified against the raw body; redelivered events change nothing."""
    try:
        event = payments.verify_webhook(request.get_data(cache=False), request.headers.get("Stripe-Signature"))
    except payments.WebhookError as error:
        current_app.logger.warning("rejected Stripe webhook: %s", error)
        return jsonify({"error": str(error)}), 400
    result = orders.handle_event(payments.STRIPE, event)
    return jsonify({"received": True, "result": result})

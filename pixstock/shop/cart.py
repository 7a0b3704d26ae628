"""The visitor's cart: CartItem rows when signed in, the session when anonymous, merged on login.

Package claims (a signed "all photos of me" face-search result, see pricing.sign_all_of_me) live
in the session for everyone: they belong to the browser that did the search.
"""
from __future__ import annotations

from flask import g, session
from flask_login import current_user
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from .. import orders, pricing
from ..extensions import db
from ..models import CartItem, Photo, User, utcnow

SESSION_PHOTOS = "cart"
SESSION_CLAIMS = "cart_packages"
# Anonymous carts ride in the signed session cookie, which browsers cap at 4 KB.
MAX_CART_PHOTOS = orders.MAX_ORDER_PHOTOS


class CartFull(ValueError):
    """Adding would take the cart over MAX_CART_PHOTOS."""


class Cart:
    """The current visitor's cart; reads cost one query when signed in and none when anonymous."""

    def __init__(self, user: User | None):
        self.user = user
        self._ids: list[int] | None = None

    def photo_ids(self) -> list[int]:
        """The ids in the cart, oldest first."""
        if self._ids is None:
            if self.user is None:
                self._ids = [int(i) for i in session.get(SESSION_PHOTOS, [])]
            else:
                self._ids = list(db.session.scalars(
                    select(CartItem.photo_id).where(CartItem.user_id == self.user.id).order_by(CartItem.id)
                ))
        return self._ids

    @property
    def count(self) -> int:
        return len(self.photo_ids())

    def contains(self, photo_id: int) -> bool:
        return photo_id in self.photo_ids()

    def add(self, photo_ids) -> int:
        """Add photos (ids already checked as purchasable); return how many were new."""
        current = self.photo_ids()
        new = [i for i in dict.fromkeys(photo_ids) if i not in current]
        if len(current) + len(new) > MAX_CART_PHOTOS:
            raise CartFull(MAX_CART_PHOTOS)
        if not new:
            return 0
        if self.user is None:
            session[SESSION_PHOTOS] = current + new
        else:
            db.session.add_all(CartItem(user_id=self.user.id, photo_id=i, added_at=utcnow()) for i in new)
            try:
                db.session.commit()
            except IntegrityError:
                # A double tap added the same photo in a parallel request: it is in the cart either way.
                db.session.rollback()
                self._ids = None
                return 0
        self._ids = current + new
        return len(new)

    def remove(self, photo_ids) -> None:
        """Take photos out of the cart (unknown ids are ignored)."""
        gone = set(photo_ids)
        if self.user is None:
            session[SESSION_PHOTOS] = [i for i in self.photo_ids() if i not in gone]
        else:
            db.session.execute(delete(CartItem).where(CartItem.user_id == self.user.id, CartItem.photo_id.in_(gone)))
            db.session.commit()
        self._ids = [i for i in self.photo_ids() if i not in gone]

    def claims(self) -> dict[int, frozenset[int]]:
        """Event id → the photos a signed face search let this browser buy as "all photos of me"."""
        return {int(event_id): frozenset(ids) for event_id, ids in session.get(SESSION_CLAIMS, {}).items()}

    def add_claim(self, event_id: int, photo_ids) -> None:
        """Remember a verified "all photos of me" set for event_id (replacing an older search)."""
        claims = dict(session.get(SESSION_CLAIMS, {}))
        claims[str(event_id)] = sorted(set(photo_ids))
        session[SESSION_CLAIMS] = claims

    def photos(self) -> tuple[list[Photo], int]:
        """The purchasable photos in the cart, and how many stale ones were dropped from it."""
        ids = self.photo_ids()
        photos = orders.purchasable_photos(ids)
        stale = set(ids) - {photo.id for photo in photos}
        if stale:
            self.remove(stale)
        return photos, len(stale)

    def quote(self) -> tuple[pricing.Quote, int]:
        """The cart at the best price, and how many photos were dropped because they are no longer sold."""
        photos, dropped = self.photos()
        return pricing.quote(photos, self.claims()), dropped


def current_cart() -> Cart:
    """The cart of this request's visitor (kept on g, so a page pays for it once)."""
    if "shop_cart" not in g:
        user = current_user._get_current_object() if current_user.is_authenticated else None
        g.shop_cart = Cart(user)
    return g.shop_cart


def merge_into_account(user: User) -> None:
    """Move the session cart into user's CartItem rows (called when they sign in)."""
    ids = [int(i) for i in session.pop(SESSION_PHOTOS, [])]
    g.pop("shop_cart", None)
    if not ids:
        return
    cart = Cart(user)
    existing = set(cart.photo_ids())
    purchasable = {photo.id for photo in orders.purchasable_photos(ids)}
    room = max(MAX_CART_PHOTOS - len(existing), 0)
    cart.add([i for i in dict.fromkeys(ids) if i in purchasable and i not in existing][:room])

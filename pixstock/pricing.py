"""Prices in satang: single photos, "any N for P" bundles and the event's "all photos of me" package.

Everything is computed on the server from the event's prices, per event, and the cheapest way to
buy the chosen photos wins. A bundle may cover more photos than were chosen when that is still
cheaper (4 photos at ฿100 cost more than "5 for ฿400"); the quote then reports the spare places.

The "all photos of me" package is a fixed price for the photos a face search found. The search
signs its result (``sign_all_of_me``); only a set carrying a valid signature can be priced as the
package, so nobody can put a whole event in a cart and call it "all of me".
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .models import Event, Photo

SINGLE, BUNDLE, ALL_OF_ME = "single", "bundle", "all_of_me"
# A face-search result can be turned into a package for this long after the search.
ALL_OF_ME_TOKEN_SECONDS = 2 * 24 * 3600


@dataclass(frozen=True)
class PriceLine:
    """One line of a quote: quantity × unit_amount, each unit covering photo_count photos."""

    kind: str
    quantity: int
    unit_amount: int
    photo_count: int = 1

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_amount

    def describe(self) -> str:
        """The line as a customer reads it, in the current language."""
        if self.kind == ALL_OF_ME:
            return ngettext("All photos of me (%(num)d photo)", "All photos of me (%(num)d photos)", self.photo_count)
        if self.kind == BUNDLE:
            return _("Bundle of %(count)d photos", count=self.photo_count)
        return _("Single photo")


@dataclass
class EventQuote:
    """The best price for the chosen photos of one event."""

    event: Event
    photos: list[Photo]
    lines: list[PriceLine]
    # Photos the chosen bundles pay for beyond those in the cart ("add 1 more at no extra cost").
    spare: int = 0

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def list_price(self) -> int:
        """What the photos cost one by one."""
        return len(self.photos) * self.event.price_single

    @property
    def savings(self) -> int:
        return max(0, self.list_price - self.total)

    @property
    def package(self) -> str | None:
        """The best pricing that applied: all_of_me, bundle, or None for singles only."""
        kinds = {line.kind for line in self.lines}
        return ALL_OF_ME if ALL_OF_ME in kinds else BUNDLE if BUNDLE in kinds else None


@dataclass
class Quote:
    """The price of a whole cart: one EventQuote per event."""

    events: list[EventQuote] = field(default_factory=list)

    @property
    def photos(self) -> list[Photo]:
        return [photo for event_quote in self.events for photo in event_quote.photos]

    @property
    def total(self) -> int:
        return sum(event_quote.total for event_quote in self.events)

    @property
    def list_price(self) -> int:
        return sum(event_quote.list_price for event_quote in self.events)

    @property
    def savings(self) -> int:
        return sum(event_quote.savings for event_quote in self.events)

    @property
    def currencies(self) -> set[str]:
        return {event_quote.event.currency for event_quote in self.events}

    @property
    def currency(self) -> str:
        return next(iter(self.currencies), current_app.config["DEFAULT_CURRENCY"])

    @property
    def package(self) -> str | None:
        packages = {event_quote.package for event_quote in self.events}
        return ALL_OF_ME if ALL_OF_ME in packages else BUNDLE if BUNDLE in packages else None

    def item_prices(self) -> dict[int, int]:
        """Each photo's share of the total, keyed by photo id; the shares add up to the total exactly."""
        prices = {}
        for event_quote in self.events:
            photos = sorted(event_quote.photos, key=lambda photo: photo.id)
            share, remainder = divmod(event_quote.total, len(photos))
            # The satang that do not divide evenly go one each to the first photos, so it is deterministic.
            for index, photo in enumerate(photos):
                prices[photo.id] = share + (1 if index < remainder else 0)
        return prices


def best_lines(count: int, single_price: int, tiers: Iterable[tuple[int, int]]) -> tuple[list[PriceLine], int]:
    """The cheapest singles and bundles covering at least count photos; returns (lines, spare places)."""
    if count <= 0:
        return [], 0
    tiers = sorted({(size, price) for size, price in tiers if size > 0 and price >= 0})
    largest = max((size for size, _price in tiers), default=1)
    top = count + largest - 1
    # cost[k]: cheapest way to pay for exactly k photos; choice[k]: the last unit bought (None = a single).
    cost = [0] * (top + 1)
    choice: list[tuple[int, int] | None] = [None] * (top + 1)
    for k in range(1, top + 1):
        cost[k] = cost[k - 1] + single_price
        for size, price in tiers:
            # Strictly cheaper only: at equal cost singles win, as they are simplest to read.
            if size <= k and cost[k - size] + price < cost[k]:
                cost[k], choice[k] = cost[k - size] + price, (size, price)
    covered = min(range(count, top + 1), key=lambda k: (cost[k], k))
    singles, bundles, k = 0, {}, covered
    while k > 0:
        if choice[k] is None:
            singles, k = singles + 1, k - 1
        else:
            bundles[choice[k]] = bundles.get(choice[k], 0) + 1
            k -= choice[k][0]
    lines = [PriceLine(BUNDLE, n, price, size) for (size, price), n in sorted(bundles.items(), reverse=True)]
    if singles:
        lines.append(PriceLine(SINGLE, singles, single_price))
    return lines, covered - count


def quote_event(event: Event, photos: list[Photo], claimed: frozenset[int] = frozenset()) -> EventQuote:
    """The best price for photos of event, with claimed = the signed "all photos of me" set, if any."""
    tiers = [(tier.photo_count, tier.price) for tier in event.bundles]
    lines, spare = best_lines(len(photos), event.price_single, tiers)
    best = EventQuote(event, photos, lines, spare)
    in_package = [photo for photo in photos if photo.id in claimed]
    if event.price_all_of_me is not None and in_package:
        rest_lines, rest_spare = best_lines(len(photos) - len(in_package), event.price_single, tiers)
        package = EventQuote(
            event, photos, [PriceLine(ALL_OF_ME, 1, event.price_all_of_me, len(in_package)), *rest_lines], rest_spare
        )
        if package.total < best.total:
            best = package
    return best


def quote(photos: Iterable[Photo], claims: dict[int, frozenset[int]] | None = None) -> Quote:
    """Price photos (of any events) at the best price for the customer; claims maps event id → package set."""
    claims = claims or {}
    by_event: dict[int, list[Photo]] = {}
    for photo in photos:
        by_event.setdefault(photo.event_id, []).append(photo)
    events = []
    for event_id in sorted(by_event):
        group = sorted(by_event[event_id], key=lambda photo: photo.id)
        events.append(quote_event(group[0].event, group, claims.get(event_id, frozenset())))
    return Quote(events)


def _package_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="pixstock-all-of-me")


def sign_all_of_me(event_id: int, photo_ids: Iterable[int]) -> str:
    """Sign a face-search result so it can be bought as the event's "all photos of me" package."""
    return _package_serializer().dumps({"e": int(event_id), "p": sorted({int(i) for i in photo_ids})})


def load_all_of_me(token: str | None, event_id: int) -> frozenset[int] | None:
    """The photo ids a valid package token for event_id covers, or None."""
    if not token or not isinstance(token, str):
        return None
    try:
        data = _package_serializer().loads(token, max_age=ALL_OF_ME_TOKEN_SECONDS)
    except BadSignature:  # SignatureExpired is a BadSignature too
        return None
    if not isinstance(data, dict) or data.get("e") != event_id or not isinstance(data.get("p"), list):
        return None
    return frozenset(int(i) for i in data["p"])

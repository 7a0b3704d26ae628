"""Pricing: singles, "any N for P" bundles, the signed "all photos of me" package, shares of the total."""
import pytest

from pixstock import pricing
from pixstock.pricing import ALL_OF_ME, BUNDLE, SINGLE, PriceLine, best_lines

from . import factories


def cost(lines):
    return sum(line.amount for line in lines)


@pytest.mark.parametrize(
    "count, tiers, expected_total, expected_spare",
    [
        (0, [(5, 40000)], 0, 0),
        (1, [(5, 40000)], 10000, 0),
        (3, [(5, 40000)], 30000, 0),
        # Four singles (400) cost the same as the 5-bundle: the simpler singles win the tie.
        (4, [(5, 40000)], 40000, 0),
        (5, [(5, 40000)], 40000, 0),
        (6, [(5, 40000)], 50000, 0),
        (23, [(5, 40000)], 4 * 40000 + 3 * 10000, 0),
        # 4 photos, 5 for 350: the bundle is cheaper even though one place is spare.
        (4, [(5, 35000)], 35000, 1),
        # Mixed tiers: 13 = 10 + 3 singles (850+300=1150) vs 5+5+3 (1100) vs 10+5 (1300)... best is 5,5,3.
        (13, [(5, 40000), (10, 85000)], 2 * 40000 + 3 * 10000, 0),
        (20, [(5, 45000), (10, 70000)], 2 * 70000, 0),
        (12, [(5, 45000), (10, 70000)], 70000 + 2 * 10000, 0),
        # A tier that is no bargain is never chosen.
        (10, [(10, 200000)], 100000, 0),
    ],
)
def test_best_lines(count, tiers, expected_total, expected_spare):
    lines, spare = best_lines(count, 10000, tiers)
    assert cost(lines) == expected_total
    assert spare == expected_spare
    assert sum(line.quantity * line.photo_count for line in lines) == count + spare


def test_best_lines_is_optimal_against_brute_force():
    """For every cart size up to 30, nothing beats the chosen combination."""
    tiers = [(3, 25000), (7, 52000), (12, 80000)]
    for count in range(31):
        lines, _spare = best_lines(count, 10000, tiers)
        best = min(
            singles * 10000 + a * 25000 + b * 52000 + c * 80000
            for a in range(count // 3 + 2) for b in range(count // 7 + 2) for c in range(count // 12 + 2)
            for singles in range(count + 1)
            if singles + 3 * a + 7 * b + 12 * c >= count
        )
        assert cost(lines) == best, count


@pytest.fixture
def event_photos(app):
    photographer = factories.make_user("photographer")
    event = factories.make_event(price_single=10000, price_all_of_me=50000, bundles=[(5, 40000)])
    photos = factories.make_photos(event, photographer, 25, files=False)
    return event, photos


def test_quote_uses_bundles_and_shares_add_up(event_photos):
    event, photos = event_photos
    quote = pricing.quote(photos[:7])
    assert quote.total == 40000 + 2 * 10000
    assert quote.list_price == 70000
    assert quote.savings == 10000
    assert quote.package == BUNDLE
    prices = quote.item_prices()
    assert sum(prices.values()) == quote.total
    assert set(prices) == {photo.id for photo in photos[:7]}
    # 60000 over 7 photos: 8572 for the first three (the remainder), 8571 for the rest, by photo id.
    assert sorted(prices.values(), reverse=True) == [8572] * 3 + [8571] * 4


def test_all_of_me_needs_a_claim(event_photos):
    event, photos = event_photos
    chosen = photos[:23]
    assert pricing.quote(chosen).total == 4 * 40000 + 3 * 10000  # no claim: bundles only
    claim = frozenset(photo.id for photo in chosen)
    quote = pricing.quote(chosen, {event.id: claim})
    assert quote.total == 50000
    assert quote.package == ALL_OF_ME
    assert quote.events[0].lines == [PriceLine(ALL_OF_ME, 1, 50000, 23)]
    assert sum(quote.item_prices().values()) == 50000


def test_all_of_me_only_when_cheaper(event_photos):
    event, photos = event_photos
    chosen = photos[:3]
    quote = pricing.quote(chosen, {event.id: frozenset(p.id for p in chosen)})
    assert quote.total == 30000  # three singles beat the ฿500 package
    assert quote.package is None
    assert quote.events[0].lines == [PriceLine(SINGLE, 3, 10000)]


def test_photos_outside_the_claim_are_priced_on_top(event_photos):
    event, photos = event_photos
    claim = frozenset(p.id for p in photos[:10])
    quote = pricing.quote(photos[:12], {event.id: claim})
    assert quote.total == 50000 + 2 * 10000
    kinds = [line.kind for line in quote.events[0].lines]
    assert kinds == [ALL_OF_ME, SINGLE]


def test_claim_of_another_event_does_not_apply(event_photos):
    event, photos = event_photos
    other = factories.make_event(price_single=10000, price_all_of_me=1000)
    quote = pricing.quote(photos[:10], {other.id: frozenset(p.id for p in photos[:10])})
    assert quote.total == 2 * 40000


def test_event_without_package_price_ignores_claims(app):
    photographer = factories.make_user("photographer")
    event = factories.make_event(price_single=10000, price_all_of_me=None, bundles=[])
    photos = factories.make_photos(event, photographer, 6, files=False)
    quote = pricing.quote(photos, {event.id: frozenset(p.id for p in photos)})
    assert quote.total == 60000


def test_quote_groups_events(event_photos):
    event, photos = event_photos
    photographer = factories.make_user("photographer")
    second = factories.make_event(price_single=5000, bundles=[])
    others = factories.make_photos(second, photographer, 2, files=False)
    quote = pricing.quote(photos[:5] + others)
    assert [eq.event.id for eq in quote.events] == sorted([event.id, second.id])
    assert quote.total == 40000 + 10000
    assert sum(quote.item_prices().values()) == quote.total


def test_package_token_round_trip_and_tampering(app):
    token = pricing.sign_all_of_me(7, [3, 1, 2, 2])
    assert pricing.load_all_of_me(token, 7) == frozenset({1, 2, 3})
    assert pricing.load_all_of_me(token, 8) is None  # another event
    assert pricing.load_all_of_me(token[:-2] + "xx", 7) is None
    assert pricing.load_all_of_me(None, 7) is None
    assert pricing.load_all_of_me("", 7) is None

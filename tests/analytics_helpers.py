"""Orders and a small marathon for the analytics tests: rows written the way fulfilment writes them."""
from datetime import datetime, timezone

import pytest

from pixstock.extensions import db
from pixstock.models import CommissionEntry, Order, OrderItem, OrderStatus

from . import factories


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def sell(items, paid_at, refunded_at=None, currency="THB", email="runner@example.com", status=None):
    """A paid (or refunded) order of (photo, price) items with its commission ledger, as fulfilment writes it:
    one sale entry per photo at the photographer's rate, reversed per photo by a refund."""
    order = Order(
        email=email, currency=currency, status=status or (OrderStatus.REFUNDED if refunded_at else OrderStatus.PAID),
        subtotal=sum(p for _, p in items), total=sum(p for _, p in items), created_at=paid_at,
        paid_at=paid_at if status is None else None,
        event_id=items[0][0].event_id if len({photo.event_id for photo, _ in items}) == 1 else None,
    )
    order.items = [OrderItem(photo_id=photo.id, price=price) for photo, price in items]
    db.session.add(order)
    db.session.flush()
    if order.paid_at is not None:
        for item, (photo, price) in zip(order.items, items):
            profile = photo.photographer.profile
            rate = profile.commission_bps if profile else 0
            sale = CommissionEntry(order_item_id=item.id, photographer_id=photo.photographer_id,
                                   event_id=photo.event_id, rate_bps=rate, amount=CommissionEntry.share(price, rate),
                                   kind="sale", created_at=paid_at)
            db.session.add(sale)
            if refunded_at:
                db.session.add(CommissionEntry(order_item_id=item.id, photographer_id=photo.photographer_id,
                                               event_id=photo.event_id, rate_bps=rate, amount=-sale.amount,
                                               kind="refund", created_at=refunded_at))
    db.session.commit()
    return order


# Local days in Asia/Bangkok (UTC+7). 17:30 UTC on 1 March is 00:30 on 2 March in Bangkok.
D1 = utc(2025, 3, 1, 17, 30)   # 2025-03-02 local
D2 = utc(2025, 3, 3, 16, 59)   # 2025-03-03 local, a minute before midnight
D3 = utc(2025, 3, 5, 3, 0)     # 2025-03-05 local


@pytest.fixture
def marathon(app):
    """Two events, photographers A (50 %) and B (30 %), four paid orders of which one is refunded,
    plus orders that must never count (pending, failed, another currency).

    Expected, THB, all time:  sales 59,332  refunds 9,999  gross 49,333  commission 22,667  net 26,666
    (see test_analytics_reports for the sums written out).
    """
    a = factories.make_user("photographer", email="anna@example.com")
    b = factories.make_user("photographer", email="boon@example.com")
    a.profile.display_name, b.profile.display_name = "Anna", "Boon"
    b.profile.commission_bps = 3000
    db.session.commit()
    e1 = factories.make_event(name="Bangkok Marathon", photographers=[a, b])
    e2 = factories.make_event(name="Chiang Mai Trail", photographers=[a])
    a1, a2 = factories.make_photos(e1, a, 2, files=False)
    b1, b2 = factories.make_photos(e1, b, 2, files=False)
    (a3,) = factories.make_photos(e2, a, 1, files=False)
    usd_event = factories.make_event(name="Singapore Run", currency="USD", photographers=[a])
    (u1,) = factories.make_photos(usd_event, a, 1, files=False)
    orders = [
        sell([(a1, 10000), (b1, 10000)], D1),
        sell([(a2, 7333)], D1),
        sell([(a1, 10000), (a3, 12000)], D2),
        sell([(b1, 9999)], D1, refunded_at=D3),
    ]
    sell([(b2, 10000)], D1, status=OrderStatus.PENDING)
    sell([(b2, 10000)], D2, status=OrderStatus.FAILED)
    sell([(u1, 1500)], D1, currency="USD")
    return type("Marathon", (), dict(a=a, b=b, e1=e1, e2=e2, photos=dict(a1=a1, a2=a2, b1=b1, b2=b2, a3=a3, u1=u1),
                                     orders=orders, usd_event=usd_event))

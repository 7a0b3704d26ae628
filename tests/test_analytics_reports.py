"""Report figures against orders written in the test, to the satang, refunds included."""
from datetime import date

import pytest
from sqlalchemy import func, select

from pixstock import orders as order_flow
from pixstock.analytics import charts, reports
from pixstock.analytics.reports import Period, PeriodError
from pixstock.extensions import db
from pixstock.models import CommissionEntry, Order, OrderItem, OrderStatus, Payment

from . import factories
from .analytics_helpers import D1, marathon, sell, utc  # noqa: F401  (fixture)

ALL = Period()


def figures(row):
    return (row.orders, row.refunded_orders, row.sales, row.refunds, row.gross, row.commission, row.net)


def test_totals_match_the_orders_to_the_satang(marathon):
    totals = reports.revenue_totals(ALL, "THB")
    # sales: 20,000 + 7,333 + 22,000 + 9,999; the 9,999 order was refunded.
    # commission: A 5,000 + 3,667 (7,333 at 50 % rounds half up) + 5,000 + 6,000; B 3,000 + 3,000 - 3,000.
    assert figures(totals) == (4, 1, 59332, 9999, 49333, 22667, 26666)
    assert totals.photos == 5 and totals.average_order == 14833
    # Cross-check with the orders themselves: what paid orders still hold, and their photographers' shares.
    paid = db.session.scalars(select(Order).where(Order.status == OrderStatus.PAID, Order.currency == "THB")).all()
    assert totals.gross == sum(order.total for order in paid)
    shares = sum(CommissionEntry.share(item.price, item.photo.photographer.profile.commission_bps)
                 for order in paid for item in order.items)
    assert totals.commission == shares


def test_revenue_by_event(marathon):
    rows = {row.key: row for row in reports.revenue(ALL, "event", "THB")}
    assert set(rows) == {marathon.e1.id, marathon.e2.id}
    e1, e2 = rows[marathon.e1.id], rows[marathon.e2.id]
    assert (e1.label, e2.label) == ("Bangkok Marathon", "Chiang Mai Trail")
    assert figures(e1) == (4, 1, 47332, 9999, 37333, 16667, 20666)
    assert figures(e2) == (1, 0, 12000, 0, 12000, 6000, 6000)
    assert [r.key for r in reports.revenue(ALL, "event", "THB")] == [marathon.e1.id, marathon.e2.id]  # by gross


def test_revenue_by_photographer_says_who_is_owed_what(marathon):
    rows = {row.key: row for row in reports.revenue(ALL, "photographer", "THB")}
    a, b = rows[marathon.a.id], rows[marathon.b.id]
    assert (a.label, b.label) == ("Anna", "Boon")
    assert figures(a) == (3, 0, 39333, 0, 39333, 19667, 19666)
    assert figures(b) == (2, 1, 19999, 9999, 10000, 3000, 7000)
    # Per event: what the marathon owes each photographer.
    owed = {r.key: r.commission for r in reports.revenue(ALL, "photographer", "THB", event_id=marathon.e1.id)}
    assert owed == {marathon.a.id: 5000 + 3667 + 5000, marathon.b.id: 3000}


def test_revenue_by_local_day_dates_refunds_when_they_happen(marathon):
    period = Period(date(2025, 3, 1), date(2025, 3, 5))
    rows = reports.revenue(period, "day", "THB")
    assert [r.key for r in rows] == [date(2025, 3, d) for d in range(1, 6)]  # gaps filled
    by_day = {r.key.day: r for r in rows}
    # 17:30 UTC on 1 March is 2 March in Bangkok: nothing on the 1st.
    assert figures(by_day[1]) == (0, 0, 0, 0, 0, 0, 0)
    assert figures(by_day[2]) == (3, 0, 37332, 0, 37332, 14667, 22665)
    assert figures(by_day[3]) == (1, 0, 22000, 0, 22000, 11000, 11000)
    assert figures(by_day[5]) == (0, 1, 0, 9999, -9999, -3000, -6999)
    assert sum(r.gross for r in rows) == reports.revenue_totals(period, "THB").gross == 49333


def test_months_fold_days(marathon):
    (march,) = reports.revenue(Period(date(2025, 3, 1), date(2025, 3, 31)), "month", "THB")
    assert march.key == date(2025, 3, 1) and figures(march) == figures(reports.revenue_totals(ALL, "THB"))


def test_a_period_before_the_refund_shows_the_sale(marathon):
    before = reports.revenue_totals(Period(date(2025, 3, 2), date(2025, 3, 3)), "THB")
    assert figures(before) == (4, 0, 59332, 0, 59332, 25667, 33665)
    only_refund = reports.revenue_totals(Period(date(2025, 3, 5), date(2025, 3, 5)), "THB")
    assert figures(only_refund) == (0, 1, 0, 9999, -9999, -3000, -6999)


def test_other_currencies_are_reported_apart(marathon):
    usd = reports.revenue_totals(ALL, "USD")
    assert figures(usd) == (1, 0, 1500, 0, 1500, 750, 750)
    assert reports.currencies() == ["THB", "USD"]
    assert marathon.usd_event.id not in {r.key for r in reports.revenue(ALL, "event", "THB")}


def test_best_selling_photos_take_refunds_off(marathon):
    ranks = reports.best_selling_photos(ALL, "THB")
    sold = {r.photo.id: (r.sold, r.gross) for r in ranks}
    p = marathon.photos
    assert sold == {p["a1"].id: (2, 20000), p["a2"].id: (1, 7333), p["b1"].id: (1, 10000), p["a3"].id: (1, 12000)}
    assert ranks[0].photo.id == p["a1"].id


def test_photographer_events_and_statement(marathon):
    p = marathon.photos
    factories.make_photo(marathon.e1, marathon.b, approval="rejected", files=False)
    factories.make_photo(marathon.e1, marathon.b, approval="pending", files=False)
    rows = {row.event.id: row for row in reports.photographer_events(marathon.b.id, ALL, "THB")}
    assert set(rows) == {marathon.e1.id}
    e1 = rows[marathon.e1.id]
    assert (e1.uploads, e1.approved, e1.rejected, e1.pending) == (4, 2, 1, 1)
    assert e1.approval_rate == pytest.approx(200 / 3)
    assert (e1.money.photos, e1.money.commission) == (1, 3000)
    lines = reports.statement(marathon.b.id, ALL, "THB")
    assert [(l.kind, l.photo_id, l.price, l.amount) for l in lines] == [
        ("sale", p["b1"].id, 10000, 3000), ("sale", p["b1"].id, 9999, 3000), ("refund", p["b1"].id, 9999, -3000)]
    # Anna sold in THB and USD: her THB events leave the USD sale out.
    anna = {row.event.id: row.money.commission for row in reports.photographer_events(marathon.a.id, ALL, "THB")}
    assert anna == {marathon.e1.id: 13667, marathon.e2.id: 6000, marathon.usd_event.id: 0}


def test_figures_agree_with_the_checkout_fulfilment(app):
    """Orders paid and refunded through pixstock.orders' own fulfil() and refund()."""
    photographer = factories.make_user("photographer")
    photographer.profile.commission_bps = 4000
    admin = factories.make_user("admin")
    db.session.commit()
    event = factories.make_event(photographers=[photographer])
    photos = factories.make_photos(event, photographer, 3, files=False)
    own = factories.make_photo(event, admin, files=False)  # the platform keeps its own photos' sales
    placed = []
    for items in ([(photos[0], 13333), (photos[1], 13333), (own, 13334)], [(photos[2], 10001)]):
        order = Order(email="r@example.com", currency="THB", status=OrderStatus.PENDING, created_at=D1,
                      subtotal=sum(p for _, p in items), total=sum(p for _, p in items), event_id=event.id)
        order.items = [OrderItem(photo_id=photo.id, price=price) for photo, price in items]
        db.session.add(order)
        db.session.flush()
        assert order_flow.fulfil(order, "test", {"id": f"cs_{order.id}", "payment_intent": f"pi_{order.id}"})
        db.session.commit()
        placed.append(order)
    payment = db.session.scalar(select(Payment).where(Payment.order_id == placed[1].id))
    assert order_flow.refund(placed[1], payment)
    db.session.commit()
    totals = reports.revenue_totals(ALL, "THB")
    assert (totals.orders, totals.refunded_orders, totals.sales, totals.refunds) == (2, 1, 50001, 10001)
    assert totals.gross == placed[0].total == 40000
    assert totals.commission == 5333 + 5333 == db.session.scalar(select(func.sum(CommissionEntry.amount)))
    assert totals.net == 40000 - 10666
    by_photographer = {r.key: r.commission for r in reports.revenue(ALL, "photographer", "THB")}
    assert by_photographer == {photographer.id: 10666, admin.id: 0}


def test_nothing_sold_gives_zeros(app):
    assert figures(reports.revenue_totals(ALL, "THB")) == (0,) * 7
    assert reports.revenue(ALL, "day", "THB") == []
    assert reports.revenue(Period(date(2025, 1, 1), date(2025, 1, 3)), "day", "THB")[2].gross == 0


@pytest.mark.parametrize("start, end, message", [
    ("2025-13-01", "", "YYYY-MM-DD"), ("2025-03-05", "2025-03-01", "after the end"),
    ("2000-01-01", "2025-01-01", "at most"), ("'; drop table orders", "", "YYYY-MM-DD"),
    ("", "9999-12-31", "between 2000"), ("1999-12-31", "", "between 2000"),
])
def test_bad_periods_are_refused(app, start, end, message):
    with app.test_request_context(), pytest.raises(PeriodError, match=message):
        Period.parse(start, end)


def test_period_defaults_and_bounds(app):
    assert Period.parse("", "", default_days=None) == Period()
    last = Period.parse(None, None, default_days=30)
    assert (last.end - last.start).days == 29
    start, end = Period(date(2025, 3, 2), date(2025, 3, 2)).bounds()
    assert (start, end) == (utc(2025, 3, 1, 17), utc(2025, 3, 2, 17))


def test_charts_scale_and_hang_refunds_below_zero():
    chart = charts.column_chart("t", ["a", "b", "c"], [("net", [1000, 0, -300]), ("commission", [500, 0, -200])])
    assert not chart.empty and len(chart.rects) == 4
    zero_line = [g for g in chart.gridlines if any(l.text == "0" and abs(l.y - 4 - g[1]) < 0.01 for l in chart.labels)]
    assert zero_line, "a gridline at zero"
    zero = zero_line[0][1]
    up = [r for r in chart.rects if r.y + r.height <= zero + 0.01]
    down = [r for r in chart.rects if r.y >= zero - 0.01]
    assert len(up) == 2 and len(down) == 2
    # The 1,000 column is twice as tall as the 500 one above it: heights are proportional.
    heights = sorted(r.height for r in up)
    assert heights[1] == pytest.approx(2 * heights[0], rel=0.01)
    assert charts.column_chart("t", ["a"], [("x", [0])]).empty
    bars = charts.bar_chart("t", [("one", 300), ("two", 100)])
    assert bars.rects[0].width == pytest.approx(3 * bars.rects[1].width, rel=0.01)
    assert charts.nice_step(9_999) == 5000 and charts.nice_step(1) == 1


def _rollups():
    from pixstock.models import PhotoDailySales, RevenueDaily

    revenue = sorted(tuple(getattr(r, c.name) for c in RevenueDaily.__table__.columns)
                     for r in db.session.scalars(select(RevenueDaily)))
    photos = sorted(tuple(getattr(r, c.name) for c in PhotoDailySales.__table__.columns)
                    for r in db.session.scalars(select(PhotoDailySales)))
    return revenue, photos


def test_rollups_kept_at_each_write_equal_a_rebuild_from_the_ledger(marathon, runner):
    kept = _rollups()
    assert len(kept[0]) > 10 and len(kept[1]) == 7
    result = runner.invoke(args=["analytics", "rebuild"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert _rollups() == kept


def test_an_order_written_over_several_flushes_counts_once(app):
    photographer = factories.make_user("photographer")
    event = factories.make_event(photographers=[photographer])
    photos = factories.make_photos(event, photographer, 3, files=False)
    order = Order(email="r@example.com", currency="THB", status=OrderStatus.PAID, paid_at=D1, created_at=D1,
                  subtotal=30000, total=30000)
    order.items = [OrderItem(photo_id=photo.id, price=10000) for photo in photos]
    db.session.add(order)
    db.session.flush()
    for item in order.items:  # one flush per entry, as a cautious fulfilment might do
        db.session.add(CommissionEntry(order_item_id=item.id, photographer_id=photographer.id, event_id=event.id,
                                       rate_bps=5000, amount=5000, kind="sale", created_at=D1))
        db.session.flush()
    db.session.commit()
    totals = reports.revenue_totals(ALL, "THB")
    assert (totals.orders, totals.photos, totals.sales, totals.commission) == (1, 3, 30000, 15000)
    assert reports.revenue(ALL, "event", "THB")[0].orders == 1


def test_a_rolled_back_sale_leaves_no_trace(app):
    photographer = factories.make_user("photographer")
    event = factories.make_event(photographers=[photographer])
    (photo,) = factories.make_photos(event, photographer, 1, files=False)
    order = Order(email="r@example.com", currency="THB", status=OrderStatus.PAID, paid_at=D1, created_at=D1,
                  subtotal=100, total=100)
    order.items = [OrderItem(photo_id=photo.id, price=100)]
    db.session.add(order)
    db.session.flush()
    db.session.add(CommissionEntry(order_item_id=order.items[0].id, photographer_id=photographer.id,
                                   event_id=event.id, rate_bps=5000, amount=50, kind="sale", created_at=D1))
    db.session.flush()
    assert reports.revenue_totals(ALL, "THB").sales == 100  # inside the transaction
    db.session.rollback()
    assert reports.revenue_totals(ALL, "THB").sales == 0


def test_simultaneous_sales_add_up(make_app, app):
    """Two transactions selling on the same day at once: both land in the same rollup rows."""
    import threading

    photographer = factories.make_user("photographer")
    event = factories.make_event(photographers=[photographer])
    photos = factories.make_photos(event, photographer, 8, files=False)
    photo_ids = [p.id for p in photos]
    barrier = threading.Barrier(2)
    errors = []

    def sell_in_thread(ids):
        try:
            with app.app_context():
                from pixstock.models import Photo

                barrier.wait(5)
                for photo_id in ids:
                    sell([(db.session.get(Photo, photo_id), 1000)], D1)
                db.session.remove()
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=sell_in_thread, args=(photo_ids[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    db.session.expire_all()
    totals = reports.revenue_totals(ALL, "THB")
    assert (totals.orders, totals.sales, totals.commission) == (8, 8000, 4000)

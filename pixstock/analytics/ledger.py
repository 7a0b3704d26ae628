"""Revenue rollups that follow the commission ledger, inside the same transaction.

Fulfilment (pixstock/orders.py) writes one ``CommissionEntry`` per photo sold, and a refund writes one
reversing each. An ``after_flush`` listener adds every new entry to ``RevenueDaily`` (at its four grains)
and ``PhotoDailySales`` with additive upserts: two transactions selling at once simply add up (the row
lock serialises them; keys are taken in sorted order, so they cannot deadlock), and the rollups commit or
roll back with the entries. The reports therefore read a few hundred rows instead of joining the whole
ledger to order items and orders, and are never stale.

Rows written around the ORM (SQL scripts, the bench seed, a restored dump) need ``rebuild_revenue()``,
which recomputes everything from the ledger: ``flask --app wsgi analytics rebuild``.
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import case, delete, distinct, event, func, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import CommissionEntry, Order, OrderItem, PhotoDailySales, RevenueDaily
from .days import local_day, sql_local_date

SALE, REFUND = "sale", "refund"
NO_EVENT = -1  # the entry's event was deleted
REVENUE_SUMS = ("orders", "refunded_orders", "photos_sold", "photos_refunded", "sales", "refunds", "commission")
PHOTO_SUMS = ("sold", "refunded", "sales", "refunds")


@event.listens_for(Session, "after_flush")
def _follow_the_ledger(session, flush_context) -> None:
    entries = [obj for obj in session.new if isinstance(obj, CommissionEntry)]
    if entries:
        record(session.connection(), entries)


def _cells(day, currency, event_id, photographer_id):
    """The four RevenueDaily keys a ledger entry counts in (0 stands for "all")."""
    event_key = NO_EVENT if event_id is None else event_id
    return [(day, currency, 0, 0), (day, currency, event_key, 0), (day, currency, 0, photographer_id),
            (day, currency, event_key, photographer_id)]


def record(connection, entries) -> None:
    """Add freshly inserted ledger entries to the rollups (on the flush's connection, before the commit)."""
    items = {row.id: row for row in connection.execute(
        select(OrderItem.id, OrderItem.order_id, OrderItem.photo_id, OrderItem.price, Order.currency)
        .join(Order, Order.id == OrderItem.order_id)
        .where(OrderItem.id.in_({entry.order_item_id for entry in entries}))
    )}
    # An order counts once per row: find the cells its earlier entries (other flushes) already counted it in.
    counted = set()
    earlier = connection.execute(
        select(OrderItem.order_id, Order.currency, CommissionEntry.kind, CommissionEntry.event_id,
               CommissionEntry.photographer_id, CommissionEntry.created_at)
        .join(OrderItem, OrderItem.id == CommissionEntry.order_item_id)
        .join(Order, Order.id == OrderItem.order_id)
        .where(OrderItem.order_id.in_({row.order_id for row in items.values()}),
               CommissionEntry.id.not_in([entry.id for entry in entries]))
    )
    for order_id, currency, kind, event_id, photographer_id, created_at in earlier:
        for cell in _cells(local_day(created_at), currency, event_id, photographer_id):
            counted.add((order_id, kind, cell))

    revenue = defaultdict(lambda: dict.fromkeys(REVENUE_SUMS, 0))
    photos = defaultdict(lambda: dict.fromkeys(PHOTO_SUMS, 0))
    for entry in entries:
        item = items[entry.order_item_id]
        day, sale = local_day(entry.created_at), entry.kind == SALE
        for cell in _cells(day, item.currency, entry.event_id, entry.photographer_id):
            sums = revenue[cell]
            if (item.order_id, entry.kind, cell) not in counted:
                counted.add((item.order_id, entry.kind, cell))
                sums["orders" if sale else "refunded_orders"] += 1
            sums["photos_sold" if sale else "photos_refunded"] += 1
            sums["sales" if sale else "refunds"] += item.price
            sums["commission"] += entry.amount
        sums = photos[(item.photo_id, day, item.currency, NO_EVENT if entry.event_id is None else entry.event_id)]
        sums["sold" if sale else "refunded"] += 1
        sums["sales" if sale else "refunds"] += item.price

    _add(connection, RevenueDaily.__table__, ("day", "currency", "event_id", "photographer_id"), REVENUE_SUMS,
         [dict(zip(("day", "currency", "event_id", "photographer_id"), cell), **sums)
          for cell, sums in sorted(revenue.items())])
    _add(connection, PhotoDailySales.__table__, ("photo_id", "day", "currency"), PHOTO_SUMS,
         [dict(photo_id=p, day=d, currency=c, event_id=e, **sums) for (p, d, c, e), sums in sorted(photos.items())])


def _add(connection, table, keys, sums, rows) -> None:
    """INSERT the rows, or add their sums to the rows already there (PostgreSQL and SQLite alike)."""
    if not rows:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: table.c[name] + statement.excluded[name] for name in sums})
    connection.execute(statement, rows)


def rebuild_revenue() -> None:
    """Recompute both rollups from the whole ledger, in one transaction (and commit)."""
    dialect = db.session.get_bind().dialect.name
    day = sql_local_date(CommissionEntry.created_at, dialect).label("day")
    event_key = func.coalesce(CommissionEntry.event_id, NO_EVENT)
    is_sale, is_refund = CommissionEntry.kind == SALE, CommissionEntry.kind == REFUND
    figures = [
        func.count(distinct(case((is_sale, OrderItem.order_id)))),
        func.count(distinct(case((is_refund, OrderItem.order_id)))),
        func.count(case((is_sale, 1))),
        func.count(case((is_refund, 1))),
        func.coalesce(func.sum(case((is_sale, OrderItem.price), else_=0)), 0),
        func.coalesce(func.sum(case((is_refund, OrderItem.price), else_=0)), 0),
        func.coalesce(func.sum(CommissionEntry.amount), 0),
    ]
    db.session.execute(delete(RevenueDaily))
    db.session.execute(delete(PhotoDailySales))
    photographer = CommissionEntry.photographer_id
    grains = [(0, 0), (event_key, 0), (0, photographer), (event_key, photographer)]
    for event_column, photographer_column in grains:
        keys = [day, Order.currency]
        keys += [c for c in (event_column, photographer_column) if not isinstance(c, int)]
        query = (
            select(day, Order.currency, _literal(event_column), _literal(photographer_column), *figures)
            .select_from(CommissionEntry)
            .join(OrderItem, OrderItem.id == CommissionEntry.order_item_id)
            .join(Order, Order.id == OrderItem.order_id)
            .group_by(*keys)
        )
        db.session.execute(insert(RevenueDaily).from_select(
            ["day", "currency", "event_id", "photographer_id", *REVENUE_SUMS], query))
    photo_query = (
        select(OrderItem.photo_id, day, Order.currency, func.max(event_key), figures[2], figures[3], figures[4],
               figures[5])
        .select_from(CommissionEntry)
        .join(OrderItem, OrderItem.id == CommissionEntry.order_item_id)
        .join(Order, Order.id == OrderItem.order_id)
        .group_by(OrderItem.photo_id, day, Order.currency)
    )
    db.session.execute(insert(PhotoDailySales).from_select(
        ["photo_id", "day", "currency", "event_id", *PHOTO_SUMS], photo_query))
    db.session.commit()


def _literal(column):
    return literal(column) if isinstance(column, int) else column

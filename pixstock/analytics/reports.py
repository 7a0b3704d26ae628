"""Report queries: revenue, orders, conversion, popular photos and earnings, aggregated in SQL.

Money comes from the commission ledger (``CommissionEntry``), which fulfilment writes once per photo
sold (kind "sale", in the same transaction that marks the order paid) and reverses per photo on a
full refund (kind "refund", a negative amount). Every figure is a movement dated when it happened:
a sale on the day the order was paid, a refund on the day it was refunded. So a closed month never
changes afterwards, and the sum over any period is exactly what the orders say:

    sales       the price of the photos sold (``OrderItem.price``: bundle discounts already spread)
    refunds     the price of the photos refunded
    gross       sales - refunds: what customers paid and kept paid
    commission  the photographers' share (the ledger's amounts, reversals included)
    net         gross - commission: what the platform keeps
    orders      orders paid in the period; average order value = sales / orders

The reports read daily rollups rather than the raw rows: ``RevenueDaily`` and ``PhotoDailySales``
follow the ledger in the same transaction (ledger.py), ``EventDailyStat`` and ``PhotoDailyView``
follow the tracked events at each flush (tracking.py). Amounts are integers in the currency's
smallest unit, and each report is in one currency.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta

from flask import current_app, has_request_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import (
    ApprovalStatus,
    CommissionEntry,
    Event,
    EventDailyStat,
    EventPhotographer,
    Order,
    OrderItem,
    Photo,
    PhotoDailySales,
    PhotoDailyView,
    RevenueDaily,
    TrackKind,
    User,
)
from .days import day_bounds, local_today, zone

SALE, REFUND = "sale", "refund"
GROUPS = ("day", "month", "event", "photographer")
MAX_DAYS = 3660
EARLIEST = date(2000, 1, 1)


class PeriodError(ValueError):
    """A date range that cannot be read; the message says why."""


# --- Periods ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """An inclusive range of local dates; None at either end means unbounded."""

    start: date | None = None
    end: date | None = None

    @classmethod
    def last_days(cls, days: int) -> Period:
        """The last `days` days, today included."""
        today = local_today()
        return cls(today - timedelta(days=days - 1), today)

    @classmethod
    def parse(cls, start_text: str | None, end_text: str | None, default_days: int | None = 30) -> Period:
        """Read YYYY-MM-DD bounds (either may be empty); both empty gives the default (None: all time)."""
        start_text, end_text = (start_text or "").strip(), (end_text or "").strip()
        if not start_text and not end_text:
            return cls.last_days(default_days) if default_days else cls()
        try:
            start = date.fromisoformat(start_text) if start_text else None
            end = date.fromisoformat(end_text) if end_text else None
        except ValueError:
            raise PeriodError(_l("Dates are written YYYY-MM-DD, for example 2025-03-02.")) from None
        if start and end and start > end:
            raise PeriodError(_l("The start date is after the end date."))
        if start and end and (end - start).days >= MAX_DAYS:
            raise PeriodError(_l("Choose at most %(n)d days.", n=MAX_DAYS))
        # Charts and CSV list every day of the period: a year 9999 would be millions of empty days.
        latest = local_today() + timedelta(days=366)
        if any(d and not EARLIEST <= d <= latest for d in (start, end)):
            raise PeriodError(_l("Choose dates between 2000 and next year."))
        return cls(start, end)

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """UTC instants [start, end) covering the period's local days."""
        start = day_bounds(self.start, self.start)[0] if self.start else None
        end = day_bounds(self.end, self.end)[1] if self.end else None
        return start, end

    def where(self, column) -> list:
        """Conditions keeping a UTC timestamp column inside the period."""
        start, end = self.bounds()
        return [c for c in (column >= start if start else None, column < end if end else None) if c is not None]

    def where_day(self, column) -> list:
        """Conditions keeping a local-date column inside the period."""
        return [c for c in (column >= self.start if self.start else None,
                            column <= self.end if self.end else None) if c is not None]

    def args(self) -> dict:
        """The period as query-string arguments (for links and exports)."""
        return {"from": self.start.isoformat() if self.start else "", "to": self.end.isoformat() if self.end else ""}


# --- Revenue ----------------------------------------------------------------------------------------


@dataclass
class RevenueRow:
    """Money and orders for one key (a day, a month, an event or a photographer), or for everything."""

    key: object = None
    label: str = ""
    orders: int = 0
    refunded_orders: int = 0
    photos: int = 0  # photos sold, less photos refunded
    sales: int = 0
    refunds: int = 0
    commission: int = 0

    @property
    def gross(self) -> int:
        return self.sales - self.refunds

    @property
    def net(self) -> int:
        return self.gross - self.commission

    @property
    def average_order(self) -> int:
        """Average order value in whole satang (half rounded up)."""
        return (self.sales * 2 + self.orders) // (self.orders * 2) if self.orders else 0

    def add(self, other: RevenueRow) -> None:
        """Fold another row's figures into this one (days into a month)."""
        for name in ("orders", "refunded_orders", "photos", "sales", "refunds", "commission"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict:
        """Every figure, for the API and CSV."""
        key = self.key.isoformat() if isinstance(self.key, date) else self.key
        return {"key": key, "label": self.label, "orders": self.orders, "refunded_orders": self.refunded_orders,
                "photos": self.photos, "sales": self.sales, "refunds": self.refunds, "gross": self.gross,
                "commission": self.commission, "net": self.net, "average_order": self.average_order}


def _figures():
    r = RevenueDaily
    return [func.sum(r.orders), func.sum(r.refunded_orders), func.sum(r.photos_sold) - func.sum(r.photos_refunded),
            func.sum(r.sales), func.sum(r.refunds), func.sum(r.commission)]


def _rollup(columns, period: Period, currency: str, group_by: str | None, event_id=None, photographer_id=None):
    """A query over the RevenueDaily grain that answers this question (0 in a key column means "all")."""
    r = RevenueDaily
    query = select(*columns).where(r.currency == currency, *period.where_day(r.day))
    if event_id is not None:
        query = query.where(r.event_id == event_id)
    else:
        query = query.where(r.event_id != 0 if group_by == "event" else r.event_id == 0)
    if photographer_id is not None:
        query = query.where(r.photographer_id == photographer_id)
    else:
        query = query.where(r.photographer_id != 0 if group_by == "photographer" else r.photographer_id == 0)
    return query


def _row(key, values) -> RevenueRow:
    orders, refunded, photos, sales, refunds, commission = (int(v or 0) for v in values)
    return RevenueRow(key, "", orders, refunded, photos, sales, refunds, commission)


def revenue_totals(period: Period, currency: str, event_id=None, photographer_id=None) -> RevenueRow:
    """Every figure for the whole period (optionally one event's or one photographer's)."""
    query = _rollup(_figures(), period, currency, None, event_id, photographer_id)
    return _row(None, db.session.execute(query).one())


def revenue(period: Period, group_by: str, currency: str, event_id=None, photographer_id=None) -> list[RevenueRow]:
    """Revenue rows by day, month, event or photographer: days and months in order, gaps filled with zeros;
    events and photographers by gross, largest first."""
    if group_by not in GROUPS:
        raise ValueError(group_by)
    key = {"day": RevenueDaily.day, "month": RevenueDaily.day, "event": RevenueDaily.event_id,
           "photographer": RevenueDaily.photographer_id}[group_by]
    query = _rollup([key, *_figures()], period, currency, group_by, event_id, photographer_id).group_by(key)
    rows = [_row(k, values) for k, *values in db.session.execute(query).all()]
    if group_by in ("day", "month"):
        return _calendar(rows, period, monthly=group_by == "month")
    _label(rows, group_by)
    return sorted(rows, key=lambda r: (-r.gross, -r.sales, str(r.label)))


def _calendar(rows: list[RevenueRow], period: Period, monthly: bool) -> list[RevenueRow]:
    """Every day (or month) of the period in order, zeros where nothing happened."""
    by_day = {row.key: row for row in rows}
    first = period.start or min(by_day, default=None)
    last = period.end or max(by_day, default=None)
    if first is None or last is None:
        return []
    out: dict[date, RevenueRow] = {}
    day = first
    while day <= last:
        bucket = day.replace(day=1) if monthly else day
        row = out.setdefault(bucket, RevenueRow(bucket, bucket.strftime("%Y-%m") if monthly else bucket.isoformat()))
        if day in by_day:
            row.add(by_day[day])
        day += timedelta(days=1)
    return list(out.values())


def _label(rows, group_by: str) -> None:
    ids = [row.key for row in rows if row.key is not None]
    if group_by == "event":
        names = dict(db.session.execute(select(Event.id, Event.name).where(Event.id.in_(ids))).all()) if ids else {}
        for row in rows:
            row.label = names.get(row.key) or _deleted_event()
    else:
        users = db.session.scalars(
            select(User).where(User.id.in_(ids)).options(selectinload(User.profile))).all() if ids else []
        names = {user.id: user.display_name for user in users}
        for row in rows:
            row.label = names.get(row.key, f"#{row.key}")


def _deleted_event() -> str:
    # The CLI and the bench have no request, hence no reader's language.
    return str(_l("(deleted event)")) if has_request_context() else "(deleted event)"


def currencies() -> list[str]:
    """The currencies anything was sold in, the configured default first."""
    default = current_app.config.get("DEFAULT_CURRENCY", "THB")
    found = set(db.session.scalars(select(RevenueDaily.currency).distinct()))
    return [default] + sorted(found - {default})


# --- Visitors and conversion --------------------------------------------------------------------------


@dataclass
class FunnelRow:
    """One event's conversion funnel: visitors, then selfie searchers, then cart adders, then paid orders.

    Visitors are visitor-days (the anonymous id changes daily); paid orders come from the ledger.
    """

    event_id: int
    label: str = ""
    visitors: int = 0
    photo_views: int = 0
    searchers: int = 0
    searches: int = 0
    carters: int = 0
    orders: int = 0

    @property
    def conversion(self) -> float:
        """Paid orders per gallery visitor, as a percentage."""
        return 100.0 * self.orders / self.visitors if self.visitors else 0.0

    def steps(self) -> list[tuple[str, int]]:
        """The funnel's four steps as (name, count)."""
        return [("visitors", self.visitors), ("searchers", self.searchers), ("carts", self.carters),
                ("orders", self.orders)]

    def as_dict(self) -> dict:
        """Every figure, for CSV."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["conversion_percent"] = round(self.conversion, 2)
        return data


def funnels(period: Period, event_id=None) -> list[FunnelRow]:
    """The funnel of every event with visitors or orders in the period (or of one event), busiest first."""
    query = (
        select(EventDailyStat.event_id, EventDailyStat.kind, func.sum(EventDailyStat.hits),
               func.sum(EventDailyStat.visitors))
        .where(*period.where_day(EventDailyStat.day))
        .group_by(EventDailyStat.event_id, EventDailyStat.kind)
    )
    # Paid orders per event, every currency: an order is in one currency, so the sum counts each once.
    orders = (
        select(RevenueDaily.event_id, func.sum(RevenueDaily.orders))
        .where(RevenueDaily.event_id > 0, RevenueDaily.photographer_id == 0, *period.where_day(RevenueDaily.day))
        .group_by(RevenueDaily.event_id)
    )
    if event_id is not None:
        query = query.where(EventDailyStat.event_id == event_id)
        orders = orders.where(RevenueDaily.event_id == event_id)
    rows: dict[int, FunnelRow] = {}
    for eid, kind, hits, visitors in db.session.execute(query):
        row = rows.setdefault(eid, FunnelRow(eid))
        if kind is TrackKind.GALLERY_VIEW:
            row.visitors = int(visitors)
        elif kind is TrackKind.PHOTO_VIEW:
            row.photo_views = int(hits)
        elif kind is TrackKind.SELFIE_SEARCH:
            row.searchers, row.searches = int(visitors), int(hits)
        elif kind is TrackKind.CART_ADD:
            row.carters = int(visitors)
    for eid, count in db.session.execute(orders):
        rows.setdefault(eid, FunnelRow(eid)).orders = int(count)
    if event_id is not None and event_id not in rows:
        rows[event_id] = FunnelRow(event_id)
    names = dict(db.session.execute(select(Event.id, Event.name).where(Event.id.in_(list(rows)))).all()) if rows else {}
    for row in rows.values():
        row.label = names.get(row.event_id, "")
    return sorted(rows.values(), key=lambda r: (-r.visitors, -r.orders, r.label))


@dataclass
class EventRank:
    """An event among the top events: its money and its funnel."""

    revenue: RevenueRow
    funnel: FunnelRow

    def as_dict(self) -> dict:
        """Every figure, for CSV."""
        data = self.revenue.as_dict()
        data.update(visitors=self.funnel.visitors, conversion_percent=round(self.funnel.conversion, 2))
        return data


def top_events(period: Period, currency: str, limit: int = 10, by_event=None, funnel_rows=None) -> list[EventRank]:
    """The events that earned most in the period, with their visitors and conversion (pass the period's
    revenue by event and funnels when you already have them)."""
    by_event = revenue(period, "event", currency) if by_event is None else by_event
    money = [row for row in by_event if row.key > 0][:limit]
    if funnel_rows is None:
        funnel_rows = funnels(period) if money else []
    by_event = {row.event_id: row for row in funnel_rows}
    return [EventRank(row, by_event.get(row.key) or FunnelRow(row.key, row.label)) for row in money]


# --- Photos -----------------------------------------------------------------------------------------------


@dataclass
class PhotoRank:
    """A photo in a ranking, with what it was ranked by."""

    photo: Photo
    views: int = 0
    sold: int = 0
    gross: int = 0

    def as_dict(self) -> dict:
        """The figures, for CSV."""
        return {"photo_id": self.photo.id, "filename": self.photo.original_filename, "event_id": self.photo.event_id,
                "event": self.photo.event.name if self.photo.event else "", "views": self.views, "sold": self.sold,
                "gross": self.gross}


def _photos(ids) -> dict[int, Photo]:
    if not ids:
        return {}
    found = db.session.scalars(select(Photo).where(Photo.id.in_(ids)).options(selectinload(Photo.event))).all()
    return {photo.id: photo for photo in found}


def _sales_by_photo(period: Period, currency: str, photo_ids=None, event_id=None, limit=None):
    p = PhotoDailySales
    sold = (func.sum(p.sold) - func.sum(p.refunded)).label("sold")
    gross = (func.sum(p.sales) - func.sum(p.refunds)).label("gross")
    query = select(p.photo_id, sold, gross).where(p.currency == currency, *period.where_day(p.day)).group_by(p.photo_id)
    if event_id is not None:
        query = query.where(p.event_id == event_id)
    if photo_ids is not None:
        query = query.where(p.photo_id.in_(photo_ids))
    if limit:
        query = query.order_by(sold.desc(), gross.desc(), p.photo_id).limit(limit)
    return db.session.execute(query).all()


def best_selling_photos(period: Period, currency: str, limit: int = 12, event_id=None) -> list[PhotoRank]:
    """The photos sold most often in the period (refunds taken off), with what they brought in."""
    rows = [r for r in _sales_by_photo(period, currency, event_id=event_id, limit=limit) if r.sold > 0]
    photos = _photos([r.photo_id for r in rows])
    views = _views(period, list(photos))
    return [PhotoRank(photos[r.photo_id], views.get(r.photo_id, 0), int(r.sold), int(r.gross))
            for r in rows if r.photo_id in photos]


def _views(period: Period, photo_ids) -> dict[int, int]:
    if not photo_ids:
        return {}
    return dict(db.session.execute(
        select(PhotoDailyView.photo_id, func.sum(PhotoDailyView.views))
        .where(PhotoDailyView.photo_id.in_(photo_ids), *period.where_day(PhotoDailyView.day))
        .group_by(PhotoDailyView.photo_id)
    ).all())


def most_viewed_photos(period: Period, currency: str, limit: int = 12, event_id=None) -> list[PhotoRank]:
    """The photos whose pages were viewed most in the period, with how often they sold."""
    total = func.sum(PhotoDailyView.views).label("views")
    query = (
        select(PhotoDailyView.photo_id, total)
        .where(*period.where_day(PhotoDailyView.day))
        .group_by(PhotoDailyView.photo_id)
        .order_by(total.desc(), PhotoDailyView.photo_id)
        .limit(limit)
    )
    if event_id is not None:
        query = query.where(PhotoDailyView.event_id == event_id)
    rows = db.session.execute(query).all()
    photos = _photos([r.photo_id for r in rows])
    sales = {r.photo_id: r for r in _sales_by_photo(period, currency, photo_ids=list(photos))} if photos else {}
    ranks = []
    for r in rows:
        if r.photo_id in photos:
            sale = sales.get(r.photo_id)
            ranks.append(PhotoRank(photos[r.photo_id], int(r.views), int(sale.sold) if sale else 0,
                                   int(sale.gross) if sale else 0))
    return ranks


# --- Photographers ----------------------------------------------------------------------------------------


@dataclass
class PhotographerEvent:
    """One event as a photographer sees it: their uploads, approvals, sales and earnings there."""

    event: Event
    uploads: int = 0
    approved: int = 0
    rejected: int = 0
    pending: int = 0
    money: RevenueRow = field(default_factory=RevenueRow)

    @property
    def approval_rate(self) -> float | None:
        """Approved photos as a percentage of those reviewed (None before any review)."""
        reviewed = self.approved + self.rejected
        return 100.0 * self.approved / reviewed if reviewed else None


def photographer_events(user_id: int, period: Period, currency: str) -> list[PhotographerEvent]:
    """The events a photographer is assigned to or has photos in, newest first, with their figures."""
    counts = db.session.execute(
        select(Photo.event_id, Photo.approval_status, func.count(Photo.id))
        .where(Photo.photographer_id == user_id)
        .group_by(Photo.event_id, Photo.approval_status)
    ).all()
    money = {row.key: row for row in revenue(period, "event", currency, photographer_id=user_id)}
    assigned = select(EventPhotographer.event_id).where(EventPhotographer.user_id == user_id)
    event_ids = {e for e, _, _ in counts} | {k for k in money if k is not None}
    events = db.session.scalars(
        select(Event).where(or_(Event.id.in_(event_ids), Event.id.in_(assigned)))
        .order_by(Event.event_date.desc().nulls_last(), Event.id.desc())
    ).all()
    rows = {event.id: PhotographerEvent(event, money=money.get(event.id) or RevenueRow(event.id, event.name))
            for event in events}
    for event_id, status, n in counts:
        row = rows.get(event_id)
        if row is None:
            continue
        row.uploads += n
        if status is ApprovalStatus.APPROVED:
            row.approved += n
        elif status is ApprovalStatus.REJECTED:
            row.rejected += n
        else:
            row.pending += n
    return list(rows.values())


@dataclass
class StatementLine:
    """One movement on a photographer's statement: a photo sold, or a sale reversed by a refund."""

    at: datetime
    kind: str
    order_id: int
    photo_id: int
    filename: str
    event: str
    price: int
    rate_bps: int
    amount: int

    def as_dict(self) -> dict:
        """The line for the CSV statement (no customer data: the photographer needs none)."""
        return {"date": self.at.astimezone(zone()).strftime("%Y-%m-%d %H:%M"), "kind": self.kind,
                "order": self.order_id, "photo": self.photo_id, "filename": self.filename, "event": self.event,
                "price": self.price if self.kind == SALE else -self.price,
                "rate_percent": f"{self.rate_bps / 100:.2f}", "earned": self.amount}


def statement(user_id: int, period: Period, currency: str) -> list[StatementLine]:
    """A photographer's ledger lines in the period, oldest first."""
    query = (
        select(CommissionEntry.created_at, CommissionEntry.kind, OrderItem.order_id, OrderItem.photo_id,
               Photo.original_filename, Event.name, OrderItem.price, CommissionEntry.rate_bps,
               CommissionEntry.amount)
        .join(OrderItem, OrderItem.id == CommissionEntry.order_item_id)
        .join(Order, and_(Order.id == OrderItem.order_id, Order.currency == currency))
        .join(Photo, Photo.id == OrderItem.photo_id)
        .outerjoin(Event, Event.id == CommissionEntry.event_id)
        .where(CommissionEntry.photographer_id == user_id, *period.where(CommissionEntry.created_at))
        .order_by(CommissionEntry.created_at, CommissionEntry.id)
    )
    return [StatementLine(at, kind, order_id, photo_id, filename, event or "", price, rate, amount)
            for at, kind, order_id, photo_id, filename, event, price, rate, amount in db.session.execute(query)]


def daily_visits(period: Period, event_id=None) -> dict[date, int]:
    """Gallery visitors per local day (for the event page's chart)."""
    query = (
        select(EventDailyStat.day, func.sum(EventDailyStat.visitors))
        .where(EventDailyStat.kind == TrackKind.GALLERY_VIEW, *period.where_day(EventDailyStat.day))
        .group_by(EventDailyStat.day)
    )
    if event_id is not None:
        query = query.where(EventDailyStat.event_id == event_id)
    return {day: int(n) for day, n in db.session.execute(query)}


__all__ = [
    "EventRank", "FunnelRow", "GROUPS", "Period", "PeriodError", "PhotoRank", "PhotographerEvent", "RevenueRow",
    "StatementLine", "best_selling_photos", "currencies", "daily_visits", "funnels", "most_viewed_photos",
    "photographer_events", "revenue", "revenue_totals", "statement", "top_events",
]

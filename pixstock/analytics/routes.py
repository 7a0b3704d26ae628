"""Analytics views: the admins' dashboard and event reports, photographers' earnings, CSV exports.

Thin views: read the period from the query string, call the report functions, render. The range
form is a plain GET form (it works without JavaScript); with htmx it swaps only the report.
"""
from datetime import timedelta

from flask import abort, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from ..access import get_event, get_photographer, role_required
from ..i18n import format_money
from ..models import Role
from . import bp, charts, reports
from .export import csv_response
from .reports import Period, PeriodError

ADMIN = (Role.ADMIN,)
PHOTO_LIMIT = 12


def _is_htmx() -> bool:
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


def _filters(default_days: int | None):
    """The period and currency asked for, and a message when the dates could not be used.

    A bad range in the form shows the default period with the message beside the form (status 200,
    so htmx swaps it in); exports and the API answer 400 instead.
    """
    currencies = reports.currencies()
    currency = request.args.get("currency") or currencies[0]
    if currency not in currencies:
        currency = currencies[0]
    try:
        return Period.parse(request.args.get("from"), request.args.get("to"), default_days), currency, currencies, None
    except PeriodError as error:
        return Period.parse(None, None, default_days), currency, currencies, str(error)


def _strict_filters(default_days: int | None):
    period, currency, _currencies, error = _filters(default_days)
    if error:
        abort(400, description=error)
    return period, currency


@bp.context_processor
def inject_range_presets():
    """`range_presets(currency)`: links to the same report over the last week, month, quarter, year, or all time."""

    def range_presets(currency: str):
        here = dict(request.view_args or {}, currency=currency)
        spans = [(_("7 days"), 7), (_("30 days"), 30), (_("90 days"), 90), (_("12 months"), 365)]
        links = [(label, url_for(request.endpoint, **here, **Period.last_days(days).args())) for label, days in spans]
        # No start and today as the end: everything so far (both empty would mean the page's default).
        links.append((_("All time"), url_for(request.endpoint, **here, **Period(None, Period.last_days(1).end).args())))
        return links

    return {"range_presets": range_presets}


def _money(currency: str):
    return lambda amount: format_money(amount, currency)


def revenue_chart(rows, currency: str, title: str, monthly: bool = False):
    """Stacked columns: what the platform kept and what photographers earned, per day or month."""
    labels = [format_date(row.key, "MMM yyyy" if monthly else "d MMM") for row in rows]
    return charts.column_chart(
        title, labels,
        [(_("Platform (net)"), [row.net for row in rows]), (_("Photographers"), [row.commission for row in rows])],
        _money(currency),
    )


def visits_chart(period: Period, event_id: int):
    """Gallery visitors per day over the period (or from the first visit to the last, for all time)."""
    visits = reports.daily_visits(period, event_id)
    first = period.start or min(visits, default=None)
    last = period.end or max(visits, default=None)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)] if first and last else []
    return charts.column_chart(_("Gallery visitors by day"), [format_date(day, "d MMM") for day in days],
                               [(_("Visitors"), [visits.get(day, 0) for day in days])], lambda n: f"{n:,}")


# --- Admins ---------------------------------------------------------------------------------------


@bp.get("/")
@role_required(*ADMIN)
def show_dashboard():
    """Revenue, orders, conversion, top events and photos over a date range (last 30 days by default)."""
    period, currency, currencies, error = _filters(30)
    money = _money(currency)
    by_day = reports.revenue(period, "day", currency)
    by_event = reports.revenue(period, "event", currency)
    by_photographer = reports.revenue(period, "photographer", currency)
    funnel_rows = reports.funnels(period)
    overall = reports.FunnelRow(0, _("All events"))
    for row in funnel_rows:
        for name in ("visitors", "searchers", "carters", "orders", "searches", "photo_views"):
            setattr(overall, name, getattr(overall, name) + getattr(row, name))
    top = reports.top_events(period, currency, by_event=by_event, funnel_rows=funnel_rows)
    context = dict(
        period=period, currency=currency, currencies=currencies, error=error,
        totals=reports.revenue_totals(period, currency),
        by_day=by_day, by_event=by_event, by_photographer=by_photographer, funnels=funnel_rows, top=top,
        best_selling=reports.best_selling_photos(period, currency, PHOTO_LIMIT),
        most_viewed=reports.most_viewed_photos(period, currency, PHOTO_LIMIT),
        day_chart=revenue_chart(by_day, currency, _("Revenue by day")),
        event_chart=charts.bar_chart(_("Gross by event"), [(r.label, r.gross) for r in by_event[:10]], money),
        photographer_chart=charts.bar_chart(
            _("Owed to photographers"), [(r.label, r.commission) for r in by_photographer[:10]], money,
            charts.COLOURS[1]),
        top_chart=charts.bar_chart(
            _("Top events"), [(r.revenue.label, r.revenue.gross) for r in top], money,
            notes=[ngettext("%(num)s visitor", "%(num)s visitors", r.funnel.visitors) for r in top]),
        funnel_chart=charts.funnel_chart(_("Conversion, all events"), _funnel_steps(overall)),
        overall=overall,
    )
    template = "analytics/_dashboard_report.html" if _is_htmx() else "analytics/dashboard.html"
    return render_template(template, **context)


def _funnel_steps(row: reports.FunnelRow):
    return [(_("Gallery visitors"), row.visitors), (_("Selfie searchers"), row.searchers),
            (_("Added to cart"), row.carters), (_("Paid orders"), row.orders)]


@bp.get("/events/<int:event_id>")
@role_required(*ADMIN)
def show_event(event_id: int):
    """One event: what it earned, who is owed what, its funnel and its popular photos (all time by default)."""
    event = get_event(event_id, need="manage")
    period, currency, currencies, error = _filters(None)
    money = _money(currency)
    by_day = reports.revenue(period, "day", currency, event_id=event.id)
    by_photographer = reports.revenue(period, "photographer", currency, event_id=event.id)
    funnel = reports.funnels(period, event_id=event.id)[0]
    context = dict(
        event=event, period=period, currency=currency, currencies=currencies, error=error,
        totals=reports.revenue_totals(period, currency, event_id=event.id),
        by_day=by_day, by_photographer=by_photographer, funnel=funnel,
        best_selling=reports.best_selling_photos(period, currency, PHOTO_LIMIT, event_id=event.id),
        most_viewed=reports.most_viewed_photos(period, currency, PHOTO_LIMIT, event_id=event.id),
        day_chart=revenue_chart(by_day, currency, _("Revenue by day")),
        photographer_chart=charts.bar_chart(
            _("Owed to photographers"), [(r.label, r.commission) for r in by_photographer[:10]], money,
            charts.COLOURS[1]),
        funnel_chart=charts.funnel_chart(_("Conversion"), _funnel_steps(funnel)),
        visits_chart=visits_chart(period, event.id),
    )
    template = "analytics/_event_report.html" if _is_htmx() else "analytics/event.html"
    return render_template(template, **context)


REVENUE_COLUMNS = ("key", "label", "orders", "refunded_orders", "photos", "sales", "refunds", "gross", "commission",
                   "net", "average_order")
FUNNEL_COLUMNS = ("event_id", "label", "visitors", "searchers", "searches", "carters", "orders", "photo_views",
                  "conversion_percent")
TOP_COLUMNS = REVENUE_COLUMNS + ("visitors", "conversion_percent")
PHOTO_COLUMNS = ("photo_id", "filename", "event_id", "event", "views", "sold", "gross")
TABLES = ("revenue_by_day", "revenue_by_month", "revenue_by_event", "revenue_by_photographer", "funnels",
          "top_events", "best_selling_photos", "most_viewed_photos")


@bp.get("/export/<table>.csv")
@role_required(*ADMIN)
def export_table(table: str):
    """Any report table as CSV, for the same period and currency (and event, with event_id)."""
    if table not in TABLES:
        abort(404)
    event_id = request.args.get("event_id", type=int)
    if event_id is not None:
        event_id = get_event(event_id, need="manage").id
    period, currency = _strict_filters(30 if event_id is None else None)
    if table.startswith("revenue_by_"):
        rows = [r.as_dict() for r in reports.revenue(period, table[len("revenue_by_"):], currency, event_id=event_id)]
        columns = REVENUE_COLUMNS
    elif table == "funnels":
        rows, columns = [r.as_dict() for r in reports.funnels(period, event_id=event_id)], FUNNEL_COLUMNS
    elif table == "top_events":
        rows, columns = [r.as_dict() for r in reports.top_events(period, currency, limit=1000)], TOP_COLUMNS
    else:
        ranking = reports.best_selling_photos if table == "best_selling_photos" else reports.most_viewed_photos
        rows, columns = [r.as_dict() for r in ranking(period, currency, 1000, event_id=event_id)], PHOTO_COLUMNS
    suffix = f"-event{event_id}" if event_id else ""
    span = f"{period.start or 'start'}_{period.end or 'today'}"
    return csv_response(f"{table}{suffix}-{span}.csv", rows, columns, currency)


# --- Photographers ----------------------------------------------------------------------------------


def _photographer_or_self(user_id: int | None):
    if user_id is None:
        if not current_user.is_photographer:
            abort(404)  # admins pick a photographer from the dashboard
        user_id = current_user.id
    return get_photographer(user_id)


@bp.get("/earnings")
@bp.get("/photographers/<int:user_id>")
@role_required(Role.PHOTOGRAPHER, Role.ADMIN)
def show_earnings(user_id: int | None = None):
    """A photographer's events, uploads, approval rate, photos sold and earnings by event and month."""
    photographer = _photographer_or_self(user_id)
    period, currency, currencies, error = _filters(None)
    money = _money(currency)
    months = reports.revenue(period, "month", currency, photographer_id=photographer.id)
    events = reports.photographer_events(photographer.id, period, currency)
    earning = sorted((e for e in events if e.money.commission), key=lambda e: -e.money.commission)[:10]
    context = dict(
        photographer=photographer, period=period, currency=currency, currencies=currencies, error=error,
        totals=reports.revenue_totals(period, currency, photographer_id=photographer.id),
        months=months, events=events,
        uploads=sum(e.uploads for e in events), approved=sum(e.approved for e in events),
        rejected=sum(e.rejected for e in events),
        month_chart=charts.column_chart(_("Earnings by month"), [format_date(m.key, "MMM yyyy") for m in months],
                                        [(_("Earnings"), [m.commission for m in months])], money),
        event_chart=charts.bar_chart(_("Earnings by event"), [(e.event.name, e.money.commission) for e in earning],
                                     money, charts.COLOURS[1]),
        export_base=_statement_url(photographer, user_id),
    )
    template = "analytics/_earnings_report.html" if _is_htmx() else "analytics/earnings.html"
    return render_template(template, **context)


def _statement_url(photographer, user_id):
    if user_id is None:
        return url_for("analytics.export_statement")
    return url_for("analytics.export_statement", user_id=photographer.id)


STATEMENT_COLUMNS = ("date", "kind", "order", "photo", "filename", "event", "price", "rate_percent", "earned")
EVENT_EARNING_COLUMNS = ("event_id", "event", "uploads", "approved", "rejected", "pending", "approval_percent",
                         "photos", "sales", "refunds", "gross", "commission")


@bp.get("/earnings/statement.csv")
@bp.get("/photographers/<int:user_id>/statement.csv")
@role_required(Role.PHOTOGRAPHER, Role.ADMIN)
def export_statement(user_id: int | None = None):
    """A photographer's statement as CSV: every sale and refund with what it earned, and the total;
    table=months or table=events gives those tables instead."""
    photographer = _photographer_or_self(user_id)
    period, currency = _strict_filters(None)
    table = request.args.get("table", "statement")
    span = f"{period.start or 'start'}_{period.end or 'today'}"
    if table == "months":
        rows = [r.as_dict() for r in reports.revenue(period, "month", currency, photographer_id=photographer.id)]
        return csv_response(f"earnings-by-month-{photographer.id}-{span}.csv", rows, REVENUE_COLUMNS, currency)
    if table == "events":
        rows = [{
            "event_id": e.event.id, "event": e.event.name, "uploads": e.uploads, "approved": e.approved,
            "rejected": e.rejected, "pending": e.pending,
            "approval_percent": "" if e.approval_rate is None else f"{e.approval_rate:.1f}",
            "photos": e.money.photos, "sales": e.money.sales, "refunds": e.money.refunds, "gross": e.money.gross,
            "commission": e.money.commission,
        } for e in reports.photographer_events(photographer.id, period, currency)]
        return csv_response(f"earnings-by-event-{photographer.id}-{span}.csv", rows, EVENT_EARNING_COLUMNS, currency)
    if table != "statement":
        abort(404)
    lines = [line.as_dict() for line in reports.statement(photographer.id, period, currency)]
    lines.append({"date": "", "kind": "total", "earned": sum(line["earned"] for line in lines)})
    return csv_response(f"statement-{photographer.id}-{span}.csv", lines, STATEMENT_COLUMNS, currency)

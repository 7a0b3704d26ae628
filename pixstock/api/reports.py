"""Reports in the API (admins): revenue by day, month, event or photographer, amounts in the smallest unit."""
from flask import jsonify, request

from ..analytics import reports
from ..analytics.reports import Period, PeriodError
from ..models import Role
from . import bp
from .auth import ApiError, token_required
from .openapi import document, schema


@bp.get("/reports/revenue")
@token_required(Role.ADMIN)
def revenue_report():
    """Revenue rows for a date range (local dates, inclusive; the last 30 days by default)."""
    group_by = request.args.get("group_by", "day")
    if group_by not in reports.GROUPS:
        raise ApiError(400, "invalid_group_by", "group_by is one of: " + ", ".join(reports.GROUPS) + ".")
    try:
        period = Period.parse(request.args.get("from"), request.args.get("to"), default_days=30)
    except PeriodError as error:
        raise ApiError(400, "invalid_date", str(error)) from None
    known = reports.currencies()
    currency = (request.args.get("currency") or known[0]).upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ApiError(400, "invalid_currency", "currency is a three-letter code such as THB.")
    rows = reports.revenue(period, group_by, currency)
    totals = reports.revenue_totals(period, currency).as_dict()
    del totals["key"], totals["label"]
    return jsonify({
        "rows": [row.as_dict() for row in rows],
        "totals": totals,
        "currency": currency,
        "from": period.start.isoformat() if period.start else None,
        "to": period.end.isoformat() if period.end else None,
        "group_by": group_by,
    })


_figures = {
    "orders": {"type": "integer", "description": "Orders paid in the period"},
    "refunded_orders": {"type": "integer", "description": "Orders refunded in the period"},
    "photos": {"type": "integer", "description": "Photos sold, less photos refunded"},
    "sales": {"type": "integer", "description": "Price of the photos sold"},
    "refunds": {"type": "integer", "description": "Price of the photos refunded"},
    "gross": {"type": "integer", "description": "sales - refunds"},
    "commission": {"type": "integer", "description": "The photographers' share, refund reversals included"},
    "net": {"type": "integer", "description": "gross - commission: what the platform keeps"},
    "average_order": {"type": "integer", "description": "sales / orders, rounded to the smallest unit"},
}
schema("RevenueRow", {"type": "object", "required": ["key", "orders", "gross", "commission", "net"], "properties": {
    "key": {"description": "The day (YYYY-MM-DD), month (its first day), event id or photographer id",
            "oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True},
    "label": {"type": "string", "description": "The event's or photographer's name, or the day"},
    **_figures,
}})
document("/reports/revenue", "get", {
    "summary": "Revenue report (admins)",
    "description": "Money from the commission ledger, each movement on its local day (pixstock's timezone): a sale "
                   "on the day the order was paid, a refund on the day it was refunded. Amounts are integers in "
                   "the currency's smallest unit (satang for THB). One currency per report.",
    "security": [{"bearer": []}],
    "parameters": [
        {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"},
         "description": "First day, inclusive (default: 29 days before `to`, or all time if only `to` is given)"},
        {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"},
         "description": "Last day, inclusive (default: today)"},
        {"name": "group_by", "in": "query", "schema": {"type": "string", "enum": list(reports.GROUPS),
                                                        "default": "day"}},
        {"name": "currency", "in": "query", "schema": {"type": "string", "default": "THB"}},
    ],
    "responses": {
        "200": {"description": "The rows and their totals", "content": {"application/json": {"schema": {
            "type": "object", "required": ["rows", "currency"], "properties": {
                "rows": {"type": "array", "items": {"$ref": "#/components/schemas/RevenueRow"}},
                "totals": {"type": "object", "properties": _figures},
                "currency": {"type": "string"},
                "from": {"type": "string", "format": "date", "nullable": True},
                "to": {"type": "string", "format": "date", "nullable": True},
                "group_by": {"type": "string"},
            }}}}},
        "400": {"$ref": "#/components/responses/Error"},
        "401": {"$ref": "#/components/responses/Error"},
        "403": {"$ref": "#/components/responses/Error"},
    },
})

"""CSV downloads of report tables: UTF-8 with a byte-order mark (spreadsheets then read Thai), amounts as
exact decimals in the currency's main unit, and no cell a spreadsheet would run as a formula."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from flask import Response

# Columns holding amounts in the smallest unit; written as decimals ("1234.50") with the currency in the header.
MONEY = {"sales", "refunds", "gross", "commission", "net", "average_order", "price", "earned"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def money_text(amount: int) -> str:
    """An amount in satang as an exact decimal string: 123450 -> "1234.50", -5 -> "-0.05"."""
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(int(amount)), 100)
    return f"{sign}{whole}.{cents:02d}"


def _cell(name: str, value):
    if value is None:
        return ""
    if name in MONEY and isinstance(value, int):
        return money_text(value)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value  # a name like "=HYPERLINK(...)" stays text
    return value


def csv_text(rows: Iterable[dict], columns: Sequence[str], currency: str | None = None) -> str:
    """The rows as CSV text, one column per name in columns (money columns suffixed with the currency)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([f"{c} ({currency})" if currency and c in MONEY else c for c in columns])
    for row in rows:
        writer.writerow([_cell(c, row.get(c)) for c in columns])
    return buffer.getvalue()


def csv_response(filename: str, rows: Iterable[dict], columns: Sequence[str], currency: str | None = None) -> Response:
    """A CSV file download."""
    body = "\ufeff" + csv_text(rows, columns, currency)
    response = Response(body.encode("utf-8"), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response

"""Days as pixstock's organisers live them: local dates in the configured timezone, not UTC's."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Date, func, type_coerce


def zone() -> ZoneInfo:
    """pixstock's timezone (BABEL_DEFAULT_TIMEZONE, Asia/Bangkok by default)."""
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Bangkok")


def local_today() -> date:
    """Today's date in pixstock's timezone."""
    return datetime.now(zone()).date()


def local_day(moment: datetime) -> date:
    """The local date of an aware datetime."""
    return moment.astimezone(zone()).date()


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The UTC instants [start of first, start of the day after last) in pixstock's timezone."""
    tz = zone()
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz).astimezone(timezone.utc)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=tz).astimezone(timezone.utc)
    return start, end


def sql_local_date(column, dialect: str):
    """SQL for the local date of a UTC timestamp column."""
    if dialect == "postgresql":
        return func.date(func.timezone(str(zone().key), column))
    # SQLite (development only) knows no time zones: today's offset is close enough there.
    offset = int(zone().utcoffset(datetime.now()).total_seconds())
    return type_coerce(func.date(column, f"{offset:+d} seconds"), Date)

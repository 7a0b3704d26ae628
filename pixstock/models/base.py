"""Column types and helpers shared by every model module."""
import enum
from datetime import datetime, timezone

from sqlalchemy import DateTime, Enum, types


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


class UTCDateTime(types.TypeDecorator):
    """A timestamp stored in UTC and always returned timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def enum_column(enum_cls: type[enum.Enum]) -> Enum:
    """A portable enum column: stored as its string values in a VARCHAR, no native type."""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=max(len(member.value) for member in enum_cls) + 8,
        values_callable=lambda cls: [member.value for member in cls],
        validate_strings=True,
    )

"""The audit log of admin actions."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow


class AuditLog(db.Model):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    actor = relationship("User")

    @classmethod
    def record(cls, actor, action: str, obj=None, **details) -> AuditLog:
        """Add an audit entry for actor doing action on obj (committed with the caller's transaction)."""
        entry = cls(
            actor_id=getattr(actor, "id", None),
            action=action,
            object_type=type(obj).__name__.lower() if obj is not None else "",
            object_id=getattr(obj, "id", None),
            details=details,
        )
        db.session.add(entry)
        return entry

"""Faces found in photos: boxes and 128-d encodings (biometric data, deleted after the event)."""
from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import ForeignKey, Integer, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow


class Face(db.Model):
    __tablename__ = "faces"

    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id", ondelete="CASCADE"), index=True)
    # Denormalised so an event's encodings load in one indexed scan.
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    # Box in original-image pixel coordinates (after EXIF orientation).
    top: Mapped[int] = mapped_column(Integer)
    right: Mapped[int] = mapped_column(Integer)
    bottom: Mapped[int] = mapped_column(Integer)
    left: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)  # face height in original pixels
    encoding: Mapped[bytes] = mapped_column(LargeBinary)  # 128 float32, little-endian
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    photo = relationship("Photo")

    @property
    def box(self) -> list[int]:
        return [self.top, self.right, self.bottom, self.left]

    @property
    def vector(self) -> np.ndarray:
        return np.frombuffer(self.encoding, dtype="<f4")

    @staticmethod
    def pack(vector) -> bytes:
        """Serialise an encoding for storage."""
        return np.asarray(vector, dtype="<f4").tobytes()

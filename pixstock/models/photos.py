"""Photos, the upload batches they arrive in, and resumable upload sessions."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow


class ProcessingStatus(enum.Enum):
    RECEIVED = "received"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class ApprovalStatus(enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class FaceStatus(enum.Enum):
    PENDING = "pending"
    DONE = "done"
    NONE = "none"
    FAILED = "failed"


class UploadStatus(enum.Enum):
    UPLOADING = "uploading"
    COMPLETE = "complete"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class UploadBatch(db.Model):
    """One sitting of uploads by one photographer to one event."""

    __tablename__ = "upload_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    event = relationship("Event")
    user = relationship("User")


class Upload(db.Model):
    """A resumable upload of one file: bytes arrive in chunks until it becomes a photo or is rejected."""

    __tablename__ = "uploads"
    __table_args__ = (UniqueConstraint("batch_id", "fingerprint"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("upload_batches.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255))
    # Identifies the same file when it is chosen again (name, size, modification time).
    fingerprint: Mapped[str] = mapped_column(String(400))
    size: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[UploadStatus] = mapped_column(enum_column(UploadStatus), default=UploadStatus.UPLOADING)
    reason: Mapped[str | None] = mapped_column(Text)
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, index=True)

    batch = relationship("UploadBatch")
    photo = relationship("Photo", foreign_keys=[photo_id])

    @property
    def is_open(self) -> bool:
        """Still taking bytes (or waiting to be finished)."""
        return self.status is UploadStatus.UPLOADING

    def close(self, status: UploadStatus, reason: str | None = None, photo_id: int | None = None) -> None:
        """End the upload: complete, duplicate (of photo_id) or rejected (with a reason); only once."""
        if self.status is not UploadStatus.UPLOADING:
            raise ValueError(f"upload {self.id} is already {self.status.value}")
        if status is UploadStatus.UPLOADING:
            raise ValueError("closing an upload needs a final status")
        self.status = status
        self.reason = reason
        self.photo_id = photo_id


class Photo(db.Model):
    __tablename__ = "photos"
    __table_args__ = (
        UniqueConstraint("event_id", "sha256"),
        # Gallery keyset pagination: approved photos of an event in time order.
        Index("ix_photos_gallery", "event_id", "approval_status", "sort_at", "id"),
        Index("ix_photos_queue", "approval_status", "processing_status", "processed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    photographer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("upload_batches.id", ondelete="SET NULL"), index=True)
    # The seed's fields.
    original_filename: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255))
    file_path: Mapped[str] = mapped_column(String(500))  # storage key of the original
    file_size: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)  # as displayed, after EXIF orientation
    height: Mapped[int | None] = mapped_column(Integer)
    camera_model: Mapped[str | None] = mapped_column(String(120))
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    approval_status: Mapped[ApprovalStatus] = mapped_column(
        enum_column(ApprovalStatus), default=ApprovalStatus.PENDING
    )
    face_status: Mapped[FaceStatus] = mapped_column(enum_column(FaceStatus), default=FaceStatus.PENDING)
    metadata_json: Mapped[dict] = mapped_column(JSON, default=dict)
    # pixstock's additions.
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(40))
    derivative_keys: Mapped[dict] = mapped_column(JSON, default=dict)  # name -> storage key
    sort_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # taken_at, else uploaded_at
    processing_status: Mapped[ProcessingStatus] = mapped_column(
        enum_column(ProcessingStatus), default=ProcessingStatus.RECEIVED
    )
    failure_reason: Mapped[str | None] = mapped_column(Text)
    processing_attempts: Mapped[int] = mapped_column(Integer, default=0)
    processing_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    face_count: Mapped[int] = mapped_column(Integer, default=0)
    face_error: Mapped[str | None] = mapped_column(Text)

    event = relationship("Event", foreign_keys=[event_id])
    photographer = relationship("User", foreign_keys=[photographer_id])
    batch = relationship("UploadBatch")

    def __repr__(self) -> str:
        return f"<Photo {self.id} event={self.event_id} {self.processing_status.value}>"

    # Processing moves received -> processing -> ready | failed; a retry or a sweep goes back to received.
    PROCESSING_TRANSITIONS = {
        ProcessingStatus.RECEIVED: {ProcessingStatus.PROCESSING, ProcessingStatus.FAILED},
        ProcessingStatus.PROCESSING: {
            ProcessingStatus.READY, ProcessingStatus.FAILED, ProcessingStatus.RECEIVED, ProcessingStatus.PROCESSING,
        },
        ProcessingStatus.READY: {ProcessingStatus.PROCESSING},
        ProcessingStatus.FAILED: {ProcessingStatus.RECEIVED, ProcessingStatus.PROCESSING},
    }

    def move_processing_to(self, new: ProcessingStatus, reason: str | None = None) -> None:
        """Change the processing status along an allowed transition (ValueError otherwise)."""
        old = self.processing_status or ProcessingStatus.RECEIVED
        if new is not old and new not in self.PROCESSING_TRANSITIONS[old]:
            raise ValueError(f"photo {self.id}: processing cannot go from {old.value} to {new.value}")
        self.processing_status = new
        self.failure_reason = reason if new is ProcessingStatus.FAILED else None
        if new is ProcessingStatus.PROCESSING:
            self.processing_started_at = utcnow()
            self.processing_attempts = (self.processing_attempts or 0) + 1
        elif new is ProcessingStatus.READY:
            self.processed_at = utcnow()
        elif new is ProcessingStatus.RECEIVED:
            self.processing_started_at = None

    @classmethod
    def pending_approval_count(cls) -> int:
        """How many processed photos wait for an admin's approval (the admins' live badge)."""
        return db.session.scalar(
            select(func.count(cls.id)).where(
                cls.approval_status == ApprovalStatus.PENDING, cls.processing_status == ProcessingStatus.READY
            )
        ) or 0

    @property
    def is_visible_to_customers(self) -> bool:
        """Only approved, processed photos ever reach customers."""
        return self.approval_status is ApprovalStatus.APPROVED and self.processing_status is ProcessingStatus.READY

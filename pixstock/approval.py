"""The approval queue: processed photos waiting for an admin, and reviewing them one by one or in bulk.

A photo reaches customers only once approved. Reviews are set-based UPDATEs, so approving
everything one photographer shot at a 40,000-photo event is one statement, not 40,000 objects.
Every review is written to the audit log and announces the new queue size to the admins' room.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import joinedload

from .catalog import Cursor
from .extensions import db
from .models import ApprovalStatus, AuditLog, Event, Photo, ProcessingStatus, UploadBatch, utcnow
from .tasks.progress import emit

QUEUE_PAGE_SIZE = 48
MAX_REASON = 500
# Ids listed in one audit entry; a bigger bulk review records its filter and count instead.
AUDIT_ID_LIMIT = 1000


class Decision(enum.Enum):
    APPROVE = "approve"
    REJECT = "reject"


class ReviewError(ValueError):
    """A review that cannot be made; the message says why."""


def _int_arg(args, name: str) -> int | None:
    try:
        value = int(args.get(name, ""))
    except (TypeError, ValueError):
        return None
    return value if 0 < value < 2**31 else None


@dataclass(frozen=True)
class QueueFilter:
    """Which waiting photos an admin is looking at: one event, one photographer, one upload batch."""

    event_id: int | None = None
    photographer_id: int | None = None
    batch_id: int | None = None

    @classmethod
    def from_args(cls, args) -> QueueFilter:
        """Read the filter from request arguments, ignoring values that are not ids."""
        return cls(_int_arg(args, "event"), _int_arg(args, "photographer"), _int_arg(args, "batch"))

    def as_args(self) -> dict:
        """The request arguments that reproduce this filter."""
        args = {"event": self.event_id, "photographer": self.photographer_id, "batch": self.batch_id}
        return {k: v for k, v in args.items() if v is not None}

    def clauses(self) -> list:
        """SQL conditions: waiting, processed, and matching the filter."""
        clauses = [
            Photo.approval_status == ApprovalStatus.PENDING,
            Photo.processing_status == ProcessingStatus.READY,
        ]
        if self.event_id is not None:
            clauses.append(Photo.event_id == self.event_id)
        if self.photographer_id is not None:
            clauses.append(Photo.photographer_id == self.photographer_id)
        if self.batch_id is not None:
            clauses.append(Photo.batch_id == self.batch_id)
        return clauses


def _queue_select(filters: QueueFilter):
    return select(Photo).where(*filters.clauses()).options(
        joinedload(Photo.event), joinedload(Photo.photographer), joinedload(Photo.batch)
    )


def queue_page(filters: QueueFilter, before: Cursor | None = None,
               limit: int = QUEUE_PAGE_SIZE) -> tuple[list[Photo], Cursor | None]:
    """Waiting photos, newest processed first, older than a cursor; and the cursor of the next page."""
    query = _queue_select(filters)
    if before is not None:
        query = query.where(tuple_(Photo.processed_at, Photo.id) < tuple_(before.sort_at, before.id))
    rows = db.session.scalars(query.order_by(Photo.processed_at.desc(), Photo.id.desc()).limit(limit + 1)).unique().all()
    photos = rows[:limit]
    return photos, (queue_cursor(photos[-1]) if len(rows) > limit else None)


def queue_newer(filters: QueueFilter, than: Cursor, limit: int = QUEUE_PAGE_SIZE) -> list[Photo]:
    """Waiting photos processed after a cursor (the live top of the queue), newest first."""
    query = _queue_select(filters).where(tuple_(Photo.processed_at, Photo.id) > tuple_(than.sort_at, than.id))
    rows = db.session.scalars(query.order_by(Photo.processed_at, Photo.id).limit(limit)).unique().all()
    return list(reversed(rows))


def queue_cursor(photo: Photo) -> Cursor:
    """A queue position: when the photo finished processing, and its id."""
    return Cursor(photo.processed_at or photo.uploaded_at, photo.id)


def pending_count(filters: QueueFilter | None = None) -> int:
    """How many processed photos wait for review (matching filters, if given)."""
    if filters is None:
        return Photo.pending_approval_count()
    from sqlalchemy import func

    return db.session.scalar(select(func.count(Photo.id)).where(*filters.clauses())) or 0


def clean_reason(decision: Decision, reason: str | None) -> str | None:
    """The rejection reason trimmed, required for a rejection (ReviewError otherwise)."""
    if decision is Decision.APPROVE:
        return None
    reason = " ".join((reason or "").split())
    if not reason:
        raise ReviewError("Say why the photo is rejected: the photographer sees the reason.")
    if len(reason) > MAX_REASON:
        raise ReviewError(f"Keep the reason under {MAX_REASON} characters.")
    return reason


def _apply(where: list, reviewer, decision: Decision, reason: str | None) -> list[int]:
    """Review every processed photo matching where; return the ids that changed."""
    reason = clean_reason(decision, reason)
    target = ApprovalStatus.APPROVED if decision is Decision.APPROVE else ApprovalStatus.REJECTED
    statement = (
        update(Photo)
        .where(*where, Photo.processing_status == ProcessingStatus.READY, Photo.approval_status != target)
        .values(approval_status=target, rejection_reason=reason, reviewed_by_id=reviewer.id, reviewed_at=utcnow())
        .returning(Photo.id, Photo.event_id)
        .execution_options(synchronize_session=False)
    )
    rows = db.session.execute(statement).all()
    changed = [photo_id for photo_id, _event_id in rows]
    event_ids = sorted({event_id for _photo_id, event_id in rows})
    if event_ids:
        # The gallery caches pages per event version: a review must show on the next request.
        db.session.execute(
            update(Event).where(Event.id.in_(event_ids)).values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    if event_ids and decision is Decision.REJECT:
        # A rejected photo must not stay on the home page as an event's cover.
        cover_rejected = select(Photo.id).where(
            Photo.id == Event.cover_photo_id, Photo.approval_status == ApprovalStatus.REJECTED
        ).exists()
        db.session.execute(
            update(Event).where(Event.id.in_(event_ids), cover_rejected).values(cover_photo_id=None)
            .execution_options(synchronize_session=False)
        )
    db.session.expire_all()
    return changed


def review_photos(photo_ids: list[int], reviewer, decision: Decision, reason: str | None = None) -> list[int]:
    """Approve or reject the given photos (processed ones only); audit, announce; return the ids changed."""
    ids = sorted({int(i) for i in photo_ids})
    if not ids:
        raise ReviewError("Select at least one photo.")
    changed = _apply([Photo.id.in_(ids)], reviewer, decision, reason)
    if len(ids) == 1:
        photo = db.session.get(Photo, ids[0])
        AuditLog.record(reviewer, f"photo.{decision.value}", photo, reason=clean_reason(decision, reason),
                        changed=bool(changed))
    else:
        AuditLog.record(reviewer, f"photos.{decision.value}", None, reason=clean_reason(decision, reason),
                        photo_ids=changed[:AUDIT_ID_LIMIT], count=len(changed), asked=len(ids))
    db.session.commit()
    announce_pending()
    return changed


def review_all_from(event: Event, photographer, reviewer, decision: Decision, reason: str | None = None) -> int:
    """Review every waiting photo one photographer has in an event; audit, announce; return how many."""
    where = [
        Photo.event_id == event.id,
        Photo.photographer_id == photographer.id,
        Photo.approval_status == ApprovalStatus.PENDING,
    ]
    changed = _apply(where, reviewer, decision, reason)
    AuditLog.record(reviewer, f"photos.{decision.value}_all", event, photographer_id=photographer.id,
                    reason=clean_reason(decision, reason), count=len(changed),
                    photo_ids=changed[:AUDIT_ID_LIMIT])
    db.session.commit()
    announce_pending()
    return len(changed)


def announce_pending() -> None:
    """Tell every admin's open page how many photos now wait (Socket.IO `approval_count`)."""
    emit("approval_count", {"pending": pending_count()}, room="admins")


def batches_for(filters: QueueFilter) -> list[UploadBatch]:
    """Upload batches to filter the queue by: of the chosen event and photographer, newest first."""
    if filters.event_id is None and filters.photographer_id is None:
        return []
    query = select(UploadBatch).options(joinedload(UploadBatch.user)).order_by(UploadBatch.id.desc()).limit(100)
    if filters.event_id is not None:
        query = query.where(UploadBatch.event_id == filters.event_id)
    if filters.photographer_id is not None:
        query = query.where(UploadBatch.user_id == filters.photographer_id)
    return list(db.session.scalars(query).unique())

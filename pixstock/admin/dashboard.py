"""Figures for an event's dashboard: photos by status, uploads per photographer, faces found."""
from __future__ import annotations

from sqlalchemy import case, func, select

from ..extensions import db
from ..models import ApprovalStatus, Event, Face, Photo, ProcessingStatus, Upload, UploadStatus, User


def _count_where(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def event_dashboard(event: Event) -> dict:
    """Photo counts by processing and approval status, per photographer, and faces found (four queries)."""
    by_status = {(p.value, a.value): 0 for p in ProcessingStatus for a in ApprovalStatus}
    for processing, approval, count in db.session.execute(
        select(Photo.processing_status, Photo.approval_status, func.count(Photo.id))
        .where(Photo.event_id == event.id)
        .group_by(Photo.processing_status, Photo.approval_status)
    ):
        by_status[(processing.value, approval.value)] = count

    per_photographer = {}
    rows = db.session.execute(
        select(
            User,
            func.count(Photo.id),
            _count_where(Photo.processing_status == ProcessingStatus.READY),
            _count_where(Photo.processing_status == ProcessingStatus.FAILED),
            _count_where(Photo.approval_status == ApprovalStatus.APPROVED),
            _count_where(Photo.approval_status == ApprovalStatus.PENDING),
            _count_where(Photo.approval_status == ApprovalStatus.REJECTED),
        )
        .join(Photo, Photo.photographer_id == User.id)
        .where(Photo.event_id == event.id)
        .group_by(User.id)
        .order_by(User.email)
    )
    for user, total, ready, failed, approved, pending, rejected in rows:
        per_photographer[user.id] = {
            "user": user, "photos": total, "ready": ready, "failed": failed, "approved": approved,
            "pending": pending, "rejected": rejected, "duplicates": 0, "refused": 0,
        }
    # Files that never became photos: duplicates skipped and uploads refused (not an image, too big).
    for user_id, status, count in db.session.execute(
        select(Upload.user_id, Upload.status, func.count(Upload.id))
        .where(Upload.event_id == event.id, Upload.status.in_([UploadStatus.DUPLICATE, UploadStatus.REJECTED]))
        .group_by(Upload.user_id, Upload.status)
    ):
        entry = per_photographer.setdefault(user_id, {
            "user": db.session.get(User, user_id), "photos": 0, "ready": 0, "failed": 0, "approved": 0,
            "pending": 0, "rejected": 0, "duplicates": 0, "refused": 0,
        })
        entry["duplicates" if status is UploadStatus.DUPLICATE else "refused"] += count

    faces, photos_with_faces = db.session.execute(
        select(func.count(Face.id), func.count(func.distinct(Face.photo_id))).where(Face.event_id == event.id)
    ).one()
    total = sum(by_status.values())
    return {
        "total": total,
        "by_status": by_status,
        "processing": {p.value: sum(v for (pp, _), v in by_status.items() if pp == p.value) for p in ProcessingStatus},
        "approval": {a.value: sum(v for (_, aa), v in by_status.items() if aa == a.value) for a in ApprovalStatus},
        "per_photographer": list(per_photographer.values()),
        "faces": faces,
        "photos_with_faces": photos_with_faces,
    }

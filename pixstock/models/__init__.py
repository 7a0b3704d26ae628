"""The data model, split by domain; importing this package registers every table."""
from .analytics import EventDailyStat, PhotoDailySales, PhotoDailyView, RevenueDaily, TrackedEvent, TrackKind
from .audit import AuditLog
from .base import UTCDateTime, utcnow
from .events import BundleTier, Event, EventPhotographer, EventStatus, TransitionError
from .faces import Face
from .orders import (
    CartItem,
    CommissionEntry,
    DownloadGrant,
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    PaymentStatus,
    WebhookEvent,
)
from .photos import ApprovalStatus, FaceStatus, Photo, ProcessingStatus, Upload, UploadBatch, UploadStatus
from .users import ApiToken, PhotographerProfile, PhotographerStatus, Role, User

__all__ = [
    "ApiToken", "ApprovalStatus", "AuditLog", "BundleTier", "CartItem", "CommissionEntry", "DownloadGrant", "Event",
    "EventDailyStat", "EventPhotographer", "EventStatus", "Face", "FaceStatus", "Order", "OrderItem", "OrderStatus",
    "Payment", "PaymentStatus", "Photo", "PhotoDailySales", "PhotoDailyView", "PhotographerProfile",
    "PhotographerStatus", "ProcessingStatus", "RevenueDaily", "Role", "TrackedEvent", "TrackKind", "TransitionError",
    "Upload", "UploadBatch", "UploadStatus", "User", "UTCDateTime", "utcnow", "WebhookEvent",
]

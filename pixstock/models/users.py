"""Accounts: users and their roles, photographer profiles, personal API tokens."""
from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import datetime, timedelta

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .base import UTCDateTime, enum_column, utcnow


class Role(enum.Enum):
    ADMIN = "admin"
    PHOTOGRAPHER = "photographer"
    CUSTOMER = "customer"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role), default=Role.CUSTOMER)
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    profile: Mapped[PhotographerProfile | None] = relationship(
        back_populates="user", cascade="all, delete-orphan", uselist=False
    )
    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="ApiToken.id"
    )

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role.value}>"

    @staticmethod
    def normalize_email(email: str) -> str:
        """Return the canonical form used to store and look up an email."""
        return (email or "").strip().lower()

    @classmethod
    def by_email(cls, email: str) -> User | None:
        """Find a user by email, case-insensitively."""
        return db.session.scalar(select(cls).where(cls.email == cls.normalize_email(email)))

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_photographer(self) -> bool:
        return self.role is Role.PHOTOGRAPHER

    @property
    def display_name(self) -> str:
        if self.profile and self.profile.display_name:
            return self.profile.display_name
        return self.email.split("@")[0]

    def set_password(self, password: str) -> None:
        """Hash and store a new password (scrypt), and clear any lockout."""
        self.password_hash = generate_password_hash(password, method="scrypt")
        self.failed_logins = 0
        self.locked_until = None

    def check_password(self, password: str) -> bool:
        """True when the password matches the stored hash."""
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def is_locked(self, now: datetime | None = None) -> bool:
        """True while the account is locked after repeated failed logins."""
        return self.locked_until is not None and self.locked_until > (now or utcnow())

    def record_failed_login(self, max_failures: int, lock_minutes: int) -> None:
        """Count a failed login; lock the account for a while after too many."""
        self.failed_logins = (self.failed_logins or 0) + 1
        if self.failed_logins >= max_failures:
            self.locked_until = utcnow() + timedelta(minutes=lock_minutes)
            self.failed_logins = 0

    def record_login(self) -> None:
        """Reset the failure counter after a successful login."""
        self.failed_logins = 0
        self.locked_until = None
        self.last_login_at = utcnow()


class PhotographerStatus(enum.Enum):
    INVITED = "invited"
    ACTIVE = "active"
    INACTIVE = "inactive"


class PhotographerProfile(db.Model):
    __tablename__ = "photographer_profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[PhotographerStatus] = mapped_column(
        enum_column(PhotographerStatus), default=PhotographerStatus.INVITED
    )
    # Share of each sale paid to the photographer, in basis points (5000 = 50 %).
    commission_bps: Mapped[int] = mapped_column(Integer, default=5000)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="profile")


class ApiToken(db.Model):
    """A personal API token; only its SHA-256 is stored, the token is shown once."""

    __tablename__ = "api_tokens"
    PREFIX = "pxs_"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="API token")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="tokens")

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def issue(cls, user: User, name: str = "API token") -> tuple[ApiToken, str]:
        """Create a token for user; return the row and the plain token (shown once)."""
        plain = cls.PREFIX + secrets.token_urlsafe(32)
        row = cls(user=user, name=name or "API token", token_hash=cls.hash(plain), hint=plain[-4:])
        db.session.add(row)
        return row, plain

    @classmethod
    def authenticate(cls, plain: str) -> User | None:
        """Return the active user owning a valid, unrevoked token, or None."""
        if not plain or not plain.startswith(cls.PREFIX):
            return None
        row = db.session.scalar(select(cls).where(cls.token_hash == cls.hash(plain)))
        if row is None or row.revoked_at is not None or not row.user.active:
            return None
        row.last_used_at = utcnow()
        return row.user

    def revoke(self) -> None:
        """Revoke the token; it stops working immediately."""
        if self.revoked_at is None:
            self.revoked_at = utcnow()

"""Test data factories: real rows through the models, committed like the app would."""
import itertools
from datetime import date, timedelta

from pixstock.auth.services import create_user
from pixstock.extensions import db
from pixstock.models import BundleTier, Event, EventPhotographer, EventStatus, Role

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


def make_user(role: str | Role = Role.CUSTOMER, email: str | None = None, password: str = PASSWORD, **fields):
    """A committed user with a known password."""
    role = Role(role) if isinstance(role, str) else role
    email = email or f"{role.value}{next(_seq)}@example.com"
    user = create_user(email, password, role)
    for key, value in fields.items():
        setattr(user, key, value)
    db.session.commit()
    return user


def make_event(status: EventStatus | str = EventStatus.ON_SALE, photographers=(), **fields):
    """A committed event (on sale by default) with pricing, assigned to photographers."""
    n = next(_seq)
    values = dict(
        name=f"Test Event {n}",
        slug=f"test-event-{n}",
        description="An event for tests",
        event_date=date.today(),
        location="Bangkok",
        status=EventStatus(status) if isinstance(status, str) else status,
        sales_enabled=True,
        expiry_date=date.today() + timedelta(days=30),
        watermark_text="pixstock test",
        price_single=10000,
        price_all_of_me=50000,
    )
    bundles = fields.pop("bundles", [(5, 40000)])
    values.update(fields)
    event = Event(**values)
    event.bundles = [BundleTier(photo_count=c, price=p) for c, p in bundles]
    db.session.add(event)
    db.session.flush()
    for user in photographers:
        db.session.add(EventPhotographer(event_id=event.id, user_id=user.id))
    db.session.commit()
    return event

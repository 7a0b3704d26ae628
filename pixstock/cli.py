"""The `flask --app wsgi pixstock ...` commands."""
import secrets
from datetime import date, timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select

from .auth.services import create_user
from .extensions import db
from .models import ApiToken, BundleTier, Event, EventPhotographer, EventStatus, Photo, Role, User
from .tasks.schedule import scheduler_command
from .tasks.worker import worker_command

pixstock = AppGroup("pixstock", help="pixstock administration commands.")


@pixstock.command("create-user")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--email", required=True)
@click.option("--password", required=True)
@with_appcontext
def create_user_command(role: str, email: str, password: str) -> None:
    """Create a user with a role and password."""
    if User.by_email(email):
        raise click.ClickException(f"{email} already has an account.")
    if len(password) < 10:
        raise click.ClickException("Use a password of at least 10 characters.")
    user = create_user(email, password, Role(role))
    db.session.commit()
    click.echo(f"Created {user.role.value} {user.email} (id {user.id}).")


@pixstock.command("create-token")
@click.option("--email", required=True)
@click.option("--name", default="CLI token")
@with_appcontext
def create_token_command(email: str, name: str) -> None:
    """Print a new API token for a user."""
    user = User.by_email(email)
    if user is None:
        raise click.ClickException(f"No account for {email}.")
    _row, plain = ApiToken.issue(user, name)
    db.session.commit()
    click.echo(plain)


DEMO_ACCOUNTS = [
    (Role.ADMIN, "admin@pixstock.example.com"),
    (Role.PHOTOGRAPHER, "photographer@pixstock.example.com"),
    (Role.CUSTOMER, "customer@pixstock.example.com"),
]


def _demo_file() -> Path:
    return Path(current_app.config["DATA_DIR"]) / "demo-accounts.txt"


@pixstock.command("demo")
@click.option("--photos", default=36, show_default=True, help="Sample photos to generate and process.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
@with_appcontext
def demo_command(photos: int, if_empty: bool) -> None:
    """Seed demo accounts and an on-sale demo event with pricing and sample photos."""
    if if_empty and db.session.scalar(select(func.count(User.id))):
        if _demo_file().exists():
            click.echo(_demo_file().read_text())
        return
    lines = ["Demo accounts (also in %s):" % _demo_file()]
    users = {}
    for role, email in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(9)
        user = User.by_email(email) or create_user(email, password, role)
        user.set_password(password)
        users[role] = user
        lines.append(f"  {role.value:<13} {email:<32} password: {password}")
    event = db.session.scalar(select(Event).where(Event.slug == "bangkok-city-marathon-demo"))
    if event is None:
        event = Event(
            name="Bangkok City Marathon (demo)",
            slug="bangkok-city-marathon-demo",
            description="A demo event with generated photos.",
            event_date=date.today() - timedelta(days=1),
            location="Lumphini Park, Bangkok",
            status=EventStatus.ON_SALE,
            sales_enabled=True,
            expiry_date=date.today() + timedelta(days=60),
            watermark_text="pixstock demo",
            price_single=12000,
            price_all_of_me=59000,
            bundles=[BundleTier(photo_count=5, price=45000), BundleTier(photo_count=10, price=79000)],
        )
        db.session.add(event)
        db.session.flush()
        db.session.add(EventPhotographer(event_id=event.id, user_id=users[Role.PHOTOGRAPHER].id))
    db.session.commit()
    if photos > 0 and not db.session.scalar(select(func.count(Photo.id)).where(Photo.event_id == event.id)):
        from .studio.samples import seed_event_photos

        click.echo(f"Generating {photos} sample photos and putting them through upload and processing...")
        seed_event_photos(event, users[Role.PHOTOGRAPHER], photos, reviewer=users[Role.ADMIN])
    _demo_file().parent.mkdir(parents=True, exist_ok=True)
    _demo_file().write_text("\n".join(lines) + "\n")
    click.echo("\n".join(lines))


def init_app(app: Flask) -> None:
    """Register the command group."""
    pixstock.add_command(worker_command)
    pixstock.add_command(scheduler_command)
    app.cli.add_command(pixstock)

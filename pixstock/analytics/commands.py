"""`flask --app wsgi analytics ...`: maintenance of the analytics rollups."""
import time

import click

from . import bp
from .ledger import rebuild_revenue
from .tracking import flush_tracked, rebuild_rollups


@bp.cli.command("rebuild")
def rebuild_command() -> None:
    """Recompute every analytics rollup from the ledger and the tracked events (after a restore or an import)."""
    started = time.perf_counter()
    rebuild_revenue()
    click.echo(f"revenue rollups rebuilt from the commission ledger in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    days = rebuild_rollups()
    click.echo(f"visitor rollups rebuilt for {days} days in {time.perf_counter() - started:.1f} s")


@bp.cli.command("flush")
def flush_command() -> None:
    """Store the buffered tracking now instead of waiting for the periodic job."""
    click.echo(f"{flush_tracked()} tracked events stored")

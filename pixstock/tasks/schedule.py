"""Periodic jobs: sweepers and retention, enqueued on schedule by RQ's CronScheduler.

Production runs one `pixstock scheduler` process (the Procfile's `scheduler:` line); in-process
mode runs the same scheduler in a thread of the web process. Either way the jobs themselves run
on the ordinary queues, so a slow sweep never blocks the scheduler.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import click
from flask import current_app
from flask.cli import with_appcontext
from rq.cron import CronScheduler

from .queue import jobs

log = logging.getLogger(__name__)


def periodic_jobs() -> list[tuple[Callable, str, int]]:
    """Every periodic job as (function, queue, interval in seconds)."""
    return list(_REGISTRY)


_REGISTRY: list[tuple[Callable, str, int]] = []


def every(seconds: int, queue: str = "default"):
    """Register the decorated job to run every `seconds` on `queue`."""

    def decorator(func: Callable) -> Callable:
        _REGISTRY.append((func, queue, seconds))
        return func

    return decorator


def load_periodic_modules() -> None:
    """Import the modules that define periodic jobs, so their @every registrations run."""
    import importlib

    for name in PERIODIC_MODULES:
        importlib.import_module(name)


# The task modules holding @every jobs; imported when a scheduler starts.
PERIODIC_MODULES: list[str] = ["pixstock.tasks.images", "pixstock.analytics.tracking", "pixstock.tasks.faces"]


def build_scheduler(connection) -> CronScheduler:
    """A CronScheduler with every periodic job registered."""
    load_periodic_modules()
    scheduler = CronScheduler(connection, logging_level=logging.WARNING)
    for func, queue, interval in periodic_jobs():
        scheduler.register(func, queue, interval=interval, job_timeout=600)
    return scheduler


def run_in_thread(app) -> threading.Thread:
    """Start the scheduler loop in a daemon thread (in-process mode)."""

    def loop():
        with app.app_context():
            scheduler = build_scheduler(jobs().connection)
            while True:
                try:
                    if scheduler.enqueue_jobs():
                        jobs().ensure_worker()
                except Exception:  # keep scheduling even if Redis hiccups once
                    log.exception("periodic scheduling failed")
                time.sleep(max(1.0, min(scheduler.calculate_sleep_interval(), 30)))

    thread = threading.Thread(target=loop, name="pixstock-scheduler", daemon=True)
    thread.start()
    return thread


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Enqueue periodic jobs on schedule (run exactly one per deployment; needs REDIS_URL)."""
    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException("REDIS_URL is not set: in-process mode schedules inside the web process.")
    scheduler = build_scheduler(jobs().connection)
    for func, queue, interval in periodic_jobs():
        click.echo(f"every {interval:>5}s on {queue:<8} {func.__module__}.{func.__name__}")
    scheduler.start()

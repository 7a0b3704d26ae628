"""The `pixstock worker` command: an RQ worker process with an app context."""
import click
import rq
from flask import current_app
from flask.cli import with_appcontext

from ..extensions import db
from .queue import QUEUES, jobs


class AppWorker(rq.Worker):
    """A forking RQ worker whose work horses never reuse the parent's database connections."""

    def main_work_horse(self, job, queue):
        db.engine.dispose(close=False)
        return super().main_work_horse(job, queue)


class AppSimpleWorker(rq.SimpleWorker):
    """A worker that runs every job in its own process: no fork per job, and caches that last.

    Image processing renders its watermark masks once per size and keeps fonts loaded; a forked work
    horse throws that away after every job, which costs more than the job itself. Each job still
    starts and ends with a fresh database session.
    """

    def perform_job(self, job, queue, *args, **kwargs):
        db.session.remove()
        try:
            return super().perform_job(job, queue, *args, **kwargs)
        finally:
            db.session.remove()


@click.command("worker")
@click.option("--queues", "-q", default=",".join(QUEUES), help="Comma-separated queues, in priority order.")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--fork/--no-fork", default=True, show_default=True,
              help="Run each job in a forked child (isolation) or in the worker itself (speed: the images queue).")
@with_appcontext
def worker_command(queues: str, burst: bool, fork: bool) -> None:
    """Run an RQ worker for the given queues (needs REDIS_URL)."""
    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException("REDIS_URL is not set: in-process mode runs jobs inside the web process.")
    names = [q.strip() for q in queues.split(",") if q.strip()]
    job_queues = jobs()
    # The forking Worker runs each job in a child with this app context inherited.
    worker_class = AppWorker if fork else AppSimpleWorker
    worker = worker_class([job_queues.queue(n) for n in names], connection=job_queues.connection)
    worker.work(burst=burst, with_scheduler=True)

"""RQ queues in both modes: real Redis with separate workers, or in-process over fakeredis.

Jobs are plain functions taking ids; they run inside an app context that the worker
(the `pixstock worker` command, or the in-process thread) pushes, never at import time.
"""
from __future__ import annotations

import logging
import threading
import time

import fakeredis
import redis
import rq
from flask import Flask, current_app
from rq.timeouts import TimerDeathPenalty
from rq.utils import current_timestamp

log = logging.getLogger(__name__)

# Fast work first; faces have their own queue so a crowd of faces never starves thumbnails.
QUEUES = ("images", "default", "mail", "faces")


class InProcessWorker(rq.SimpleWorker):
    """A SimpleWorker that can run off the main thread (no signals, timer-based timeouts)."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self):  # signals only work on the main thread
        pass


class JobQueues:
    """The app's connection to its queues (stored in app.extensions['pixstock_jobs'])."""

    def __init__(self, app: Flask):
        self.app = app
        url = app.config.get("REDIS_URL")
        self.in_process = not url
        if self.in_process:
            # One fake server per app, so two apps in one process never share jobs.
            self.connection = fakeredis.FakeRedis(server=fakeredis.FakeServer())
        else:
            self.connection = redis.Redis.from_url(url)
        self._queues = {name: rq.Queue(name, connection=self.connection) for name in QUEUES}
        self._thread: threading.Thread | None = None
        self._scheduler_thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def queue(self, name: str) -> rq.Queue:
        """The RQ queue called name."""
        return self._queues[name]

    def enqueue(self, func, *args, queue: str = "default", **kwargs) -> rq.job.Job:
        """Queue func(*args) by reference; start the in-process worker thread if needed."""
        kwargs.setdefault("job_timeout", 600)
        job = self._queues[queue].enqueue(func, *args, **kwargs)
        self.ensure_worker()
        return job

    def ensure_worker(self) -> None:
        """In-process mode: make sure the worker thread is running (unless tests drain by hand)."""
        if self.in_process and self.app.config.get("JOBS_WORKER_THREAD", True):
            self._ensure_thread()

    def start_background(self) -> None:
        """In-process mode: start the worker thread and the periodic scheduler thread now."""
        if not (self.in_process and self.app.config.get("JOBS_WORKER_THREAD", True)):
            return
        from .schedule import run_in_thread

        self._ensure_thread()
        if self._scheduler_thread is None:
            self._scheduler_thread = run_in_thread(self.app)

    def live_object_ids(self, name: str, prefix: str) -> tuple[set[int], set[int]]:
        """Ids named by the live jobs of queue `name` whose ids read `<prefix><id>-...`: (waiting or
        scheduled for a retry, started). Sweepers use it to re-queue only what no job is handling."""
        queue = self._queues[name]
        waiting = list(queue.get_job_ids()) + queue.scheduled_job_registry.get_job_ids()
        started = queue.started_job_registry.get_job_ids()
        return _ids_after(prefix, waiting), _ids_after(prefix, started)

    def drain(self, queues=QUEUES) -> None:
        """Run every queued job now, in this thread (tests and the demo seed use it)."""
        self.enqueue_due()
        worker = InProcessWorker([self._queues[q] for q in queues], connection=self.connection)
        worker.work(burst=True, logging_level="WARNING")

    def enqueue_due(self) -> int:
        """Move scheduled jobs whose time has come (retries with backoff) onto their queues."""
        moved = 0
        now = current_timestamp()
        for queue in self._queues.values():
            registry = queue.scheduled_job_registry
            for job_id in registry.get_jobs_to_schedule(now):
                registry.remove(job_id)
                job = rq.job.Job.fetch(job_id, connection=self.connection) if self.connection.exists(
                    rq.job.Job.key_for(job_id)) else None
                if job is not None:
                    queue.enqueue_job(job)
                    moved += 1
        return moved

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run_thread, name="pixstock-jobs", daemon=True)
            self._thread.start()

    def _run_thread(self) -> None:
        # Poll in short bursts rather than run RQ's scheduler, which forks a child process
        # that outlives the web process's threads (and hangs interpreter exit in tests).
        with self.app.app_context():
            worker = InProcessWorker(list(self._queues.values()), connection=self.connection)
            while True:
                try:
                    self.enqueue_due()
                    worker.work(burst=True, logging_level="WARNING")
                except Exception:  # a broken job must not kill the only worker
                    log.exception("in-process worker loop failed")
                time.sleep(0.2)


def _ids_after(prefix: str, job_ids) -> set[int]:
    ids = set()
    for job_id in job_ids:
        number = job_id[len(prefix):].split("-", 1)[0] if job_id.startswith(prefix) else ""
        if number.isdigit():
            ids.add(int(number))
    return ids


def init_app(app: Flask) -> None:
    """Attach the queues to the app."""
    app.extensions["pixstock_jobs"] = JobQueues(app)


def jobs() -> JobQueues:
    """The current app's queues."""
    return current_app.extensions["pixstock_jobs"]


def enqueue(func, *args, queue: str = "default", **kwargs):
    """Queue a job on the current app's queues."""
    return jobs().enqueue(func, *args, queue=queue, **kwargs)

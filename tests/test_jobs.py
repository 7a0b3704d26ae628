"""The job system in both modes: in-process RQ over fakeredis, real Redis, and the periodic scheduler."""
import os
import subprocess
import sys
import time

from pixstock.extensions import db
from pixstock.i18n import format_money
from pixstock.models import AuditLog
from pixstock.tasks import schedule
from pixstock.tasks.queue import enqueue, jobs


def record_audit(action: str) -> None:
    """A tiny job with a visible effect: an audit row."""
    AuditLog.record(None, action)
    db.session.commit()


def test_in_process_jobs_run_when_drained(app, drain):
    enqueue(record_audit, "drained", queue="default")
    assert db.session.query(AuditLog).count() == 0
    drain()
    assert [a.action for a in db.session.query(AuditLog)] == ["drained"]


def test_in_process_worker_thread_runs_jobs(make_app):
    app = make_app(JOBS_WORKER_THREAD=True)
    with app.app_context():
        enqueue(record_audit, "threaded", queue="images")
        deadline = time.time() + 10
        while time.time() < deadline and not db.session.query(AuditLog).count():
            db.session.rollback()
            time.sleep(0.05)
        assert [a.action for a in db.session.query(AuditLog)] == ["threaded"]


def test_two_apps_never_share_in_process_queues(make_app):
    one, two = make_app(), make_app()
    with one.app_context():
        enqueue(record_audit, "one")
        assert jobs().queue("default").count == 1
    with two.app_context():
        assert jobs().queue("default").count == 0


def test_real_redis_worker_process_runs_jobs(make_app, redis_url, database_url, tmp_path):
    """With REDIS_URL set, a separate `pixstock worker` process consumes the queue."""
    app = make_app(REDIS_URL=redis_url)
    with app.app_context():
        enqueue(record_audit, "from-redis", queue="default")
    env = dict(os.environ, REDIS_URL=redis_url, DATABASE_URL=database_url, PIXSTOCK_DATA_DIR=str(tmp_path),
               SECRET_KEY="worker-test")
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "pixstock", "worker", "--burst", "-q", "default"],
        env=env, capture_output=True, text=True, timeout=120, cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    assert result.returncode == 0, result.stderr
    with app.app_context():
        assert [a.action for a in db.session.query(AuditLog)] == ["from-redis"]


def periodic_audit() -> None:
    """A periodic job for the scheduler test."""
    record_audit("periodic")


def test_scheduler_enqueues_registered_jobs_when_due(app, drain, monkeypatch):
    monkeypatch.setattr(schedule, "_REGISTRY", [])
    monkeypatch.setattr(schedule, "load_periodic_modules", lambda: None)
    schedule.every(3600, queue="default")(periodic_audit)
    scheduler = schedule.build_scheduler(jobs().connection)
    assert [job.interval for job in scheduler.get_jobs()] == [3600]
    assert len(scheduler.enqueue_jobs()) == 1  # due at start
    assert scheduler.enqueue_jobs() == []  # not again within the hour
    drain()
    assert [a.action for a in db.session.query(AuditLog)] == ["periodic"]


def test_every_periodic_module_imports():
    schedule.load_periodic_modules()
    registered = {f"{func.__module__}.{func.__name__}" for func, _q, _i in schedule.periodic_jobs()}
    for func, queue, interval in schedule.periodic_jobs():
        assert queue in ("images", "default", "mail", "faces") and interval >= 60, func
    assert {name.rsplit(".", 1)[0] for name in registered} >= set(schedule.PERIODIC_MODULES)


def test_money_is_formatted_per_locale():
    assert format_money(125000, "THB", "en") == "฿1,250"
    assert format_money(125050, "THB", "th") == "฿1,250.50"
    assert format_money(1999, "USD", "en") == "$19.99"
    assert format_money(None) == ""


_attempts = {"n": 0}


def flaky_job() -> None:
    """Fails the first time, succeeds the second: exercises retries with backoff."""
    _attempts["n"] += 1
    if _attempts["n"] == 1:
        raise ConnectionError("transient")
    record_audit("retried")


def test_retry_with_backoff_runs_in_process(make_app):
    from rq import Retry

    _attempts["n"] = 0
    app = make_app(JOBS_WORKER_THREAD=True)
    with app.app_context():
        enqueue(flaky_job, queue="default", retry=Retry(max=2, interval=1))
        deadline = time.time() + 15
        while time.time() < deadline and not db.session.query(AuditLog).count():
            db.session.rollback()
            time.sleep(0.1)
        assert [a.action for a in db.session.query(AuditLog)] == ["retried"]
        assert _attempts["n"] == 2

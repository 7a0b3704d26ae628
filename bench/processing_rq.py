"""End-to-end processing throughput: two `pixstock worker` processes taking process_photo jobs from Redis.

    .venv/bin/python bench/processing_rq.py [--photos N] [--workers W] [--distinct D]

Unlike bench/processing.py, which times imaging.process in a process pool, this runs the whole job as
production does: real PostgreSQL and Redis, RQ's forking workers (one work horse per job), the original
read from storage, four derivatives written to storage, the photo row updated, and the Socket.IO events
published through Redis. It:

1. creates a scratch PostgreSQL database (migrated) and uses Redis database 14 (flushed before and after);
2. generates D distinct 24 MP camera JPEGs with bench/processing.py's generator (~10 MB, quality 95, EXIF)
   and ingests N photos through pixstock.uploads (each copy gets a different trailer after the JPEG's end,
   so its SHA-256 differs and it is not a duplicate; decoders never read past the end marker);
3. starts W worker processes on the `images` queue, lets them drain it, and reads the photos' own
   timestamps: throughput is N / (last processed_at - first processing_started_at), so the workers'
   start-up (imports, ~1-2 s) is left out; the wall time including start-up is printed too.

Set BENCH_DATABASE_URL / BENCH_REDIS_URL to use other servers. It prints figures and never passes or fails;
the last line is machine-readable. See bench/README.md, "Processing through RQ".
"""
from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402
import redis  # noqa: E402

BASE_PG = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def generate(distinct: int, directory: Path) -> list[bytes]:
    """Distinct 24 MP camera JPEGs from bench/processing.py's generator, made two at a time."""
    from processing import write_photo

    jobs = [(seed, str(directory / f"source-{seed}.jpg")) for seed in range(distinct)]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(write_photo, jobs)
    return [Path(path).read_bytes() for _seed, path in jobs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--distinct", type=int, default=6)
    parser.add_argument("--fork", action="store_true", help="forking workers (a work horse per job)")
    args = parser.parse_args()

    name = f"pixstock_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(BASE_PG, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    database_url = BASE_PG.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + "/" + name
    queue_redis = redis.Redis.from_url(REDIS_URL)
    queue_redis.flushdb()
    workers = []
    try:
        with tempfile.TemporaryDirectory(prefix="pixstock-bench-") as scratch:
            scratch = Path(scratch)
            env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=REDIS_URL, PIXSTOCK_DATA_DIR=str(scratch),
                       SECRET_KEY="bench", PIXSTOCK_JOBS_THREAD="0")
            os.environ.update(env)
            from flask_migrate import upgrade

            from pixstock import create_app
            from pixstock.extensions import db
            from pixstock.models import Photo, ProcessingStatus, Role
            from pixstock import uploads
            from pixstock.tasks.images import queue_processing
            from tests import factories

            app = create_app()
            with app.app_context():
                upgrade()
                started = time.perf_counter()
                sources = generate(args.distinct, scratch)
                print(f"generated {len(sources)} distinct 24 MP JPEGs in {time.perf_counter() - started:.1f} s, "
                      f"{statistics.mean(len(s) for s in sources) / 1e6:.1f} MB on average")
                photographer = factories.make_user(Role.PHOTOGRAPHER)
                event = factories.make_event(photographers=[photographer], watermark_text="Bangkok Marathon 2025")
                batch = uploads.start_batch(event, photographer, "bench")
                started = time.perf_counter()
                queued_ids = []
                for n in range(args.photos):
                    data = sources[n % len(sources)] + b"pixstock-bench-%06d" % n
                    upload = uploads.ingest_stream(batch, photographer, f"DSC_{n:05d}.JPG", io.BytesIO(data))
                    assert upload.photo_id, upload.reason
                    queued_ids.append(upload.photo_id)
                ingest = time.perf_counter() - started
                print(f"ingested {args.photos} photos in {ingest:.1f} s ({ingest / args.photos * 1000:.0f} ms each: "
                      "SHA-256, 1/8-scale decode check, copy to storage) with no worker running")

                command = [sys.executable, "-m", "flask", "--app", "wsgi", "pixstock", "worker", "-q", "images", "--burst",
                           "--fork" if args.fork else "--no-fork"]

                def run_workers():
                    """Start the workers, wait for them to empty the queue; return (CPU seconds, wall seconds)."""
                    nonlocal workers
                    before, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
                    workers = [subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                                stderr=subprocess.PIPE) for _ in range(args.workers)]
                    for worker in workers:
                        _out, err = worker.communicate(timeout=1800)
                        errors.append(err.decode()[-3000:])
                        if worker.returncode:
                            sys.exit(f"a worker failed:\n{errors[-1]}")
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                    return cpu, time.perf_counter() - wall

                errors = []
                # Fresh processes all: the start-up's CPU (imports, connections) is measured on an empty queue
                # and subtracted, so the CPU figure is the jobs' own.
                app.extensions["pixstock_jobs"].queue("images").empty()  # ingest queued them: hold them back
                startup_cpu, _ = run_workers()
                for photo_id in queued_ids:
                    queue_processing(db.session.get(Photo, photo_id))
                cpu, wall = run_workers()
                cpu -= startup_cpu
                db.session.rollback()
                photos = db.session.query(Photo).all()
                ready = [p for p in photos if p.processing_status is ProcessingStatus.READY]
                if len(ready) != args.photos:
                    sys.exit(f"only {len(ready)} of {args.photos} photos became ready:\n" + "\n".join(errors))
                first = min(p.processing_started_at for p in ready)
                last = max(p.processed_at for p in ready)
                span = (last - first).total_seconds()
                per_second = args.photos / span
                load = os.getloadavg()[0]
                cpu_ms = cpu / args.photos * 1000
                print(f"{args.workers} worker processes: {args.photos} photos in {span:.2f} s from the first job's start "
                      f"to the last photo ready = {per_second:.1f} photos/s "
                      f"({span / args.photos * args.workers * 1000:.0f} ms per photo per worker); "
                      f"{wall:.1f} s wall including worker start-up; load average {load:.1f}")
                print(f"CPU per photo (the workers' user+system time, start-up subtracted): {cpu_ms:.0f} ms, "
                      f"so two idle cores would process {2000 / cpu_ms:.1f} photos/s")
                print(f"rq_workers={args.workers} fork={int(args.fork)} rq_photos_per_s={per_second:.1f} "
                      f"cpu_ms_per_photo={cpu_ms:.0f} two_core_capacity_photos_per_s={2000 / cpu_ms:.1f} "
                      f"rq_wall_s={wall:.1f} photos={args.photos} load={load:.1f}")
                db.session.remove()
                db.engine.dispose()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        queue_redis.flushdb()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()

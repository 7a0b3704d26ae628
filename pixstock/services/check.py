"""`python -m pixstock.services.check`: fail clearly when the test services do not answer."""
import os
import sys

import psycopg
import redis


def main() -> int:
    """Check PostgreSQL and Redis for the test suite; print how to start what is down."""
    pg = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    rd = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
    problems = []
    try:
        psycopg.connect(pg, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        problems.append(f"PostgreSQL at {pg} does not answer ({exc}).\n  Start it: "
                        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
    try:
        redis.Redis.from_url(rd, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        problems.append(f"Redis at {rd} does not answer ({exc}).\n  Start it: redis-server --daemonize yes "
                        "--bind 127.0.0.1 --port 6379 --save '' --appendonly no")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""Configuration read from the environment, with embedded defaults that need nothing installed."""
import os
import secrets
from pathlib import Path


class ConfigError(RuntimeError):
    """Raised when the configuration is unsafe for the chosen environment."""


def _bool(value, default=False):
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(env, name, default):
    raw = env.get(name)
    return int(raw) if raw not in (None, "") else default


def _secret_key(data_dir: Path) -> str:
    """Return the development secret key, generated once into the data dir."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # O_EXCL so two processes starting together agree on one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def load_config(env=None) -> dict:
    """Build the Flask config dict from environment variables (see README's table)."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("PIXSTOCK_DATA_DIR") or "instance").resolve()
    production = env.get("PIXSTOCK_ENV", "development") == "production"
    database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'pixstock.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://"):]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    redis_url = env.get("REDIS_URL") or None

    config = {
        "PIXSTOCK_ENV": "production" if production else "development",
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": env.get("SECRET_KEY") or None,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": redis_url,
        # Redis pub/sub channels ignore the database number: deployments (or test runs) sharing one Redis
        # server need their own channel, or each receives the other's Socket.IO events.
        "SOCKETIO_CHANNEL": env.get("SOCKETIO_CHANNEL") or "pixstock-socketio",
        # In-process mode runs a worker thread inside the web process; tests turn it off
        # and drain the queues themselves so they stay deterministic.
        "JOBS_WORKER_THREAD": _bool(env.get("PIXSTOCK_JOBS_THREAD"), True),
        "BASE_URL": env.get("BASE_URL") or None,
        # How many reverse proxies in front set X-Forwarded-*; 0 trusts none (direct connections).
        "PROXY_COUNT": _int(env, "PROXY_COUNT", 0),
        # Storage
        "STORAGE_BACKEND": env.get("STORAGE_BACKEND") or ("s3" if env.get("S3_BUCKET") else "local"),
        "STORAGE_DIR": env.get("STORAGE_DIR") or str(data_dir / "media"),
        "S3_BUCKET": env.get("S3_BUCKET") or None,
        "S3_REGION": env.get("S3_REGION") or "us-east-1",
        "S3_ENDPOINT_URL": env.get("S3_ENDPOINT_URL") or None,
        "S3_ACCESS_KEY_ID": env.get("S3_ACCESS_KEY_ID") or env.get("AWS_ACCESS_KEY_ID") or None,
        "S3_SECRET_ACCESS_KEY": env.get("S3_SECRET_ACCESS_KEY") or env.get("AWS_SECRET_ACCESS_KEY") or None,
        "S3_PRESIGN_SECONDS": _int(env, "S3_PRESIGN_SECONDS", 300),
        "UPLOAD_DIR": env.get("UPLOAD_DIR") or str(data_dir / "uploads"),
        "WATERMARK_LOGO_PATH": env.get("WATERMARK_LOGO_PATH") or None,
        "MAX_PHOTO_BYTES": _int(env, "MAX_PHOTO_BYTES", 50 * 1024 * 1024),
        "UPLOAD_CHUNK_BYTES": _int(env, "UPLOAD_CHUNK_BYTES", 5 * 1024 * 1024),
        "UPLOAD_ABANDON_HOURS": _int(env, "UPLOAD_ABANDON_HOURS", 24),
        "PROCESSING_STUCK_MINUTES": _int(env, "PROCESSING_STUCK_MINUTES", 10),
        # Faces
        "FACE_MODEL": env.get("FACE_MODEL") or "hog",
        "FACE_UPSAMPLE": _int(env, "FACE_UPSAMPLE", 1),
        "FACE_DATA_GRACE_DAYS": _int(env, "FACE_DATA_GRACE_DAYS", 30),
        "FACE_SEARCH_RATE_LIMIT": env.get("FACE_SEARCH_RATE_LIMIT") or "10 per minute",
        # Payments
        "STRIPE_SECRET_KEY": env.get("STRIPE_SECRET_KEY") or None,
        "STRIPE_PUBLISHABLE_KEY": env.get("STRIPE_PUBLISHABLE_KEY") or None,
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET") or None,
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE") or None,
        "STRIPE_PAYMENT_METHODS": (env.get("STRIPE_PAYMENT_METHODS") or "card,promptpay").split(","),
        "DOWNLOAD_GRANT_DAYS": _int(env, "DOWNLOAD_GRANT_DAYS", 30),
        "DOWNLOAD_LIMIT": _int(env, "DOWNLOAD_LIMIT", 10),
        # Mail
        "MAIL_SERVER": env.get("MAIL_SERVER") or None,
        "MAIL_PORT": _int(env, "MAIL_PORT", 587),
        "MAIL_USERNAME": env.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": env.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _bool(env.get("MAIL_USE_TLS"), True),
        "MAIL_SENDER": env.get("MAIL_SENDER") or "pixstock <no-reply@pixstock.local>",
        "MAIL_OUTBOX_DIR": env.get("MAIL_OUTBOX_DIR") or str(data_dir / "outbox"),
        # Accounts and web
        "PASSWORD_RESET_HOURS": _int(env, "PASSWORD_RESET_HOURS", 2),
        "INVITE_DAYS": _int(env, "INVITE_DAYS", 7),
        "LOGIN_MAX_FAILURES": _int(env, "LOGIN_MAX_FAILURES", 5),
        "LOGIN_LOCK_MINUTES": _int(env, "LOGIN_LOCK_MINUTES", 15),
        "TRACK_PUSH_SECONDS": float(env.get("TRACK_PUSH_SECONDS") or 0.5),
        "ANALYTICS_RAW_DAYS": _int(env, "ANALYTICS_RAW_DAYS", 90),
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_ENABLED": _bool(env.get("RATELIMIT_ENABLED"), True),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": env.get("PIXSTOCK_TIMEZONE") or "Asia/Bangkok",
        "LANGUAGES": ["en", "th"],
        "DEFAULT_CURRENCY": "THB",
    }
    return config


def finalize(config: dict) -> dict:
    """Fill derived defaults and refuse unsafe ones in production."""
    if config["PIXSTOCK_ENV"] == "production":
        check_production(config)
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _secret_key(Path(config["DATA_DIR"]))
    return config


def check_production(config: dict) -> None:
    """Raise ConfigError naming every setting production refuses to default."""
    missing = []
    if not config.get("SECRET_KEY"):
        missing.append("SECRET_KEY is not set")
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        missing.append("DATABASE_URL points at SQLite; set a PostgreSQL URL")
    if not config.get("REDIS_URL"):
        missing.append("REDIS_URL is not set (in-process jobs are for development)")
    if not config.get("STRIPE_SECRET_KEY"):
        missing.append("STRIPE_SECRET_KEY is not set (the test payment provider is for development)")
    elif not config.get("STRIPE_WEBHOOK_SECRET"):
        missing.append("STRIPE_WEBHOOK_SECRET is not set")
    if not config.get("MAIL_SERVER"):
        missing.append("MAIL_SERVER is not set (the file outbox is for development)")
    if missing:
        raise ConfigError("PIXSTOCK_ENV=production refuses to start: " + "; ".join(missing))

"""pixstock: a self-hosted platform for selling event photos."""
from flask import Flask

from .config import finalize, load_config
from .wrappers import Request


def create_app(config: dict | None = None) -> Flask:
    """Build the application: configuration, extensions, blueprints, error handlers, CLI."""
    app = Flask(__name__, instance_relative_config=False, template_folder="../templates", static_folder="../static")
    app.request_class = Request  # keeps selfie uploads in memory (see wrappers.py)
    settings = load_config()
    settings.update(config or {})
    app.config.update(finalize(settings))

    configure_proxies(app)
    configure_extensions(app)
    configure_routing(app)
    configure_blueprints(app)

    from . import errors, cli, i18n, templating

    errors.init_app(app)
    cli.init_app(app)
    i18n.init_app(app)
    templating.init_app(app)
    return app


def configure_extensions(app: Flask) -> None:
    """Bind the extensions created in extensions.py to this app."""
    from . import models  # noqa: F401  (register every table with the metadata)
    from .extensions import csrf, db, limiter, login_manager, migrate, socketio
    from .tasks import queue

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_dir()))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    # Socket.IO: workers publish through Redis when it is configured; otherwise one process owns everything.
    # The SocketIO object keeps options between init_app calls: drop a previous app's message queue.
    socketio.server_options.pop("client_manager", None)
    socketio.init_app(
        app,
        message_queue=app.config["REDIS_URL"],
        channel=app.config["SOCKETIO_CHANNEL"],
        async_mode="threading",
        cors_allowed_origins=[],
        manage_session=False,
    )
    queue.init_app(app)


def configure_proxies(app: Flask) -> None:
    """Behind PROXY_COUNT reverse proxies, take the client's address and scheme from X-Forwarded-*.

    Rate limits and analytics key on the client address; without this every visitor would be the proxy.
    """
    count = app.config.get("PROXY_COUNT", 0)
    if count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_prefix=count)


def configure_routing(app: Flask) -> None:
    """Bound `<int:...>` URL parts to database integer keys, so an absurd id is a 404, never a 500."""
    from werkzeug.routing import IntegerConverter

    class DatabaseId(IntegerConverter):
        def __init__(self, url_map, *args, **kwargs):
            kwargs.setdefault("max", 2**31 - 1)
            super().__init__(url_map, *args, **kwargs)

    app.url_map.converters["int"] = DatabaseId


def configure_blueprints(app: Flask) -> None:
    """Register one blueprint per area of the product."""
    from .admin import bp as admin_bp
    from .analytics import bp as analytics_bp
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .faces import bp as faces_bp
    from .gallery import bp as gallery_bp
    from .main import bp as main_bp
    from .media import bp as media_bp
    from .shop import bp as shop_bp
    from .studio import bp as studio_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(gallery_bp)
    app.register_blueprint(faces_bp)
    app.register_blueprint(shop_bp)
    app.register_blueprint(auth_bp, url_prefix="/auth")
    app.register_blueprint(studio_bp, url_prefix="/studio")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(media_bp, url_prefix="/media")
    app.register_blueprint(analytics_bp, url_prefix="/analytics")


def _migrations_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "migrations"

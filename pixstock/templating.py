"""Template globals shared by every page."""
from flask import Flask, current_app, request
from flask_babel import get_locale


def init_app(app: Flask) -> None:
    """Expose helpers to templates and mark fragment-or-page responses as varying on HX-Request."""

    @app.context_processor
    def inject_globals():
        return {
            "current_locale": str(get_locale() or "en"),
            "languages": current_app.config["LANGUAGES"],
            "is_htmx": bool(request.headers.get("HX-Request")),
        }

    @app.after_request
    def vary_on_htmx(response):
        # A URL that can answer with a fragment or a whole page must not be cached as one or the other.
        if response.mimetype == "text/html":
            response.vary.add("HX-Request")
        return response

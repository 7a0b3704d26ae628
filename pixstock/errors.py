"""Error pages: JSON under /api, an htmx fragment for htmx requests, a full page otherwise."""
from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from .extensions import db


def wants_json() -> bool:
    """True for API requests, which always get JSON errors."""
    return request.path.startswith("/api/")


def json_error(status: int, code: str, message: str, **extra):
    """A JSON error response in the API's format."""
    body = {"error": {"code": code, "message": message, **extra}}
    return jsonify(body), status


def _render(status: int, title: str, message: str):
    template = "errors/_error.html" if request.headers.get("HX-Request") else "errors/error.html"
    response = render_template(template, status=status, title=title, message=message), status
    return response


def handle_http_exception(exc: HTTPException):
    """Render any HTTP error in the form the client expects."""
    if wants_json():
        code = getattr(exc, "error_code", None) or (exc.name or "error").lower().replace(" ", "_")
        extra = getattr(exc, "extra", None) or {}
        response, status = json_error(exc.code or 500, code, exc.description or exc.name, **extra)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response, status
    return _render(exc.code or 500, exc.name, exc.description or "")


def handle_csrf(exc: CSRFError):
    """A missing or wrong CSRF token: 400 with a message a person understands."""
    if wants_json():
        return json_error(400, "csrf_failed", exc.description)
    return _render(400, "Form expired", "The form was missing its security token or it expired. Go back, reload and try again.")


def handle_unexpected(exc: Exception):
    """An unexpected error: roll back, log it, answer 500 without details."""
    db.session.rollback()
    from flask import current_app

    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    if wants_json():
        return json_error(500, "internal_error", "Something went wrong on our side.")
    return _render(500, InternalServerError.name, "Something went wrong on our side. It has been logged.")


def init_app(app: Flask) -> None:
    """Register the error handlers."""
    app.register_error_handler(CSRFError, handle_csrf)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)

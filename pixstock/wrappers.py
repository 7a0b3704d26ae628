"""The app's Request class: uploads to views marked ``in_memory_uploads`` never touch the disk.

Werkzeug buffers each multipart file in a SpooledTemporaryFile, which rolls over to a temporary
file on disk past 500 KB: a phone selfie of a few MB would be written to /tmp. For the selfie search
the promise is that the selfie lives in memory only, so for marked views every file part is parsed
into a BytesIO, and the request body is capped (by the mark) before anything is read: the cap is
what keeps holding uploads in memory safe. The body is parsed as soon as anything reads the form
(CSRF protection does, before the view runs), which is why this is decided by the Request class
from the matched endpoint rather than inside the view.
"""
from __future__ import annotations

import io
from collections.abc import Callable

import flask
from flask import current_app


def in_memory_uploads(max_bytes: int) -> Callable:
    """Mark a view whose uploaded files stay in memory, with a request body of at most max_bytes."""

    def decorator(view: Callable) -> Callable:
        view.in_memory_upload_limit = max_bytes
        return view

    return decorator


class Request(flask.Request):
    """A Flask request that keeps the uploads of views marked in_memory_uploads in memory."""

    def _in_memory_limit(self) -> int | None:
        """The body limit of the matched view if it keeps uploads in memory, else None."""
        if not current_app or self.url_rule is None:
            return None
        view = current_app.view_functions.get(self.url_rule.endpoint)
        return getattr(view, "in_memory_upload_limit", None)

    def _get_max_content_length(self) -> int | None:
        limit = self._in_memory_limit()
        configured = flask.Request.max_content_length.fget(self)
        if limit is None:
            return configured
        return limit if configured is None else min(limit, configured)

    # Keep flask.Request's setter, so a view may still lower the limit for itself.
    max_content_length = property(_get_max_content_length, flask.Request.max_content_length.fset)

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        if self._in_memory_limit() is not None:
            return io.BytesIO()
        return super()._get_file_stream(total_content_length, content_type, filename, content_length)

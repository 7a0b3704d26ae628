"""Rendered gallery cards, kept for a short while so a crowd opening the same page renders it once.

When a QR code at the finish line sends thousands of phones to one event, they all ask for the same
first pages. Rendering 48 cards (each with its add-to-cart form) and loading their photos is most of a
page's cost, so the HTML of a page of cards is kept here, per process, keyed on everything it depends on:

- the event's `updated_at`, which every approval or rejection of one of its photos bumps (see
  pixstock.approval), so a review shows on the very next request, in every process;
- the page's full path (cursor, filters: also the cart forms' `next`), the language, whether it sells;
- and a TTL, a backstop for changes that do not touch the event (a photo reprocessed).

The photographer filter's choices are kept the same way (assigning or removing a photographer bumps
the event's version too), so a page served from here costs one query: the event.

The cart control in each card is the only per-visitor part: cached HTML is used only for visitors whose
cart is empty, and it is rendered with a placeholder CSRF token that each request replaces with its own.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict

TTL_SECONDS = 30
MAX_ENTRIES = 512
CSRF_PLACEHOLDER = "pixstockCsrfPlaceholder0d1e5b"

_lock = threading.Lock()
_entries: OrderedDict[tuple, tuple[float, object, bool]] = OrderedDict()


def get(key: tuple) -> tuple[object, bool] | None:
    """The cached (value, flag) for key, e.g. (html, has_photos), or None when absent or expired."""
    now = time.monotonic()
    with _lock:
        entry = _entries.get(key)
        if entry is None:
            return None
        if entry[0] < now:
            del _entries[key]
            return None
        _entries.move_to_end(key)
        return entry[1], entry[2]


def put(key: tuple, value, flag: bool) -> None:
    """Keep (value, flag) for key for TTL_SECONDS, dropping the least recently used beyond MAX_ENTRIES."""
    with _lock:
        _entries[key] = (time.monotonic() + TTL_SECONDS, value, flag)
        _entries.move_to_end(key)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)


def clear() -> None:
    """Forget everything (tests)."""
    with _lock:
        _entries.clear()

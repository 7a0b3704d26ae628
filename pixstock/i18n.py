"""Languages (English and Thai) and money formatting per locale."""
from functools import lru_cache

from babel.numbers import format_currency
from flask import Flask, current_app, request, session
from flask_babel import get_locale
from flask_login import current_user

from .extensions import babel


def select_locale() -> str:
    """The user's saved language, else the session's, else the browser's best match."""
    languages = current_app.config["LANGUAGES"]
    if current_user and getattr(current_user, "is_authenticated", False) and current_user.locale in languages:
        return current_user.locale
    if session.get("locale") in languages:
        return session["locale"]
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def format_money(amount: int | None, currency: str = "THB", locale=None) -> str:
    """Format an amount in the smallest unit (satang) for display: ฿1,250, ฿99.50."""
    if amount is None:
        return ""
    return _format_money(amount, currency, str(locale or get_locale() or "en"))


@lru_cache(maxsize=4096)
def _format_money(amount: int, currency: str, locale: str) -> str:
    # Memoised: a gallery page prints the same price on every card, and Babel takes ~50 µs a call.
    babel_locale = {"th": "th_TH", "en": "en_US"}.get(locale, locale)
    if currency == "THB":
        # English data spells the symbol "THB"; Thai shoppers in either language expect ฿.
        babel_locale = "th_TH" if locale in ("en", "th") else babel_locale
    pattern = "¤#,##0" if amount % 100 == 0 else "¤#,##0.00"
    return format_currency(amount / 100, currency, format=pattern, locale=babel_locale, currency_digits=False)


def init_app(app: Flask) -> None:
    """Bind Flask-Babel with pixstock's locale selector and register the money filter."""
    babel.init_app(app, locale_selector=select_locale, default_translation_directories="translations")
    app.jinja_env.filters["money"] = format_money

"""Languages (English and Thai) and money formatting per locale."""
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
    """Format an amount in the smallest unit (satang) for display, e.g. ฿1,250.00."""
    if amount is None:
        return ""
    locale = str(locale or get_locale() or "en")
    babel_locale = {"th": "th_TH", "en": "en_US"}.get(locale, locale)
    return format_currency(amount / 100, currency, locale=babel_locale)


def init_app(app: Flask) -> None:
    """Bind Flask-Babel with pixstock's locale selector and register the money filter."""
    babel.init_app(app, locale_selector=select_locale, default_translation_directories="translations")
    app.jinja_env.filters["money"] = format_money

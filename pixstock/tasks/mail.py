"""Email: render in the recipient's language, deliver from a job with retries."""
from flask import current_app, render_template
from flask_babel import force_locale
from rq import Retry

from ..services import mail as mail_service
from .queue import enqueue


def deliver_email_job(to: str, subject: str, text_body: str, html_body: str | None) -> None:
    """Deliver one email (SMTP, or the outbox); an exception makes RQ retry later."""
    message = mail_service.build_message(
        to, subject, text_body, html_body, sender=current_app.config["MAIL_SENDER"]
    )
    mail_service.deliver(message, current_app.config)


def send_email(to: str, subject: str, template: str, locale: str | None = None, **context) -> None:
    """Render templates/email/<template>.txt and .html in locale and queue the delivery."""
    with force_locale(locale or "en"):
        subject_text = str(subject)
        text_body = render_template(f"email/{template}.txt", **context)
        html_body = render_template(f"email/{template}.html", **context)
    # A mail outage must never lose a message: retry for about a day before giving up.
    enqueue(
        deliver_email_job,
        to,
        subject_text,
        text_body,
        html_body,
        queue="mail",
        retry=Retry(max=8, interval=[10, 30, 60, 300, 900, 3600, 7200, 14400]),
    )

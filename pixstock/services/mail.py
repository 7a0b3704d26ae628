"""Build and deliver email: SMTP when MAIL_SERVER is set, otherwise a file outbox of .eml files.

The outbox is for development and tests: every message lands in MAIL_OUTBOX_DIR as a complete
RFC 5322 file that any mail client opens, and ``read_outbox`` parses them back.

    message = build_message("buyer@example.com", "Your photos", text, html)
    deliver(message, current_app.config)

SMTP errors propagate (``smtplib.SMTPException`` and ``OSError``, of which the former is a
subclass), so the job that called ``deliver`` fails and RQ retries it.
"""
from __future__ import annotations

import logging
import os
import smtplib
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid, parseaddr

log = logging.getLogger(__name__)

# 7bit: non-ASCII bodies (Thai) are base64 or quoted-printable, so the message passes through
# any relay, even one without 8BITMIME; headers are RFC 2047 encoded words either way.
POLICY = policy.default.clone(cte_type="7bit")
# What the wire and .eml files use: CRLF line ends.
WIRE_POLICY = POLICY.clone(linesep="\r\n")
SMTP_TIMEOUT_SECONDS = 30
# Port 465 speaks TLS from the first byte (RFC 8314); STARTTLS there would hang.
IMPLICIT_TLS_PORT = 465
_FALLBACK_DOMAIN = "pixstock.local"


def build_message(
    to: str | Iterable[str],
    subject: str,
    text_body: str,
    html_body: str | None = None,
    sender: str | None = None,
) -> EmailMessage:
    """Return a ready-to-send message: plain text, or multipart/alternative with an HTML part.

    ``to`` is one address or several (``"Name <addr>"`` forms are fine, in any script). Without
    ``sender`` the From header is left for ``deliver`` to fill from MAIL_SENDER. A subject or
    address containing a line break raises ValueError (no header injection).
    """
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        raise ValueError("a message needs at least one recipient")
    message = EmailMessage(policy=POLICY)
    if sender:
        message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    # make_msgid's default domain is the host's FQDN, a DNS lookup that can stall a worker.
    domain = parseaddr(sender or "")[1].rpartition("@")[2] or _FALLBACK_DOMAIN
    message["Message-ID"] = make_msgid(domain=domain)
    # RFC 3834: tells vacation responders not to answer transactional mail.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text_body)
    if html_body is not None:
        message.add_alternative(html_body, subtype="html")
    return message


def deliver(message: EmailMessage, config: Mapping) -> str | None:
    """Send ``message`` by SMTP when MAIL_SERVER is set, else write it to MAIL_OUTBOX_DIR.

    Fills a missing From header from MAIL_SENDER. Returns the path of the outbox file, or None
    when the message went by SMTP.
    """
    if message["From"] is None:
        if not config.get("MAIL_SENDER"):
            raise ValueError("the message has no From header and MAIL_SENDER is not set")
        message["From"] = config["MAIL_SENDER"]
    if config.get("MAIL_SERVER"):
        _send_smtp(message, config)
        return None
    return _write_outbox(message, config["MAIL_OUTBOX_DIR"])


def _send_smtp(message: EmailMessage, config: Mapping) -> None:
    """Send one message over a fresh SMTP connection (a job sends one, so no pooling)."""
    host = config["MAIL_SERVER"]
    port = int(config.get("MAIL_PORT") or 587)
    timeout = config.get("MAIL_TIMEOUT") or SMTP_TIMEOUT_SECONDS
    context = ssl.create_default_context()
    if port == IMPLICIT_TLS_PORT:
        connection = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        connection = smtplib.SMTP(host, port, timeout=timeout)
    with connection as smtp:
        if port != IMPLICIT_TLS_PORT and config.get("MAIL_USE_TLS"):
            # Raises SMTPNotSupportedError when the server offers no STARTTLS: never fall back
            # to sending the password in clear.
            smtp.starttls(context=context)
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        refused = smtp.send_message(message)
    if refused:
        # Some recipients were accepted: raising would make the retry send them a duplicate.
        log.warning("mail %s refused for %s", message["Message-ID"], refused)


_stamp_lock = threading.Lock()
_last_stamp = 0


def _outbox_stamp() -> int:
    """Return a nanosecond timestamp that strictly increases within this process."""
    global _last_stamp
    with _stamp_lock:
        _last_stamp = max(time.time_ns(), _last_stamp + 1)
        return _last_stamp


def _write_outbox(message: EmailMessage, outbox_dir: str | os.PathLike) -> str:
    """Write the message as ``<UTC time>-<unique>.eml``, atomically, and return its path."""
    os.makedirs(outbox_dir, exist_ok=True)
    stamp = _outbox_stamp()
    seconds, nanos = divmod(stamp, 1_000_000_000)
    when = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y%m%dT%H%M%S")
    # Names sort by time (newest last); the suffix keeps two processes from colliding.
    name = f"{when}.{nanos:09d}Z-{uuid.uuid4().hex[:12]}.eml"
    data = message.as_bytes(policy=WIRE_POLICY)
    # The temp name does not end in .eml, so readers never see a half-written message.
    fd, temp_path = tempfile.mkstemp(prefix=".outbox-", suffix=".tmp", dir=outbox_dir)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        path = os.path.join(outbox_dir, name)
        os.replace(temp_path, path)
    except BaseException:
        try:
            os.unlink(temp_path)
        except FileNotFoundError:
            pass
        raise
    return path


def read_outbox(outbox_dir: str | os.PathLike) -> list[EmailMessage]:
    """Return the messages in the outbox, oldest first (newest last); [] when there is none."""
    try:
        names = sorted(
            name for name in os.listdir(outbox_dir) if name.endswith(".eml") and not name.startswith(".")
        )
    except FileNotFoundError:
        return []
    parser = BytesParser(policy=policy.default)
    messages = []
    for name in names:
        with open(os.path.join(outbox_dir, name), "rb") as handle:
            messages.append(parser.parse(handle))
    return messages
